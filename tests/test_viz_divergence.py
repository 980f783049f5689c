"""The divergence map: values on the grid, a colour scale symmetric about zero, shapes checked."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ffjord_edu.viz import plot_divergence


def test_divergence_map_shows_the_values_on_a_symmetric_scale():
    _, ax = plt.subplots()
    plot_divergence(lambda z: z[:, 0] + 0.5, ax, bound=2.0, resolution=5, title="div")
    (image,) = ax.images
    values = np.asarray(image.get_array())
    axis = np.linspace(-2, 2, 5)
    assert np.allclose(values, np.tile(axis + 0.5, (5, 1))), "columns are z1, rows z2"
    assert image.get_clim() == pytest.approx((-2.5, 2.5))
    assert tuple(image.get_extent()) == (-2.0, 2.0, -2.0, 2.0) and image.origin == "lower"
    assert ax.get_title() == "div" and len(ax.figure.axes) == 2, "a colour bar"
    plt.close("all")


def test_divergence_map_of_a_rotation_is_blank_not_an_error():
    _, ax = plt.subplots()
    plot_divergence(lambda z: torch.zeros(len(z)), ax, resolution=4)
    assert np.allclose(ax.images[0].get_array(), 0) and ax.images[0].get_clim() == (-1.0, 1.0)
    plt.close("all")


def test_divergence_map_needs_one_number_per_point():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one number per row"):
        plot_divergence(lambda z: z, ax, resolution=4)
    plt.close("all")
