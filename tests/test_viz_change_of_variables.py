"""Notebook 01's figures: histograms against densities, coloured samples, Jacobian patterns."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ffjord_edu.viz import (
    plot_coloured_samples,
    plot_histogram_1d,
    plot_histogram_2d,
    plot_jacobian_pattern,
)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_histogram_1d_draws_the_bars_and_curves_it_is_given(ax):
    edges = torch.linspace(0, 3, 4)
    heights = torch.tensor([0.1, 0.5, 0.2])
    x = torch.linspace(0, 3, 10)
    curves = {"formula": (x, x / 3), "forgot the Jacobian": (x, x / 2)}
    plot_histogram_1d(edges, heights, curves, ax, title="pushed", xlabel="$x$")
    bars = ax.patches
    assert [b.get_height() for b in bars] == pytest.approx([0.1, 0.5, 0.2])
    assert [b.get_x() for b in bars] == pytest.approx([0.0, 1.0, 2.0])
    assert [b.get_width() for b in bars] == pytest.approx([1.0, 1.0, 1.0])
    assert [line.get_label() for line in ax.lines] == list(curves)
    assert np.allclose(ax.lines[1].get_ydata(), (x / 2).numpy())
    assert ax.lines[0].get_linestyle() == "-" and ax.lines[1].get_linestyle() == "--"
    assert ax.get_title() == "pushed" and ax.get_xlim() == pytest.approx((0.0, 3.0))


def test_histogram_2d_shows_rows_as_x2_over_the_bound(ax):
    density = torch.arange(12.0).reshape(3, 4)
    plot_histogram_2d(density, bound=2.0, ax=ax, title="histogram")
    (image,) = ax.images
    assert np.array_equal(image.get_array(), density.numpy())
    assert image.origin == "lower" and tuple(image.get_extent()) == (-2.0, 2.0, -2.0, 2.0)
    assert ax.get_title() == "histogram"


def test_coloured_samples_carry_their_values_and_a_colour_bar(ax):
    points, values = torch.randn(30, 2), torch.rand(30)
    plot_coloured_samples(points, values, ax, title="p at samples", bound=3.0)
    (scatter,) = ax.collections
    assert np.allclose(scatter.get_offsets(), points.numpy())
    assert np.allclose(scatter.get_array(), values.numpy())
    assert len(ax.figure.axes) == 2, "the scatter needs a colour bar"
    assert ax.get_xlim() == pytest.approx((-3.0, 3.0)) and ax.get_title() == "p at samples"


def test_jacobian_pattern_shows_magnitudes_with_labels(ax):
    jacobian = torch.tensor([[1.0, 0.0], [-2.0, 3.0]])
    plot_jacobian_pattern(jacobian, ["passive 0", "active 1"], ax, title="J")
    (image,) = ax.images
    assert np.array_equal(image.get_array(), jacobian.abs().numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["passive 0", "active 1"]
    assert ax.get_title() == "J"


def test_jacobian_pattern_needs_one_label_per_row(ax):
    with pytest.raises(ValueError, match="one label per row"):
        plot_jacobian_pattern(torch.eye(3), ["a", "b"], ax)
    with pytest.raises(ValueError, match="square"):
        plot_jacobian_pattern(torch.ones(2, 3), ["a", "b"], ax)
