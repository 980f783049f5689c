"""Figures, tables and the explorer of notebook 06's sections 4, 5 and 7: flows trained with RNODE.

Each function reads the records the notebook loads: the live training records of
`ffjord_edu.train_toy`, and the precomputed runs in ``data/regularization/*.json`` and
``data/nfe_vs_dim/benchmark.json`` (their fields are described in ``data/README.md``).
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "plot_live_nfe",
    "plot_nfe_vs_dim",
    "plot_penalty_tradeoff",
    "plot_training_nfe",
    "print_runs",
    "regularization_explorer",
    "rolling_mean",
    "run_name",
]

Run = Mapping[str, Any]
TARGET_NFE_RATIO = 2.0  # the target of issue 4: at least 2x fewer NFE per solve ...
TARGET_NLL_COST = 0.05  # ... at a test NLL at most 0.05 nats worse


def run_name(run: Run) -> str:
    """``"unregularised"``, ``"λ = 0.1"`` (equal weights) or ``"λ_K = 0.1, λ_J = 0"``."""
    k, j = run["lambda_kinetic"], run["lambda_jacobian"]
    if k == j == 0:
        return "unregularised"
    return f"λ = {k:g}" if k == j else f"λ_K = {k:g}, λ_J = {j:g}"


def rolling_mean(values: Sequence[float], window: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of each ``window`` consecutive values, and the index each window ends at.

    The window shrinks to a quarter of the series when the series is short (never below 1).
    """
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values) // 4))
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    return np.arange(window - 1, len(values)), means


def plot_live_nfe(live: Mapping[float, Sequence[Mapping[str, float]]]) -> Figure:
    """The NFE of the loss solve at each iteration of short live runs, one line per penalty weight.

    ``live`` maps a weight to the records `ffjord_edu.train_toy`'s callback received.
    """
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for weight, records in live.items():
        style = "o-" if len(records) < 20 else "-"
        ax.plot([r["nfe_forward"] for r in records], style, label=f"λ = {weight:g}")
    iterations = max(len(records) for records in live.values())
    ax.set(xlabel="iteration", ylabel="NFE of the loss solve")
    ax.set_title(f"Live: the first {iterations} iterations")
    ax.legend()
    return fig


def plot_training_nfe(benchmark: Run, window: int = 25) -> Figure:
    """The NFE of every training iteration of each run (faint) and its rolling mean (bold)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for run, colour in zip(benchmark["runs"], plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        ax.plot(run["training_nfe"], color=colour, alpha=0.2, lw=0.8)
        ax.plot(*rolling_mean(run["training_nfe"], window), color=colour, label=run_name(run))
    ax.set(xlabel="training iteration", ylabel="NFE of the loss solve")
    ax.set_title(f"{benchmark['data']}: NFE in training (bold: mean of {window})")
    ax.legend()
    return fig


def print_runs(benchmark: Run) -> list[bool]:
    """Print the table of final flows, then each regularised flow against the unregularised one.

    Returns, per regularised run, whether it meets the target: at least 2x fewer NFE per
    log-likelihood solve at a test NLL at most 0.05 nats worse than the first (unregularised) run.
    """
    header = (
        f"{'run':>18} {'test NLL':>9} {'KL gap':>7} {'NFE/solve':>9} {'sample NFE':>10} "
        f"{'train NFE':>9} {'∫|f|²dt':>8} {'∫|J|²dt':>8}"
    )
    print(header)
    for run in benchmark["runs"]:
        gap = "—" if run["kl_gap"] is None else f"{run['kl_gap']:.4f}"
        paths = run["path_integrals"]
        print(
            f"{run_name(run):>18} {run['test_nll']:9.4f} {gap:>7} {run['nfe_per_solve']:9.1f} "
            f"{run['nfe_sample']:10d} {run['mean_training_nfe']:9.1f} {paths['kinetic']:8.3f} "
            f"{paths['jacobian']:8.3f}"
        )
    baseline, *regularised = benchmark["runs"]
    print("against the unregularised run (target: ≥ 2× fewer NFE per solve, ≤ 0.05 nats worse):")
    verdicts = []
    for run in regularised:
        ratio = baseline["nfe_per_solve"] / run["nfe_per_solve"]
        worse = run["test_nll"] - baseline["test_nll"]
        verdicts.append(ratio >= TARGET_NFE_RATIO and worse <= TARGET_NLL_COST)
        print(
            f"{run_name(run):>18}: {ratio:.2f}× fewer NFE per log-likelihood solve, "
            f"{baseline['nfe_sample'] / run['nfe_sample']:.2f}× per sampling solve, "
            f"NLL {worse:+.4f} nats: {'meets' if verdicts[-1] else 'misses'} the target"
        )
    return verdicts


def plot_penalty_tradeoff(benchmark: Run) -> Figure:
    """Each final flow as a point (NFE per log-likelihood solve, test NLL), the target shaded.

    The unregularised run (the first) is red, the regularised ones blue; the green box is the
    target (half the baseline's NFE or fewer, at most 0.05 nats worse); the grey line is the true
    entropy, the least NLL any model can reach.
    """
    baseline = benchmark["runs"][0]
    floor = benchmark["true_entropy"] - 0.01
    half, worst = baseline["nfe_per_solve"] / TARGET_NFE_RATIO, baseline["test_nll"] + 0.05
    right = 1.2 * max(run["nfe_per_solve"] for run in benchmark["runs"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.fill_between([0, half], floor, worst, color="tab:green", alpha=0.1, label="target")
    for run in benchmark["runs"]:
        point = (run["nfe_per_solve"], run["test_nll"])
        ax.plot(*point, "o", color="tab:red" if run is baseline else "tab:blue")
        ax.annotate(run_name(run), point, xytext=(6, 4), textcoords="offset points")
    ax.axhline(benchmark["true_entropy"], color="0.5", lw=1, label="true entropy")
    ax.set(xlim=(0, right), ylim=(floor, None), ylabel="test NLL (nats)")
    ax.set(xlabel="NFE per log-likelihood solve (dopri5, 1e-5)")
    ax.set_title(f"{benchmark['data']}: what each penalty weight costs and saves")
    ax.legend(loc="upper right")
    return fig


def _draw_grid_run(grid: Run, choice: tuple[float, float], left: Any, right: Any) -> None:
    """Left: training NFE of every run (``choice`` bold); right: KL gap against NFE per solve."""
    weights = sorted({run["weight"] for run in grid["runs"]})
    colours = dict(zip(weights, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for run in grid["runs"]:
        key = (run["weight"], run["train_tol"])
        bold = {"color": colours[key[0]], "lw": 2, "zorder": 3}
        style = bold if key == choice else {"color": "0.85", "lw": 0.8}
        left.plot(*rolling_mean(run["nfe"], 10), **style)
        gaps = [e["test_nll"] - grid["true_entropy"] for e in run["evaluation"]]
        right.semilogy([e["nfe"] for e in run["evaluation"]], gaps, "o-", ms=3, **style)
    left.set(xlabel="training iteration", ylabel="NFE of the loss solve (mean of 10)")
    left.set_title(f"λ = {choice[0]:g}, training tolerance {choice[1]:.0e}")
    right.set(xlabel="NFE of one log-likelihood solve", ylabel="test NLL − entropy (nats)")
    right.set_title("The final flow, evaluated at each tolerance")


def _render_grid_run(grid: Run, choice: tuple[float, float]) -> bytes:
    figure = Figure(figsize=(11, 4), dpi=80)
    FigureCanvasAgg(figure)
    _draw_grid_run(grid, choice, *figure.subplots(1, 2))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def regularization_explorer(grid: Run) -> widgets.VBox:
    """Buttons for a penalty weight and a training tolerance, the chosen run's numbers and figure.

    Every run's picture is drawn once, before the widget exists; the buttons only swap them. The
    summary line gives the run's final test NLL and NFE per solve (at tolerance 1e-5), its mean
    and last training NFE and its training seconds.
    """
    runs = {(run["weight"], run["train_tol"]): run for run in grid["runs"]}
    pictures = {choice: _render_grid_run(grid, choice) for choice in runs}
    weights = sorted({w for w, _ in runs})
    tolerances = sorted({t for _, t in runs}, reverse=True)
    weight = widgets.ToggleButtons(
        options=[(f"λ = {w:g}", w) for w in weights], description="penalty"
    )
    tol = widgets.ToggleButtons(
        options=[(f"{t:.0e}", t) for t in tolerances], description="train tol"
    )
    picture, summary = widgets.Image(format="png"), widgets.HTML()

    def show(change: object = None) -> None:
        run = runs[weight.value, tol.value]
        picture.value = pictures[weight.value, tol.value]
        summary.value = (
            f"final test NLL <b>{run['test_nll']:.4f}</b> nats (tol 1e-5) · NFE per solve "
            f"<b>{run['nfe_per_solve']}</b> · mean training NFE {statistics.fmean(run['nfe']):.1f}"
            f" · last training NFE {run['nfe'][-1]} · {run['train_seconds']:.0f} s of training"
        )

    weight.observe(show, names="value")
    tol.observe(show, names="value")
    show()
    return widgets.VBox([weight, tol, summary, picture])


def plot_nfe_vs_dim(rows: Sequence[Run], window: int = 25) -> Figure:
    """Left: the NFE of each training solve (rolling mean), one line per data dimension D.

    Right: the NFE of the final density solve (tolerance 1e-5) and of the last 50 training
    solves, against D on a log axis.
    """
    fig, (curves, by_dim) = plt.subplots(1, 2, figsize=(13, 4))
    for row in rows:
        curves.plot(*rolling_mean(row["train_nfe"], window), label=f"D = {row['dim']}")
    curves.set(xlabel="training iteration", ylabel="NFE per training solve (tol 1e-3)")
    curves.set_title("NFE grows during training, alike in every D")
    curves.legend(ncol=2)
    dims = [row["dim"] for row in rows]
    density = [row["density_nfe_1e-5"] for row in rows]
    by_dim.plot(dims, density, "o-", label="density solve, tol 1e-5")
    training = [row["mean_train_nfe_last_50"] for row in rows]
    by_dim.plot(dims, training, "s--", label="training, last 50 steps")
    by_dim.set(xscale="log", xlabel="data dimension D", ylabel="NFE", ylim=(0, None))
    by_dim.set_xticks(dims, [str(d) for d in dims])
    by_dim.set_title("NFE against D at a fixed difficulty")
    by_dim.legend()
    fig.tight_layout()
    return fig
