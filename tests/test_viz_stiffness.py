"""Notebook 06's stiffness figures: the tolerance sweep, dopri5's steps, the stability region."""

import math

import numpy as np
import pytest
import torch

from ffjord_edu.solvers import TABLEAUS
from ffjord_edu.viz import stiffness as drawing


def test_tolerance_sweep_plots_what_it_is_given():
    tolerances, nfes, nlls = [1e-2, 1e-3, 1e-4], [20, 32, 50], [2.80, 2.77, 2.76]
    fig = drawing.plot_tolerance_sweep(
        tolerances, nfes, nlls, reference_nll=2.761, reference_tol=1e-8
    )
    left, right = fig.axes
    assert list(left.lines[0].get_ydata()) == nfes
    assert list(right.lines[0].get_ydata()) == nlls
    assert right.lines[1].get_ydata()[0] == pytest.approx(2.761)
    assert left.xaxis_inverted() and right.xaxis_inverted(), "loose on the left, tight on the right"


def relaxation(k):
    return lambda t, y: -k * (y - torch.cos(t))


def test_dopri5_steps_account_for_every_evaluation_and_tile_the_interval():
    y, nfe, steps = drawing.dopri5_steps(
        relaxation(1.0), torch.zeros(1, dtype=torch.float64), 2.0, 1e-6
    )
    assert nfe == 2 + 6 * len(steps)
    accepted = steps[:, 2] == 1
    assert steps[accepted, 1].sum() == pytest.approx(2.0, abs=1e-9)
    exact = (math.cos(2.0) + math.sin(2.0) - math.exp(-2.0)) / 2
    assert float(y) == pytest.approx(exact, abs=1e-5)


def test_a_stiff_problem_sits_at_the_stability_limit_whatever_the_tolerance():
    k = 1000.0
    limit = drawing.stability_boundary(_dopri5_coefficients()) / k
    for tol in (1e-3, 1e-6):
        _, _, steps = drawing.dopri5_steps(
            relaxation(k), torch.zeros(1, dtype=torch.float64), 1.0, tol
        )
        late = steps[(steps[:, 2] == 1) & (steps[:, 0] > 0.5), 1]
        assert np.median(late) == pytest.approx(limit, rel=0.25), tol


def _dopri5_coefficients():
    tableau = TABLEAUS["dopri5"]
    s = len(tableau.c)
    a = np.zeros((s, s))
    for i, row in enumerate(tableau.a):
        a[i, : len(row)] = row
    b = np.array(tableau.b)
    return [1.0] + [b @ np.linalg.matrix_power(a, j - 1) @ np.ones(s) for j in range(1, s + 1)]


def test_stability_boundary_of_known_methods():
    assert drawing.stability_boundary([1.0, 1.0]) == pytest.approx(2.0, abs=1e-9), (
        "Euler: |1 - x| <= 1"
    )
    rk4 = [1 / math.factorial(j) for j in range(5)]
    assert drawing.stability_boundary(rk4) == pytest.approx(2.785293563, abs=1e-6)
    assert drawing.stability_boundary(_dopri5_coefficients()) == pytest.approx(3.3066, abs=1e-4)


def test_stability_boundary_says_when_the_search_is_too_short():
    with pytest.raises(ValueError, match="larger `search`"):
        drawing.stability_boundary([1.0, 1.0], search=1.0)


def test_step_size_figure_has_one_line_per_run_and_the_limit():
    t = torch.linspace(0, 2, 50, dtype=torch.float64)
    runs = {
        (k, tol): drawing.dopri5_steps(relaxation(k), torch.zeros(1, dtype=torch.float64), 2.0, tol)
        for k, tol in [(1.0, 1e-3), (1.0, 1e-6)]
    }
    fig = drawing.plot_step_sizes(runs, t, torch.cos(t), k=1.0, limit=3.3)
    top, bottom = fig.axes
    assert len(top.lines) == 2
    assert len(bottom.lines) == len(runs) + 1
    assert bottom.lines[-1].get_ydata()[0] == pytest.approx(3.3)
    accepted = runs[1.0, 1e-3][2][:, 2] == 1
    assert np.allclose(bottom.lines[0].get_ydata(), runs[1.0, 1e-3][2][accepted, 1])


def test_stability_region_marks_the_boundary():
    fig = drawing.plot_stability_region([1.0, 1.0], boundary=2.0)
    (ax,) = fig.axes
    marker = next(line for line in ax.lines if line.get_marker() == "o")
    assert list(marker.get_xdata()) == [-2.0]


def test_jacobian_sizes_show_maximum_and_median_over_paths():
    radius = torch.tensor([[1.0, 3.0, 2.0], [0.5, 0.5, 4.0]])
    fig = drawing.plot_jacobian_sizes(torch.tensor([1.0, 0.0]), radius, radius + 1)
    (ax,) = fig.axes
    assert len(ax.lines) == 3
    assert list(ax.lines[0].get_ydata()) == [3.0, 4.0]
    assert list(ax.lines[1].get_ydata()) == [4.0, 5.0]
    assert list(ax.lines[2].get_ydata()) == [2.0, 0.5]
    assert "3 paths" in ax.get_title()
