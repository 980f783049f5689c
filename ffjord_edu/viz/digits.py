"""Figures of notebook 08: small grey-level images (the 8x8 digits) tiled into one picture."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import Tensor

__all__ = ["digit_mosaic", "show_digits"]

FRAME = 0.15  # the light grey of the frames between the images


def digit_mosaic(batch: Tensor, ncols: int = 8) -> Tensor:
    """Tile a batch of one-channel images into one picture, ``ncols`` per row, framed in grey.

    Arguments:
        batch: images of shape ``(N, 1, H, W)``, floats in [0, 1] or ``uint8`` grey levels
            0..16 (the digits' 17 levels; divided by 16).
        ncols: images per row.

    Returns:
        a float tensor of shape ``(rows (H + 1) + 1, ncols (W + 1) + 1)``, ``rows = ceil(N /
        ncols)``, with image ``i`` at row ``i // ncols``, column ``i % ncols`` and ``FRAME``
        between the images and in unused cells.
    """
    batch = batch.detach().cpu().float() / (16 if batch.dtype == torch.uint8 else 1)
    height, width = batch.shape[-2:]
    rows = math.ceil(len(batch) / ncols)
    mosaic = torch.full((rows * (height + 1) + 1, ncols * (width + 1) + 1), FRAME)
    for i, image in enumerate(batch[:, 0]):
        r, c = divmod(i, ncols)
        top, left = 1 + (height + 1) * r, 1 + (width + 1) * c
        mosaic[top : top + height, left : left + width] = image
    return mosaic


def show_digits(batch: Tensor, ax: plt.Axes, ncols: int = 8, title: str = "") -> plt.Axes:
    """Draw `digit_mosaic` of ``batch`` on ``ax``: ink dark on white, no axes, one title."""
    ax.imshow(digit_mosaic(batch, ncols).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title)
    return ax
