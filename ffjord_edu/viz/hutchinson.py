"""Figures of notebook 04: Hutchinson estimates as histograms, their spread, and what a solver sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
from numpy.typing import ArrayLike

__all__ = [
    "plot_estimate_histograms",
    "plot_integrands",
    "plot_spread_vs_probes",
    "plot_variance_vs_budget",
    "plotly_probe_average_animation",
]

PROBE_COLOURS = {"gaussian": "#1f77b4", "rademacher": "#ff7f0e"}  # tab:blue, tab:orange


def plot_estimate_histograms(
    estimates: Mapping[str, ArrayLike],
    truth: float,
    edges: ArrayLike,
    ax: plt.Axes | None = None,
    title: str = "",
    xlabel: str = r"estimate $\varepsilon^\top A \varepsilon$",
) -> plt.Axes:
    """Density histograms of single-probe estimates, one per probe kind, over the true trace.

    ``estimates`` maps a probe kind (``"gaussian"``, ``"rademacher"``) to its estimates; each
    histogram gets a dashed line at its mean and the black line marks ``truth``: unbiasedness is
    the dashed lines sitting on the black one, the variance is the width of the histograms.
    """
    ax = ax if ax is not None else plt.gca()
    for noise, values in estimates.items():
        values = np.asarray(values)
        colour = PROBE_COLOURS.get(noise)
        label = f"{noise} probes"
        ax.hist(values, bins=edges, density=True, alpha=0.5, color=colour, label=label)
        ax.axvline(float(values.mean()), color=colour, linestyle="--", linewidth=1.5)
    ax.axvline(truth, color="black", linewidth=2, label=f"true trace {truth:.2f}")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend()
    return ax


def plot_spread_vs_probes(
    probe_counts: ArrayLike,
    spread: Mapping[str, ArrayLike],
    variances: Mapping[str, float],
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Measured standard deviation of a k-probe average against :math:`\\sqrt{\\operatorname{Var}/k}`.

    ``spread[noise][k - 1]`` is the measured spread of the average of ``k = probe_counts[k - 1]``
    probes; ``variances[noise]`` the closed-form variance of one probe, drawn as the line
    :math:`\\sqrt{\\operatorname{Var}/k}` (slope :math:`-\\tfrac12` on log-log axes).
    """
    ax = ax if ax is not None else plt.gca()
    counts = np.asarray(probe_counts, float)
    for noise, values in spread.items():
        colour = PROBE_COLOURS.get(noise)
        measured = f"{noise}: measured"
        ax.loglog(counts, np.asarray(values), "o", markersize=3, color=colour, label=measured)
        theory = np.sqrt(variances[noise] / counts)
        ax.loglog(counts, theory, color=colour, label=r"$\sqrt{\mathrm{Var}/k}$")
    ax.set(
        xlabel="probes averaged, k",
        ylabel="standard deviation of the estimate",
        title="The spread falls like $1/\\sqrt{k}$",
    )
    ax.legend()
    return ax


def plotly_probe_average_animation(
    averages: Mapping[str, ArrayLike], truth: float, edges: ArrayLike
) -> go.Figure:
    """A plotly figure with a slider over k: histograms of the averages of k probes.

    ``averages[noise]`` has shape ``(repeats, K)``: column ``k - 1`` holds ``repeats`` averages of
    ``k`` probes. Every frame is precomputed, so the slider and the play button run in the browser
    alone (also in a static HTML page). The caption gives each kind's measured spread.
    """
    averages = {noise: np.asarray(values) for noise, values in averages.items()}
    edges = np.asarray(edges, float)
    centres = (edges[:-1] + edges[1:]) / 2
    repeats, count = next(iter(averages.values())).shape
    spread = {noise: values.std(axis=0) for noise, values in averages.items()}

    def bars(k: int) -> list[go.Bar]:
        return [
            go.Bar(
                x=centres,
                y=np.histogram(values[:, k - 1], edges)[0] / repeats,
                name=noise,
                marker_color=PROBE_COLOURS.get(noise),
                opacity=0.6,
            )
            for noise, values in averages.items()
        ]

    def caption(k: int) -> str:
        stds = ", ".join(f"{spread[noise][k - 1]:.2f} ({noise})" for noise in averages)
        return f"k = {k} probes: std {stds}"

    ks = range(1, count + 1)
    frames = [go.Frame(data=bars(k), name=str(k), layout={"title_text": caption(k)}) for k in ks]
    figure = go.Figure(data=bars(1), frames=frames)
    figure.add_vline(x=truth, line_color="black", line_width=2, annotation_text="true trace")
    tallest = max(np.histogram(values[:, -1], edges)[0].max() for values in averages.values())
    step = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}
    play = {"frame": {"duration": 120, "redraw": True}, "fromcurrent": True}
    figure.update_layout(
        title_text=caption(1),
        barmode="overlay",
        bargap=0,
        width=760,
        height=480,
        xaxis_title="average of k estimates",
        yaxis_title="fraction of repeats",
        yaxis_range=[0, 1.1 * tallest / repeats],
        sliders=[
            {
                "currentvalue": {"prefix": "probes k = "},
                "x": 0.1,
                "len": 0.9,
                "pad": {"t": 50},
                "steps": [
                    {"label": str(k), "method": "animate", "args": [[str(k)], step]} for k in ks
                ],
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "x": 0.1,
                "y": 0,
                "xanchor": "right",
                "yanchor": "top",
                "pad": {"t": 60, "r": 10},
                "showactive": False,
                "buttons": [{"label": "play", "method": "animate", "args": [None, play]}],
            }
        ],
    )
    return figure


INTEGRAND_STYLES = {
    "redrawn probe": {"color": "tab:red", "linewidth": 0.8, "label": "probe redrawn at every t"},
    "fixed probe": {
        "color": "tab:blue",
        "linewidth": 2.5,
        "label": "one probe for the whole solve",
    },
    "exact trace": {"color": "black", "linestyle": "--", "label": r"exact $\mathrm{Tr}\,J$"},
}


def plot_integrands(
    times: ArrayLike, curves: Mapping[str, Sequence[float]], ax: plt.Axes | None = None
) -> plt.Axes:
    """The integrand :math:`\\varepsilon^\\top J(t)\\,\\varepsilon` an adaptive solver integrates.

    ``curves`` maps ``"exact trace"``, ``"fixed probe"`` and ``"redrawn probe"`` (others get the
    default style) to values at ``times``: a fixed probe gives a smooth curve, a redrawn one noise.
    The redrawn curve is drawn first, so the smooth ones stay visible on top.
    """
    ax = ax if ax is not None else plt.gca()
    times = np.asarray(times)
    order = sorted(curves, key=lambda name: name != "redrawn probe")
    for name in order:
        style = INTEGRAND_STYLES.get(name, {"label": name})
        ax.plot(times, np.asarray(curves[name]), **style)
    ax.set(
        xlabel="t",
        ylabel=r"integrand $\varepsilon^\top J(t)\,\varepsilon$",
        title="The right-hand side an adaptive solver has to integrate",
    )
    ax.legend()
    return ax


def plot_variance_vs_budget(
    budgets: Sequence[int],
    variances: Mapping[str, Sequence[float]],
    reference: Sequence[float] | None = None,
    ax: plt.Axes | None = None,
    title: str = "",
) -> plt.Axes:
    """Measured variance of trace estimators against the number of matrix-vector products m.

    ``variances`` maps an estimator's label to its variances at ``budgets``; ``reference`` (e.g.
    the closed form :math:`\\operatorname{Var}/m` of plain Hutchinson) is drawn dotted.
    """
    ax = ax if ax is not None else plt.gca()
    for (label, values), marker in zip(variances.items(), ("o-", "s-", "^-", "v-")):
        ax.loglog(budgets, values, marker, label=label)
    if reference is not None:
        ax.loglog(budgets, reference, ":", color="0.3", label="closed form Var/m")
    ax.set(xlabel="matrix-vector products m", title=title)
    ax.legend()
    return ax
