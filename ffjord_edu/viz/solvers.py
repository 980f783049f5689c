"""Figures and a widget of notebook 02: solver error against cost, solutions against the exact path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "plot_error_vs_nfe",
    "plot_learned_paths",
    "plot_solution_and_error",
    "solver_explorer",
]

ADAPTIVE_COLOUR = "tab:purple"
ADAPTIVE_MARKERS = ("s-", "x:", "^--", "v-.")


def plot_error_vs_nfe(
    fixed: Mapping[str, ArrayLike],
    orders: Mapping[str, int],
    adaptive: Mapping[str, ArrayLike] | None = None,
    colours: Mapping[str, str] | None = None,
    ax: plt.Axes | None = None,
    title: str = "",
) -> plt.Axes:
    """Global error against the number of function evaluations, on log-log axes.

    ``fixed`` maps a fixed-step method to rows ``(NFE, error)``, one per step size; each is drawn
    with a grey dashed guide of slope :math:`-p` (``orders[name]``) a little below its points,
    since error :math:`\\approx C h^p \\propto \\text{NFE}^{-p}`. ``adaptive`` maps a label (e.g. a
    backend) to the rows of a tolerance sweep of an adaptive solver, drawn in one colour.
    """
    ax = ax if ax is not None else plt.gca()
    colours = dict(colours or {})
    for name, rows in fixed.items():
        rows = np.asarray(rows, float)
        label = f"{name} (order {orders[name]})"
        ax.loglog(rows[:, 0], rows[:, 1], "o-", color=colours.get(name), label=label)
        nfe = np.array([rows[0, 0], rows[-1, 0]])
        guide = 0.2 * rows[-1, 1] * (nfe / nfe[-1]) ** -orders[name]
        ax.loglog(nfe, guide, "--", color="0.5", lw=1)
    for (label, rows), marker in zip((adaptive or {}).items(), ADAPTIVE_MARKERS):
        rows = np.asarray(rows, float)
        ax.loglog(rows[:, 0], rows[:, 1], marker, color=ADAPTIVE_COLOUR, label=label)
    ax.set(xlabel="NFE (function evaluations)", ylabel="global error", title=title)
    ax.legend()
    return ax


def plot_solution_and_error(
    grid: ArrayLike,
    path: ArrayLike,
    error: ArrayLike,
    exact_path: ArrayLike,
    label: str,
    colour: str | None = None,
    bound: float = 3.5,
) -> plt.Figure:
    """Two panels: a solver's points :math:`z_n` over the exact 2-D path, and its error in time.

    ``path`` ``(N, 2)`` holds the solution at the times ``grid`` ``(N,)``, ``error`` ``(N,)`` the
    distances :math:`\\lVert z_n - z(t_n)\\rVert`, drawn on a log scale from the first step on
    (the start is exact); ``exact_path`` ``(M, 2)`` is the true solution on a fine grid.
    """
    grid, path, error = np.asarray(grid), np.asarray(path), np.asarray(error)
    exact_path = np.asarray(exact_path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.3))
    left.plot(exact_path[:, 0], exact_path[:, 1], color="tab:blue", lw=2, label="exact")
    left.plot(path[:, 0], path[:, 1], ".-", color=colour, ms=4, lw=1, label=label)
    limits = (-bound, bound)
    left.set(xlim=limits, ylim=limits, aspect="equal", xlabel="$z_1$", ylabel="$z_2$", title=label)
    left.legend(loc="lower left")
    right.semilogy(grid[1:], error[1:], ".-", color=colour)
    right.set(
        xlim=(grid[0], grid[-1]),
        ylim=(1e-8, 1e2),
        xlabel="t",
        ylabel=r"$\|z_n - z(t_n)\|$",
        title=f"error at t = {grid[-1]:g}: {error[-1]:.1e}",
    )
    return fig


def solver_explorer(
    solutions: Mapping[tuple[str, float], tuple[ArrayLike, ArrayLike, ArrayLike]],
    exact_path: ArrayLike,
    colours: Mapping[str, str] | None = None,
) -> widgets.VBox:
    """Buttons for the method and a slider for the step size over precomputed solutions.

    ``solutions`` maps ``(method, h)`` to ``(grid, path, error)`` as `plot_solution_and_error`
    takes them; moving a control only redraws, it never solves.
    """
    methods = list(dict.fromkeys(method for method, _ in solutions))
    steps = sorted({h for _, h in solutions}, reverse=True)
    colours = dict(colours or {})

    def show(method: str, h: float) -> None:
        grid, path, error = solutions[method, h]
        label = f"{method}, h = {h:g}"
        plot_solution_and_error(grid, path, error, exact_path, label, colours.get(method))
        plt.show()

    method_picker = widgets.ToggleButtons(options=methods, description="solver")
    step_picker = widgets.SelectionSlider(
        options=steps, value=steps[len(steps) // 2], description="step h"
    )
    output = widgets.interactive_output(show, {"method": method_picker, "h": step_picker})
    return widgets.VBox([widgets.HBox([method_picker, step_picker]), output])


def plot_learned_paths(
    truth: ArrayLike,
    learned: ArrayLike,
    labels: Sequence[str],
    ax: plt.Axes | None = None,
    title: str = "",
) -> plt.Axes:
    """True paths (grey) and a learned model's paths (coloured) from the same starts.

    ``truth`` and ``learned`` have shape ``(T, K, 2)``: ``K`` paths sampled at ``T`` times; the
    ``k``-th path is named ``labels[k]`` and its start marked with a dot.
    """
    ax = ax if ax is not None else plt.gca()
    truth, learned = np.asarray(truth), np.asarray(learned)
    if truth.shape != learned.shape or truth.shape[1] != len(labels):
        raise ValueError(
            f"truth {truth.shape} and learned {learned.shape} must both be (T, K, 2) with "
            f"K = {len(labels)} labels"
        )
    for k, label in enumerate(labels):
        ax.plot(*truth[:, k].T, color="0.6", lw=2.5, label="true paths" if k == 0 else None)
        (line,) = ax.plot(*learned[:, k].T, lw=1.2, label=f"learned, {label}")
        ax.plot(*truth[0, k], "o", color=line.get_color())
    ax.set(xlabel="$z_1$", ylabel="$z_2$", aspect="equal", title=title)
    ax.legend(loc="best", fontsize=8)  # the least crowded corner
    return ax
