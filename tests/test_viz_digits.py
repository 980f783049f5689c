"""The digit mosaics of notebook 08 (`ffjord_edu.viz.digits`): every image lands in its own cell."""

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from ffjord_edu.viz import digit_mosaic, show_digits
from ffjord_edu.viz.digits import FRAME

matplotlib.use("Agg")


def test_each_image_sits_in_its_cell_and_the_rest_is_frame():
    batch = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mosaic = digit_mosaic(batch, ncols=3)
    assert mosaic.shape == (2 * 9 + 1, 3 * 9 + 1)
    assert torch.equal(mosaic[1:9, 1:9], batch[0, 0])
    assert torch.equal(mosaic[10:18, 10:18], batch[4, 0]), "image 4: row 1, column 1"
    assert (mosaic[10:18, 19:27] == FRAME).all(), "the sixth cell is empty"
    assert (mosaic[0] == FRAME).all() and (mosaic[:, 9] == FRAME).all()


def test_grey_levels_are_scaled_to_the_unit_interval():
    levels = torch.full((1, 1, 8, 8), 16, dtype=torch.uint8)
    levels[0, 0, 0, 0] = 4
    mosaic = digit_mosaic(levels, ncols=1)
    assert mosaic[1, 1] == pytest.approx(0.25) and mosaic[8, 8] == 1.0


def test_show_digits_draws_the_mosaic_without_axes():
    batch = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    fig, ax = plt.subplots()
    show_digits(batch, ax, ncols=8, title="16 digits")
    image = ax.get_images()[0]
    assert torch.equal(torch.as_tensor(image.get_array()), digit_mosaic(batch, 8))
    assert ax.get_title() == "16 digits" and not ax.axison
    assert image.get_clim() == (0, 1)
    plt.close(fig)
