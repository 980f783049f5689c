"""Figures of notebook 07: a live training curve, per-row NLLs, samples, the recorded benchmark."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
from matplotlib.figure import Figure

__all__ = [
    "LiveCurve",
    "benchmark_table",
    "plot_recorded_benchmark",
    "plot_row_nlls",
    "plot_sample_panels",
]

_MODELS = (("gaussian", "Gaussian", "tab:red"), ("realnvp", "RealNVP", "tab:purple"))
_MODELS = (*_MODELS, ("cnf", "CNF", "tab:green"))


class LiveCurve:
    """A training callback that redraws the training curve at every validation evaluation.

    The figure shows the training loss of every batch, the validation NLL at each evaluation
    with the best so far starred, and a horizontal ``bar`` to beat (e.g. a baseline's
    validation NLL). It is drawn as a PNG into one display, updated in place, so a notebook shows
    one figure that grows rather than one per evaluation.

    Arguments:
        bar: the validation NLL to beat, drawn as a dashed line.
        bar_name: what the bar is, for the legend (e.g. ``"Gaussian"``).
        title: the figure's title.
        ylim: the NLL axis' range.
        show: display the figure (``False`` in tests: nothing is displayed, `draw` still works).

    Call it as ``callback(iteration, record)``, with ``record["loss"]`` at every iteration and
    ``record["validation_nll"]`` at evaluations (what `ffjord_edu.training.train_tabular` passes).
    """

    def __init__(
        self,
        bar: float,
        bar_name: str = "baseline",
        title: str = "Training a CNF",
        ylim: tuple[float, float] = (5.0, 9.0),
        show: bool = True,
    ) -> None:
        self.bar, self.bar_name, self.title, self.ylim = bar, bar_name, title, ylim
        self.losses: list[float] = []
        self.evaluations: list[tuple[int, float]] = []
        self.handle = None
        if show:
            from IPython.display import Image, display

            self.handle = display(Image(self.draw()), display_id=True)

    def figure(self) -> Figure:
        """The curve as it stands, as a matplotlib `Figure` (not attached to pyplot)."""
        figure = Figure(figsize=(8, 3.5))
        ax = figure.subplots()
        steps = np.arange(1, len(self.losses) + 1)
        ax.plot(steps, self.losses, color="tab:blue", alpha=0.3, lw=0.8, label="training loss")
        if self.evaluations:
            iterations, nlls = zip(*self.evaluations, strict=True)
            ax.plot(iterations, nlls, "o-", color="tab:orange", ms=3, label="validation NLL")
            best = int(np.argmin(nlls))
            label = f"best so far: {nlls[best]:.3f}"
            ax.plot(iterations[best], nlls[best], "*", color="k", ms=12, label=label)
        bar_label = f"{self.bar_name}, validation: {self.bar:.3f}"
        ax.axhline(self.bar, color="tab:red", ls="--", label=bar_label)
        ax.set(xlabel="iteration", ylabel="NLL (nats)", ylim=self.ylim, title=self.title)
        ax.legend(loc="upper right", fontsize=8)
        return figure

    def draw(self) -> bytes:
        """The curve as PNG bytes."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        return buffer.getvalue()

    def __call__(self, iteration: int, record: Mapping[str, float]) -> None:
        self.losses.append(float(record["loss"]))
        if "validation_nll" in record:
            self.evaluations.append((iteration + 1, float(record["validation_nll"])))
            if self.handle is not None:
                from IPython.display import Image

                self.handle.update(Image(self.draw()))


def plot_row_nlls(
    reference: Any,
    baselines: Mapping[str, Any],
    hover_rows: Any,
    features: Sequence[str],
    reference_name: str = "CNF",
) -> go.Figure:
    """Per-row test NLLs: the reference model's (x) against each baseline's (y), one trace each.

    Each point is one test row; above the grey diagonal the reference model gives the row a lower
    NLL (it is better there). Hovering shows the row's measurements (``hover_rows``, e.g. in
    original units) named by ``features``.

    Returns:
        the plotly figure: one scatter trace per baseline, then the diagonal.
    """
    x = np.asarray(reference, dtype=float)
    text = [
        "<br>".join(f"{feature}: {value:.4g}" for feature, value in zip(features, row, strict=True))
        for row in np.asarray(hover_rows)
    ]
    colours = ["#d62728", "#9467bd", "#2ca02c", "#ff7f0e"]
    figure = go.Figure()
    for (name, rows), colour in zip(baselines.items(), colours, strict=False):
        template = (
            f"{reference_name} %{{x:.2f}}, {name} %{{y:.2f}} nats<br>%{{text}}<extra></extra>"
        )
        marker = {"color": colour, "size": 7, "opacity": 0.75}
        y = np.asarray(rows, dtype=float)
        scatter = go.Scatter(x=x, y=y, mode="markers", name=name, marker=marker, text=text)
        figure.add_trace(scatter.update(hovertemplate=template))
    values = np.concatenate([x, *(np.asarray(r, dtype=float) for r in baselines.values())])
    low, top = float(values.min()) - 0.5, float(values.max()) + 1
    line = {"color": "gray", "dash": "dot"}
    figure.add_trace(go.Scatter(x=[low, top], y=[low, top], mode="lines", line=line, name="equal"))
    figure.update_layout(
        title=f"Per-row test NLL: above the diagonal, the {reference_name} is better",
        xaxis_title=f"{reference_name} NLL of the row (nats)",
        yaxis_title="baseline NLL of the row (nats)",
        width=700,
        height=500,
    )
    return figure


def plot_sample_panels(
    panels: Mapping[str, Any],
    features: Sequence[str],
    lim: tuple[float, float] = (-2.5, 5.5),
    title: str = "Samples in the plane of the first two columns",
) -> plt.Figure:
    """One scatter panel per entry of ``panels`` (name -> points of shape ``(N, >= 2)``).

    The first two columns are drawn; the first panel (e.g. the training rows) in blue, the others
    (each model's samples) in orange, all on the same axes' limits, so shapes compare at a glance.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    for k, (ax, (name, points)) in enumerate(zip(axes, panels.items(), strict=True)):
        points = np.asarray(points)
        colour = "tab:blue" if k == 0 else "tab:orange"
        ax.plot(points[:, 0], points[:, 1], ".", ms=3, alpha=0.5, color=colour)
        ax.set(title=name, xlabel=f"{features[0]} (z-scored)", xlim=lim, ylim=lim)
    axes[0].set_ylabel(f"{features[1]} (z-scored)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def benchmark_table(recorded: Mapping[str, Any]) -> str:
    """The recorded tabular benchmark (``data/tabular/baselines.json``) as a text table.

    One line per run (split, seed): the test NLL of the Gaussian, the RealNVP, the CNF and (where
    recorded) the laptop recipe, then the paired differences CNF − RealNVP and CNF − Gaussian with
    their standard errors; after each group, the mean test NLLs.
    """
    cnf = recorded["settings"]["cnf"]
    lines = [
        f"made by: {recorded['source']}",
        f"CNF: {cnf['recipe']} with {cnf['config_changes']} {cnf['model_changes']}",
        "",
        f"{'split':>5} {'seed':>4} | {'Gaussian':>8} {'RealNVP':>8} {'CNF':>8} {'laptop':>8} | "
        f"{'CNF − RealNVP':>16} {'CNF − Gaussian':>16}",
    ]
    for part in ["default_split", "other_splits"]:
        for run in recorded[part]:
            nll, pair = run["test_nll"], run["paired"]
            differences = " ".join(
                f"{pair[key]['mean']:+7.3f} ± {pair[key]['standard_error']:.3f}"
                for key in ["cnf - realnvp", "cnf - gaussian"]
            )
            lines.append(f"{run['split']:>5} {run['seed']:>4} | {_nlls(nll)} | {differences}")
        means = recorded[f"{part}_summary"]["mean_test_nll"]
        lines.append(f"{'mean':>10} | {_nlls(means)} | ({part.replace('_', ' ')})")
    return "\n".join(lines)


def _nlls(nll: Mapping[str, float]) -> str:
    """The four NLL columns of `benchmark_table` (blank where the laptop recipe was not run)."""
    laptop = f"{nll['cnf_laptop']:8.3f}" if "cnf_laptop" in nll else f"{'':>8}"
    return f"{nll['gaussian']:8.3f} {nll['realnvp']:8.3f} {nll['cnf']:8.3f} {laptop}"


def plot_recorded_benchmark(recorded: Mapping[str, Any]) -> plt.Figure:
    """Bars of the recorded benchmark's mean test NLL per model, with each run as a dot.

    Groups: the default split (its seeds together), then each other shuffle of the rows; in each
    group one bar per model (Gaussian, RealNVP, CNF), the mean over the group's runs.
    """
    groups = [(recorded["default_split"], "default split (3 seeds)")] + [
        ([run], f"shuffle {run['split']}") for run in recorded["other_splits"]
    ]
    fig, ax = plt.subplots(figsize=(9, 4))
    for g, (runs, _) in enumerate(groups):
        for m, (key, name, colour) in enumerate(_MODELS):
            values = [run["test_nll"][key] for run in runs]
            x = g + (m - 1) * 0.25
            label = name if g == 0 else None
            ax.bar(x, np.mean(values), width=0.22, color=colour, alpha=0.6, label=label)
            ax.plot([x] * len(values), values, "k.", ms=5)
    ax.set_xticks(range(len(groups)), [label for _, label in groups])
    title = "Recorded benchmark: bars are means, dots single runs"
    ax.set(ylabel="test NLL (nats per row)", ylim=(5.5, None), title=title)
    ax.legend()
    return fig
