"""Cost-scaling figures: fitted powers, measured points, reference lines and marked sizes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ffjord_edu.viz import fitted_power, plot_cost_scaling


def test_fitted_power_recovers_known_exponents():
    sizes = [16, 32, 64, 128]
    assert fitted_power(sizes, [5e-6 * d**3 for d in sizes]) == pytest.approx(3.0)
    assert fitted_power(sizes, [2.0 * d for d in sizes]) == pytest.approx(1.0)
    assert fitted_power(sizes, [7.0] * 4) == pytest.approx(0.0, abs=1e-12)


def test_fitted_power_needs_pairs():
    with pytest.raises(ValueError, match="two or more"):
        fitted_power([16], [1.0])
    with pytest.raises(ValueError, match="two or more"):
        fitted_power([16, 32], [1.0])


def test_plot_cost_scaling_draws_points_fits_reference_and_marks():
    sizes = [16, 32, 64, 128]
    costs = {"exact": [d**2 * 1e-6 for d in sizes], "hutchinson": [d * 1e-6 for d in sizes]}
    fig, ax = plt.subplots()
    plot_cost_scaling(
        sizes, costs, ax, fit_from=1, reference_power=3, marks={784: "MNIST"}, title="cost"
    )
    labels = [line.get_label() for line in ax.lines]
    assert "exact: fitted slope 2.00" in labels and "hutchinson: fitted slope 1.00" in labels
    points = ax.lines[labels.index("exact: fitted slope 2.00")]
    assert np.allclose(points.get_xdata(), sizes)
    assert np.allclose(points.get_ydata(), costs["exact"])
    reference = next(line for line in ax.lines if line.get_linestyle() == "--")
    x, y = reference.get_xdata(), reference.get_ydata()
    assert x[-1] == pytest.approx(784), "the reference line reaches the marked size"
    assert np.interp(128, x, y) == pytest.approx(costs["exact"][-1], rel=1e-2)
    assert y[-1] / costs["exact"][-1] == pytest.approx((784 / 128) ** 3)
    assert [t.get_text() for t in ax.texts] == ["MNIST"]
    assert ax.get_xscale() == "log" and ax.get_title() == "cost"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32", "64", "128"]
    plt.close(fig)


def test_plot_cost_scaling_without_extras_draws_one_fit_per_series():
    fig, ax = plt.subplots()
    plot_cost_scaling([1, 2, 4], {"a": [1.0, 2.0, 4.0]}, ax)
    assert len(ax.lines) == 2 and not ax.texts
    assert np.allclose(ax.lines[1].get_ydata(), [1.0, 2.0, 4.0])
    plt.close(fig)
