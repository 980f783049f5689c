"""Where a velocity field spreads or compresses: its divergence as a diverging-colour map."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from torch import Tensor

__all__ = ["plot_divergence"]

DIVERGING_CMAP = "RdBu_r"  # red: positive (particles spread, density falls), blue: negative


def plot_divergence(
    divergence: Callable[[Tensor], Tensor],
    ax: plt.Axes | None = None,
    bound: float = 3.5,
    resolution: int = 141,
    title: str = r"divergence $\mathrm{Tr}(\partial f/\partial z)$",
    dtype: torch.dtype = torch.float32,
) -> plt.Axes:
    """Draw :math:`\\operatorname{Tr}(\\partial f/\\partial z)` on a ``resolution²`` grid over ``[-bound, bound]²``.

    ``divergence`` maps points ``(N, 2)`` to ``(N,)``. The colour scale is symmetric about zero:
    red where the divergence is positive (a small cloud of particles grows, so the density along
    it falls), blue where it is negative (the density rises), white where the flow only moves
    mass around, e.g. a rotation.
    """
    ax = ax if ax is not None else plt.gca()
    axis = torch.linspace(-bound, bound, resolution, dtype=dtype)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    values = divergence(torch.stack([xs.flatten(), ys.flatten()], dim=1)).detach().cpu()
    if values.shape != (resolution * resolution,):
        raise ValueError(
            f"divergence returned shape {tuple(values.shape)} for {resolution**2} points; it "
            "must return one number per row"
        )
    limit = float(values.abs().max()) or 1.0
    extent = (-bound, bound, -bound, bound)
    image = ax.imshow(
        values.reshape(resolution, resolution).float().numpy(),
        origin="lower",
        extent=extent,
        cmap=DIVERGING_CMAP,
        vmin=-limit,
        vmax=limit,
    )
    ax.set(title=title, xlabel="$z_1$", ylabel="$z_2$")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax
