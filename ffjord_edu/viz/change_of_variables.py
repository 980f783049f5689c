"""Figures of notebook 01: pushed-forward histograms against densities, and Jacobian patterns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from torch import Tensor

from .density import CMAP

__all__ = [
    "plot_coloured_samples",
    "plot_histogram_1d",
    "plot_histogram_2d",
    "plot_jacobian_pattern",
]


def plot_histogram_1d(
    edges: Tensor,
    heights: Tensor,
    curves: Mapping[str, tuple[Tensor, Tensor]],
    ax: plt.Axes | None = None,
    title: str = "",
    xlabel: str = "$x$",
    label: str = "histogram",
) -> plt.Axes:
    """A density-normalised histogram as bars, with density curves drawn over it.

    The bars span ``edges[i] .. edges[i + 1]`` with heights ``heights[i]`` (already divided by
    ``n * width``, so that they estimate :math:`p_x`). ``curves`` maps a legend label to
    ``(x, p(x))``: the first is drawn solid (the formula), the others dashed (the mistakes), so a
    student sees which curve the bars follow.
    """
    ax = ax if ax is not None else plt.gca()
    edges, heights = edges.detach().cpu(), heights.detach().cpu()
    widths = (edges[1:] - edges[:-1]).numpy()
    ax.bar(edges[:-1].numpy(), heights.numpy(), width=widths, align="edge", alpha=0.4, label=label)
    for k, (name, (x, p)) in enumerate(curves.items()):
        style = {"lw": 2} if k == 0 else {"ls": "--"}
        ax.plot(x.detach().cpu().numpy(), p.detach().cpu().numpy(), label=name, **style)
    ax.set(xlabel=xlabel, ylabel="density", title=title, xlim=(float(edges[0]), float(edges[-1])))
    ax.legend()
    return ax


def plot_histogram_2d(
    density: Tensor, bound: float, ax: plt.Axes | None = None, title: str = ""
) -> plt.Axes:
    """A 2-D histogram's density (rows: :math:`x_2`, columns: :math:`x_1`) over ``[-bound, bound]²``.

    Drawn like `plot_density` (same colour map and axes), so the histogram of pushed samples and
    the formula's density can sit side by side and be compared by eye.
    """
    ax = ax if ax is not None else plt.gca()
    extent = (-bound, bound, -bound, bound)
    ax.imshow(density.detach().cpu().numpy(), origin="lower", extent=extent, cmap=CMAP)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    return ax


def plot_coloured_samples(
    points: Tensor,
    values: Tensor,
    ax: plt.Axes | None = None,
    title: str = "",
    bound: float = 4.0,
) -> plt.Axes:
    """Scatter 2-D points ``(N, 2)`` coloured by ``values`` ``(N,)``, with a colour bar.

    Notebook 01 colours each pushed sample :math:`x = g(z)` by its density
    :math:`p_x(x) = p_z(z) / \\lvert\\det \\partial g/\\partial z\\rvert`, computed at the sample
    with no inverse: squeezed regions come out bright, stretched ones dark.
    """
    ax = ax if ax is not None else plt.gca()
    points, values = points.detach().cpu().numpy(), values.detach().cpu().numpy()
    shown = ax.scatter(points[:, 0], points[:, 1], c=values, s=1, cmap=CMAP)
    limits = (-bound, bound)
    ax.set(title=title, xlim=limits, ylim=limits, aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    ax.figure.colorbar(shown, ax=ax, shrink=0.8)
    return ax


def plot_jacobian_pattern(
    jacobian: Tensor, labels: Sequence[str], ax: plt.Axes | None = None, title: str = ""
) -> plt.Axes:
    """The magnitudes :math:`|\\partial x_i / \\partial z_j|` of a square Jacobian as an image.

    Rows are outputs, columns inputs, both named by ``labels``; a block of exact zeros (dark)
    shows the structure that makes a determinant cheap, e.g. a coupling layer's triangle.
    """
    if jacobian.ndim != 2 or not jacobian.shape[0] == jacobian.shape[1] == len(labels):
        raise ValueError(
            f"need a square Jacobian and one label per row; got shape {tuple(jacobian.shape)} "
            f"and {len(labels)} labels"
        )
    ax = ax if ax is not None else plt.gca()
    shown = ax.imshow(jacobian.detach().abs().cpu().numpy(), cmap=CMAP)
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, title=title, xlabel="input $z_j$", ylabel="output $x_i$")
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticklabels(labels)
    ax.figure.colorbar(shown, ax=ax)
    return ax
