"""Particle paths :math:`z(t)`: flat (matplotlib) and in 3-D with time as an axis (plotly)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import plotly.graph_objects as go
from torch import Tensor

__all__ = ["plot_trajectories", "trajectories_3d"]


def plot_trajectories(path: Tensor, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Draw paths of shape ``(T, N, 2)``: grey lines, start points blue, end points orange."""
    ax = ax if ax is not None else plt.gca()
    path = path.detach().cpu().numpy()
    ax.plot(path[:, :, 0], path[:, :, 1], color="0.6", linewidth=0.5, alpha=0.6)
    ax.scatter(path[0, :, 0], path[0, :, 1], s=4, color="tab:blue", label="start", zorder=3)
    ax.scatter(path[-1, :, 0], path[-1, :, 1], s=4, color="tab:orange", label="end", zorder=3)
    ax.set(title=title, xlabel="$z_1$", ylabel="$z_2$", aspect="equal")
    ax.legend(loc="upper right", markerscale=3)
    return ax


def trajectories_3d(path: Tensor, times: Sequence[float], title: str = "") -> go.Figure:
    """A plotly 3-D figure of paths ``(T, N, 2)`` with axes ``(z1, z2, t)``.

    All paths go into one trace (separated by gaps), so hundreds of particles stay fast to rotate.
    """
    path = path.detach().cpu()
    xs, ys, ts = [], [], []
    for particle in range(path.shape[1]):
        xs += [*path[:, particle, 0].tolist(), None]
        ys += [*path[:, particle, 1].tolist(), None]
        ts += [*map(float, times), None]
    lines = go.Scatter3d(
        x=xs,
        y=ys,
        z=ts,
        mode="lines",
        line={"width": 2, "color": "grey"},
        opacity=0.5,
        name="paths",
    )
    ends = [
        go.Scatter3d(
            x=path[i, :, 0].tolist(),
            y=path[i, :, 1].tolist(),
            z=[float(times[i])] * path.shape[1],
            mode="markers",
            marker={"size": 2, "color": colour},
            name=name,
        )
        for i, colour, name in (
            (0, "royalblue", f"t = {times[0]:g}"),
            (-1, "darkorange", f"t = {times[-1]:g}"),
        )
    ]
    figure = go.Figure([lines, *ends])
    figure.update_layout(
        title=title,
        height=550,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        scene={"xaxis_title": "z1", "yaxis_title": "z2", "zaxis_title": "t"},
    )
    return figure
