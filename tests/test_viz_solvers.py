"""Notebook 02's figures and explorer: error against NFE, solutions against the exact path."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ffjord_edu.viz import (
    plot_error_vs_nfe,
    plot_learned_paths,
    plot_solution_and_error,
    solver_explorer,
)


def spiral(n):
    t = np.linspace(0, 10, n)
    return t, np.stack([2 * np.cos(t), 2 * np.sin(t)], axis=1)


def test_error_vs_nfe_draws_each_method_with_a_guide_of_its_order():
    nfe = np.array([10.0, 20.0, 40.0])
    fixed = {"euler": np.stack([nfe, 1 / nfe], 1), "rk4": np.stack([4 * nfe, nfe**-4.0], 1)}
    adaptive = {"dopri5, edu": [[30, 1e-3], [60, 1e-6]]}
    _, ax = plt.subplots()
    plot_error_vs_nfe(fixed, {"euler": 1, "rk4": 4}, adaptive, {"euler": "tab:red"}, ax, "cost")
    labels = [line.get_label() for line in ax.lines]
    assert labels.count("euler (order 1)") == 1 and "dopri5, edu" in labels
    assert len(ax.lines) == 2 * len(fixed) + len(adaptive)
    rk4 = ax.lines[labels.index("rk4 (order 4)")]
    assert np.allclose(rk4.get_xdata(), 4 * nfe) and np.allclose(rk4.get_ydata(), nfe**-4.0)
    guide = ax.lines[labels.index("rk4 (order 4)") + 1]
    x, y = guide.get_xdata(), guide.get_ydata()
    assert np.log(y[1] / y[0]) / np.log(x[1] / x[0]) == pytest.approx(-4.0), "slope -p"
    assert ax.lines[0].get_color() == "tab:red"
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_title() == "cost"


def test_solution_and_error_shows_the_path_and_its_error_from_the_first_step():
    grid, path = spiral(11)
    error = np.linspace(0, 1, 11)
    fig = plot_solution_and_error(grid, path * 1.1, error, spiral(200)[1], "rk4, h = 1", "g")
    left, right = fig.axes
    assert len(left.lines) == 2 and np.allclose(left.lines[1].get_xydata(), path * 1.1)
    assert np.allclose(right.lines[0].get_ydata(), error[1:]), "t = 0 has no error to show"
    assert left.get_title() == "rk4, h = 1" and "1.0e+00" in right.get_title()


def test_solver_explorer_offers_the_precomputed_choices():
    grid, path = spiral(5)
    solutions = {
        (method, h): (grid, path, np.full(5, h)) for method in ("euler", "rk4") for h in (1.0, 0.5)
    }
    explorer = solver_explorer(solutions, spiral(50)[1], {"euler": "tab:red"})
    controls, output = explorer.children
    method, step = controls.children
    assert isinstance(output, widgets.Output)
    assert list(method.options) == ["euler", "rk4"] and list(step.options) == [1.0, 0.5]
    step.value = 0.5  # redraws from the table: no solve, no error


def test_learned_paths_draws_truth_learned_and_starts():
    t = np.linspace(0, 1, 20)
    truth = np.stack([np.stack([t, t], 1), np.stack([-t, t], 1)], axis=1)  # (20, 2, 2)
    _, ax = plt.subplots()
    plot_learned_paths(truth, truth + 0.1, ["observed", "new"], ax, title="paths")
    assert len(ax.lines) == 6
    assert np.allclose(ax.lines[1].get_xydata(), truth[:, 0] + 0.1)
    assert ax.lines[1].get_label() == "learned, observed" and ax.get_title() == "paths"
    with pytest.raises(ValueError, match="K = 3 labels"):
        plot_learned_paths(truth, truth, ["a", "b", "c"], ax)
