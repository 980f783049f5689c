"""Scrub through frames computed once: an ipywidgets player and a plotly animation.

Moving a slider never waits on an ODE solve: every frame is drawn before the widget appears.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .density import CMAP, DensityGrid

__all__ = ["FramePlayer", "plotly_density_animation", "render_frames"]


def render_frames(
    draw: Callable[[int, Axes], None],
    count: int,
    size: tuple[float, float] = (4.5, 4.5),
    dpi: int = 80,
) -> list[bytes]:
    """Call ``draw(i, ax)`` for ``i = 0 … count-1`` on a fresh axes and keep each as PNG bytes.

    Drawing happens off screen (no pyplot state), so nothing is displayed twice.
    """
    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    frames = []
    for i in range(count):
        figure.clear()
        draw(i, figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        frames.append(buffer.getvalue())
    return frames


# ipywidgets 8 has `Stack`; Colab ships 7.7, which has none (the player then pages in Python).
HAS_STACK = hasattr(widgets, "Stack")


class FramePlayer:
    """A play button and a slider over precomputed PNG frames, with a label per frame.

    Arguments:
        frames: PNG images, e.g. from `render_frames`.
        labels: one caption per frame (e.g. ``"t = 0.50"``).
        interval_ms: time between frames when playing.

    With ipywidgets 8 every frame is sent to the browser once, as one image in a ``Stack``; the
    play button, the slider, the shown image and its caption are all linked in the browser
    (``jslink``), so scrubbing needs no kernel: it also works in a static HTML page made from
    saved widget state. A Python callback keeps the kernel's copy of the shown frame in step.
    With ipywidgets 7 (Colab) one image widget shows the frame the slider picks, set from Python.
    """

    def __init__(
        self,
        frames: Sequence[bytes],
        labels: Sequence[str] | None = None,
        interval_ms: int = 150,
        description: str = "frame",
    ) -> None:
        if len(frames) == 0:
            raise ValueError("a player needs at least one frame")
        if labels is not None and len(labels) != len(frames):
            raise ValueError(f"got {len(labels)} labels for {len(frames)} frames; give one each")
        self.frames = list(frames)
        self.labels = list(labels) if labels is not None else [str(i) for i in range(len(frames))]
        last = len(self.frames) - 1
        self.slider = widgets.IntSlider(
            value=0, min=0, max=last, description=description, readout=False, continuous_update=True
        )
        self.play = widgets.Play(value=0, min=0, max=last, interval=interval_ms)
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        if HAS_STACK:
            self.images = widgets.Stack(
                [widgets.Image(value=frame, format="png") for frame in self.frames],
                selected_index=0,
            )
            self.captions = widgets.Stack(
                [widgets.Label(text) for text in self.labels], selected_index=0
            )
            for stack in (self.images, self.captions):
                widgets.jslink((self.slider, "value"), (stack, "selected_index"))
        else:
            self.images = widgets.Image(value=self.frames[0], format="png")
            self.captions = widgets.Label(self.labels[0])
        self.slider.observe(self._follow, names="value")
        self.widget = widgets.VBox(
            [widgets.HBox([self.play, self.slider, self.captions]), self.images]
        )

    @property
    def image(self) -> widgets.Image:
        """The image widget of the frame on show."""
        if HAS_STACK:
            return self.images.children[self.images.selected_index]
        return self.images

    @property
    def label(self) -> widgets.Label:
        """The caption widget of the frame on show."""
        if HAS_STACK:
            return self.captions.children[self.captions.selected_index]
        return self.captions

    def _follow(self, change: dict) -> None:
        if HAS_STACK:  # jslink moves the stacks in the browser only; mirror it in the kernel
            self.images.selected_index = self.captions.selected_index = change["new"]
        else:  # no stacks: the kernel sends the frame
            self.images.value = self.frames[change["new"]]
            self.captions.value = self.labels[change["new"]]

    def _ipython_display_(self) -> None:
        display(self.widget)


def plotly_density_animation(
    grids: Sequence[DensityGrid], labels: Sequence[str], title: str = ""
) -> go.Figure:
    """A plotly heatmap of :math:`p` per frame, with a slider and a play button.

    Everything runs in the browser, so it also works in a static HTML page with no kernel.
    """
    if len(grids) != len(labels):
        raise ValueError(f"got {len(labels)} labels for {len(grids)} grids; give one each")

    def heatmap(grid: DensityGrid) -> go.Heatmap:
        return go.Heatmap(
            x=grid.xs.tolist(),
            y=grid.ys.tolist(),
            z=grid.log_density.exp().tolist(),
            colorscale=CMAP.capitalize(),
            showscale=False,
        )

    frames = [go.Frame(data=[heatmap(g)], name=label) for g, label in zip(grids, labels)]
    step = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}
    figure = go.Figure(data=[heatmap(grids[0])], frames=frames)
    figure.update_layout(
        title=title,
        width=520,
        height=560,
        xaxis={"title": "x1"},
        yaxis={"title": "x2", "scaleanchor": "x"},
        sliders=[
            {
                "steps": [
                    {"label": label, "method": "animate", "args": [[label], step]}
                    for label in labels
                ],
                "currentvalue": {"prefix": ""},
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "showactive": False,
                "x": 0.0,
                "y": -0.12,
                "buttons": [
                    {
                        "label": "▶ play",
                        "method": "animate",
                        "args": [
                            None,
                            {"frame": {"duration": 150, "redraw": True}, "fromcurrent": True},
                        ],
                    },
                ],
            }
        ],
    )
    return figure
