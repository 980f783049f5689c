"""Figures of notebook 05: a live loss-and-NFE plot, and densities of several models side by side."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .density import DensityGrid, plot_density

__all__ = ["LiveTrainingPlot", "plot_density_table"]


class LiveTrainingPlot:
    """A training callback: one figure, redrawn in place every ``every`` iterations.

    Left: the training loss (the batch NLL) per iteration, with the true entropy as a dashed line
    when it is known (no model's expected NLL can go below it). Right: the number of function
    evaluations (NFE) of the density solve per iteration, the price of an iteration with an
    adaptive solver.

    Arguments:
        every: redraw after every ``every``-th iteration.
        entropy: the data's true entropy in nats, or ``None``.
        title: the loss panel's title.
        show: display the figure (``False`` in tests: nothing is displayed, `draw` still works).

    Call it as ``callback(iteration, record)`` with ``record["loss"]`` and
    ``record["nfe_forward"]`` (what `ffjord_edu.train_toy` passes).
    """

    def __init__(
        self, every: int, entropy: float | None = None, title: str = "", show: bool = True
    ) -> None:
        self.every, self.entropy, self.title = every, entropy, title
        self.losses: list[float] = []
        self.nfes: list[float] = []
        self.handle = None
        if show:
            from IPython.display import Image, display

            self.handle = display(Image(self.draw()), display_id=True)

    def __call__(self, iteration: int, record: Mapping[str, float]) -> None:
        self.losses.append(float(record["loss"]))
        self.nfes.append(float(record["nfe_forward"]))
        if self.handle is not None and (iteration + 1) % self.every == 0:
            from IPython.display import Image

            self.handle.update(Image(self.draw()))

    def figure(self) -> Figure:
        """The two panels as they stand, as a matplotlib `Figure` (not attached to pyplot)."""
        figure = Figure(figsize=(10, 3.2))
        loss_ax, nfe_ax = figure.subplots(1, 2)
        steps = range(1, len(self.losses) + 1)
        loss_ax.plot(steps, self.losses, label="training loss (batch NLL)")
        if self.entropy is not None:
            loss_ax.axhline(self.entropy, color="0.4", linestyle="--", label="true entropy")
        loss_ax.set(xlabel="iteration", ylabel="nats", title=self.title or "loss")
        loss_ax.legend(loc="upper right")
        nfe_ax.plot(steps, self.nfes, color="tab:red")
        title = "function evaluations of the density solve"
        nfe_ax.set(xlabel="iteration", ylabel="NFE", title=title)
        nfe_ax.set_ylim(bottom=0)
        return figure

    def draw(self) -> bytes:
        """The figure as PNG bytes."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        return buffer.getvalue()


def plot_density_table(
    grids: Mapping[tuple[str, str], DensityGrid],
    nlls: Mapping[tuple[str, str], float],
    models: Sequence[str],
    densities: Sequence[str],
) -> plt.Figure:
    """A table of density images: one row per model, one column per data density.

    Each panel shows ``grids[model, density]`` (the model's density on a grid, the course's colour
    map) titled with the model, the density and ``nlls[model, density]``, the test NLL; ticks are
    left out, so the eye compares shapes.
    """
    size = 4
    fig, axes = plt.subplots(
        len(models), len(densities), figsize=(size * len(densities), size * len(models))
    )
    axes = np.asarray(axes).reshape(len(models), len(densities))
    for row, model in enumerate(models):
        for column, density in enumerate(densities):
            title = f"{model}, {density}: test NLL {nlls[model, density]:.3f}"
            plot_density(grids[model, density], ax=axes[row, column], title=title)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
    fig.tight_layout()
    return fig
