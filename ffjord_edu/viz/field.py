"""The velocity field :math:`f(t, z)` drawn as arrows."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from torch import Tensor

__all__ = ["plot_vector_field"]


def plot_vector_field(
    velocity: Callable[[Tensor, Tensor], Tensor],
    t: float,
    ax: plt.Axes | None = None,
    bound: float = 4.0,
    resolution: int = 20,
    dtype: torch.dtype = torch.float32,
) -> plt.Axes:
    """Quiver plot of ``velocity(t, z)`` on a ``resolution²`` grid over ``[-bound, bound]²``.

    Arrows are coloured by speed :math:`\\|f(t, z)\\|`, so slow and fast regions stand out.
    ``dtype`` is that of the grid and of ``t`` (``torch.float64`` for a double-precision field).
    """
    ax = ax if ax is not None else plt.gca()
    axis = torch.linspace(-bound, bound, resolution, dtype=dtype)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    with torch.no_grad():
        arrows = velocity(torch.tensor(float(t), dtype=dtype), points).detach().cpu()
    speed = arrows.norm(dim=1)
    points, arrows = points.numpy(), arrows.float().numpy()
    ax.quiver(points[:, 0], points[:, 1], arrows[:, 0], arrows[:, 1], speed.numpy(), cmap="viridis")
    ax.set(
        title=f"f(t, z) at t = {t:.2f}",
        xlabel="$z_1$",
        ylabel="$z_2$",
        aspect="equal",
        xlim=(-bound, bound),
        ylim=(-bound, bound),
    )
    return ax
