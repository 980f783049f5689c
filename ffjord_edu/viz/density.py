"""Log-densities evaluated on a regular 2-D grid, and how to draw them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import Tensor

__all__ = ["DensityGrid", "density_grid", "plot_density", "plot_samples"]

CMAP = "viridis"  # one colour map for every density in the course


@dataclass
class DensityGrid:
    """``log_density[i, j]`` is :math:`\\log p` at ``(xs[j], ys[i])`` (image layout: rows are y).

    ``mass`` is the Riemann sum :math:`\\sum p\\,\\Delta x\\,\\Delta y`: about 1 when the grid
    covers the density, a check that the log-density is normalised.
    """

    xs: Tensor
    ys: Tensor
    log_density: Tensor

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return (float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1]))

    @property
    def mass(self) -> float:
        cell = float((self.xs[1] - self.xs[0]) * (self.ys[1] - self.ys[0]))
        return float(self.log_density.exp().sum()) * cell


def density_grid(
    log_prob: Callable[[Tensor], Tensor],
    bound: float = 4.5,
    resolution: int = 200,
    chunk: int = 10_000,
    dtype: torch.dtype = torch.float32,
) -> DensityGrid:
    """Evaluate ``log_prob`` on a ``resolution × resolution`` grid over ``[-bound, bound]²``.

    Arguments:
        log_prob: maps points of shape ``(N, 2)`` to log-densities of shape ``(N,)``
            (a flow's ``log_prob``, or ``lambda x: toy.log_prob(name, x)``).
        bound: half-width of the square.
        resolution: grid points per axis.
        chunk: points per call, to bound memory.
        dtype: the dtype of the points (``torch.float64`` for a double-precision flow).
    """
    axis = torch.linspace(-bound, bound, resolution, dtype=dtype)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    with torch.no_grad():
        values = torch.cat([log_prob(part).detach().cpu() for part in points.split(chunk)])
    return DensityGrid(axis, axis, values.reshape(resolution, resolution).float())


def plot_density(grid: DensityGrid, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Draw :math:`p = \\exp(\\log p)` of a `DensityGrid` as an image."""
    ax = ax if ax is not None else plt.gca()
    ax.imshow(grid.log_density.exp().numpy(), origin="lower", extent=grid.extent, cmap=CMAP)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    return ax


def plot_samples(
    points: Tensor, ax: plt.Axes | None = None, title: str = "", bound: float = 4.5, **style
) -> plt.Axes:
    """Scatter 2-D samples of shape ``(N, 2)`` with small, translucent markers."""
    ax = ax if ax is not None else plt.gca()
    points = points.detach().cpu().numpy()
    ax.scatter(points[:, 0], points[:, 1], **{"s": 1, "alpha": 0.5, **style})
    ax.set(
        title=title,
        xlim=(-bound, bound),
        ylim=(-bound, bound),
        aspect="equal",
        xlabel="$x_1$",
        ylabel="$x_2$",
    )
    return ax
