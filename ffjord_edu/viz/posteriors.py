"""Figures of notebook 09: the IWAE bound against K, and a VAE's posteriors, reconstructions and samples.

The posterior pictures put samples of each model's approximate posterior ``q(z|x)`` on the
contours of its true posterior ``p(z|x) ∝ p(x|z) p(z)``, evaluated on a grid; they work for any
model with a 2-D latent space and ``log_joint(x, z)``, ``decode(z)`` and ``sample(n)`` methods
(`ffjord_edu.models.vae.VAE`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

__all__ = [
    "CONTOUR_LEVELS",
    "local_log_posterior",
    "plot_iwae_bounds",
    "plot_prior_samples",
    "plot_reconstructions",
    "posterior_frames",
]

CONTOUR_LEVELS = (-4.5, -2.0, -0.5)  # log of the peak fraction: the 3-, 2-, 1-sigma ellipses
COLORS = ("tab:blue", "tab:green", "tab:orange", "tab:purple")

LocalPosterior = tuple[Tensor, Tensor, Tensor]


def plot_iwae_bounds(
    ks: Sequence[int], bounds: Sequence[float], evidence: float, elbo: float
) -> Figure:
    """The IWAE bound against the number of importance samples K, between the ELBO and log p(x)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogx(ks, bounds, "o-", label=r"IWAE bound $\mathcal{L}_K$")
    ax.axhline(evidence, color="k", ls="--", label=r"$\log p(x)$")
    ax.axhline(elbo, color="tab:red", ls=":", label="ELBO (closed form)")
    ax.set(xlabel="K (importance samples)", ylabel="nats", title="The IWAE bound tightens with K")
    ax.legend()
    return fig


def local_log_posterior(
    log_joint: Callable[[Tensor, Tensor], Tensor], x: Tensor, samples: Tensor, grid_size: int
) -> LocalPosterior:
    """The true log-posterior of one data point ``x`` on a square grid around ``samples`` of q.

    The grid is centred on the samples' mean and reaches four of their largest standard
    deviations each way. Returns ``(xs, ys, log p(z|x) - max)``, the last of shape
    ``(grid_size, grid_size)`` with rows along ``ys`` (so ``contour(xs, ys, ...)`` draws it).
    """
    center, half = samples.mean(dim=0), 4 * float(samples.std(dim=0).max()) + 0.05
    xs = torch.linspace(float(center[0]) - half, float(center[0]) + half, grid_size)
    ys = torch.linspace(float(center[1]) - half, float(center[1]) + half, grid_size)
    points = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    values = log_joint(x.expand(len(points), -1), points).reshape(grid_size, grid_size)
    return xs, ys, values - values.max()


def _draw_posteriors(
    axes: Sequence[Axes],
    image: Tensor,
    title: str,
    samples: Mapping[str, Tensor],
    posteriors: Mapping[str, LocalPosterior],
) -> None:
    axes[0].imshow(image.reshape(8, 8), cmap="gray_r")
    axes[0].set(title=title, xticks=[], yticks=[])
    for ax, (name, z), colour in zip(axes[1:], samples.items(), COLORS):
        xs, ys, relative = posteriors[name]
        ax.scatter(z[:, 0], z[:, 1], s=3, alpha=0.35, color=colour)
        ax.contour(xs, ys, relative, levels=list(CONTOUR_LEVELS), colors="k", linewidths=1.0)
        ax.set(aspect="equal", title=f"q(z|x): {name}", xlabel="$z_1$", ylabel="$z_2$")


def posterior_frames(
    images: Tensor,
    titles: Sequence[str],
    samples: Mapping[str, Tensor],
    posteriors: Mapping[tuple[str, int], LocalPosterior],
) -> list[bytes]:
    """One PNG per image: the 8x8 image, then per model its q samples on its true posterior.

    ``samples[name]`` has shape ``(images, S, 2)``; ``posteriors[name, i]`` is
    `local_log_posterior`'s result for image ``i``. Contours at ``CONTOUR_LEVELS`` of the peak.
    """
    frames = []
    for i, image in enumerate(images):
        figure = Figure(figsize=(3.4 * (len(samples) + 0.6), 3.4), dpi=72)
        ratios = [0.6] + [1.0] * len(samples)
        axes = figure.subplots(1, len(samples) + 1, gridspec_kw={"width_ratios": ratios})
        chosen = {name: z[i] for name, z in samples.items()}
        local = {name: posteriors[name, i] for name in samples}
        _draw_posteriors(axes, image, titles[i], chosen, local)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        frames.append(buffer.getvalue())
    return frames


def _tile(images: Tensor, side: int = 8) -> Tensor:
    """A row of flat ``side²``-pixel images as one ``(side, n side)`` picture."""
    return torch.cat([image.reshape(side, side) for image in images], dim=1)


def plot_reconstructions(
    originals: Tensor, reconstructions: Mapping[str, Tensor], latent_grid: Tensor
) -> Figure:
    """Left: the originals and each model's reconstruction of them, a row each.

    Right: ``latent_grid``, decoded images of a square grid of latent points, as one mosaic
    (``(n*n, 64)`` pixel probabilities, row-major from the top left).
    """
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.3, 1]}
    )
    rows = [originals, *reconstructions.values()]
    left.imshow(torch.cat([_tile(row) for row in rows]), cmap="gray_r")
    names = ["data", *reconstructions]
    left.set(yticks=[4 + 8 * k for k in range(len(names))], yticklabels=names, xticks=[])
    left.set_title("reconstructions")
    n = round(len(latent_grid) ** 0.5)
    mosaic = latent_grid.reshape(n, n, 8, 8).permute(0, 2, 1, 3).reshape(8 * n, 8 * n)
    right.imshow(mosaic, cmap="gray_r")
    right.set(xticks=[], yticks=[], title="decoded latent grid")
    return fig


def plot_prior_samples(samples: Mapping[str, Tensor]) -> Figure:
    """One row of decoded prior samples (pixel probabilities) per model."""
    fig, axes = plt.subplots(1, len(samples), figsize=(13, 2.2), squeeze=False)
    for ax, (name, images) in zip(axes[0], samples.items()):
        ax.imshow(_tile(images), cmap="gray_r")
        ax.set(xticks=[], yticks=[], title=f"prior samples, {name} posterior")
    return fig
