"""The playground of notebook 11: type a word or upload a picture, train a flow on it, watch.

`Playground` holds the widgets (a text box, an upload button, the objective, Train / Stop, a
status line and a live view) and one `ffjord_edu.training.picture.PictureTrainer`. Training runs
in a background thread in short steps, so the notebook stays responsive and Stop takes effect
after the current step; `Playground.train` is the same loop called directly, which is how a
notebook runs it without a browser (tests, the static book).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import display
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..cnf import CNF
from ..datasets import picture
from ..datasets.picture import PictureDensity
from ..training.picture import (
    PICTURE_OBJECTIVES,
    PictureTrainer,
    picture_model,
    picture_recipe,
    sampling_nfe,
)
from .density import CMAP
from .player import FramePlayer, render_frames

__all__ = [
    "Playground",
    "draw_live_view",
    "flow_player",
    "histogram_frame",
    "leaked_fraction",
    "uploaded_files",
]


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each file in a ``FileUpload``'s value, from either ipywidgets:
    7.x gives ``{name: {"metadata": {...}, "content": bytes}}``, 8.x a tuple of dicts with
    ``"name"`` and ``"content"`` (a memoryview)."""
    if isinstance(value, dict):  # ipywidgets 7
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value or ()]


def histogram_frame(ax: Axes, points: torch.Tensor, extent: Sequence[float], title: str) -> None:
    """A 2-D histogram of ``points`` over ``extent`` (x0, x1, y0, y1), padded by a fifth, with
    square bins, as many as keep about two points per bin where the points spread evenly."""
    x0, x1, y0, y1 = extent
    pad = 0.2 * max(x1 - x0, y1 - y0) / 2
    box = [[x0 - pad, x1 + pad], [y0 - pad, y1 + pad]]
    aspect = (box[0][1] - box[0][0]) / (box[1][1] - box[1][0])
    short = int(np.clip((len(points) / (2 * max(aspect, 1 / aspect))) ** 0.5, 12, 80))
    bins = (round(short * aspect), short) if aspect >= 1 else (short, round(short / aspect))
    points = points.detach().cpu().numpy()
    ax.hist2d(points[:, 0], points[:, 1], bins=bins, range=box, cmap=CMAP)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", aspect="equal")


def draw_live_view(
    axes: Sequence[Axes], history: Sequence[dict[str, float]], samples: torch.Tensor | None,
    nfe: Sequence[tuple[int, int]], extent: Sequence[float], title: str,
) -> None:  # fmt: skip
    """Three panels: the training loss, the NFE of a sampling solve, the current samples."""
    loss_ax, nfe_ax, sample_ax = axes
    if history:
        steps = [record["iteration"] for record in history]
        loss_ax.plot(steps, [record["loss"] for record in history], linewidth=0.8)
    loss_ax.set(title="training loss", xlabel="step")
    if nfe:
        nfe_ax.plot(*zip(*nfe), marker="o")
    nfe_ax.set(title="NFE to sample (dopri5)", xlabel="step")
    if samples is not None:
        histogram_frame(sample_ax, samples, extent, title)


class Playground:
    """Widgets to turn a word or a picture into a density and train a flow on it.

    Arguments:
        text: the starting word.
        steps_per_click: how many steps one press of Train runs (Stop ends it sooner).
        refresh_every: steps between two updates of the live view.
        view_samples: samples drawn for each update of the live view.

    Attributes:
        density: the current `PictureDensity`; ``model`` and ``trainer`` the current run
            (a new run starts when the picture or the objective changes).
    """

    def __init__(
        self,
        text: str = "FFJORD",
        steps_per_click: int = 3000,
        refresh_every: int = 100,
        view_samples: int = 2000,
    ) -> None:
        self.steps_per_click, self.refresh_every, self.view_samples = (
            steps_per_click,
            refresh_every,
            view_samples,
        )
        self.density = picture.from_text(text)
        self.trainer: PictureTrainer | None = None
        self.nfe: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.text = widgets.Text(value=text, description="word")
        if self.text.has_trait("continuous_update"):  # a new picture on Enter, not per key
            self.text.continuous_update = False
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="picture")
        self.objective = widgets.Dropdown(
            options=list(PICTURE_OBJECTIVES), value="flow matching", description="objective"
        )
        self.button = widgets.Button(description="Train", button_style="success", icon="play")
        self.status = widgets.Label(value=f"picture: {self.density.name}; press Train")
        self.view = widgets.Image(format="png", value=self._render())
        self.text.observe(self._on_text, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.objective.observe(lambda change: self._new_run(), names="value")
        self.button.on_click(self._on_click)
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.text, self.upload]),
                widgets.HBox([self.objective, self.button]),
                self.status,
                self.view,
            ]
        )

    # --- the picture and the run ---------------------------------------------------------------
    def use(self, density: PictureDensity) -> None:
        """Learn ``density`` from now on (a new run)."""
        self.density = density
        self._new_run()
        self.view.value = self._render()

    def _on_text(self, change: dict) -> None:
        try:
            self.use(picture.from_text(change["new"]))
        except ValueError as error:
            self.status.value = f"⚠ {error}"

    def _on_upload(self, change: dict) -> None:
        files = uploaded_files(change["new"])
        if not files:
            return
        name, content = files[-1]
        try:
            density = picture.from_image(content)
        except ValueError as error:
            self.status.value = f"⚠ {name}: {error}"
            return
        self.use(picture.PictureDensity(density.weights, density.extent, name))

    def _new_run(self) -> None:
        self.stop()
        self.trainer, self.nfe = None, []
        self.status.value = f"picture: {self.density.name}; press Train"

    @property
    def model(self) -> CNF | None:
        """The flow being trained (``None`` before the first step)."""
        return None if self.trainer is None else self.trainer.model

    def _ensure_trainer(self) -> PictureTrainer:
        if self.trainer is None:
            objective = self.objective.value
            self.trainer = PictureTrainer(
                picture_model(objective),
                self.density,
                # constant rate: every press of Train goes on learning
                replace(picture_recipe(objective), schedule="constant"),
            )
        return self.trainer

    # --- training ------------------------------------------------------------------------------
    def train(self, steps: int | None = None) -> int:
        """Run up to ``steps`` steps (default `steps_per_click`) here, updating the live view;
        returns how many ran (fewer when `stop` was called)."""
        trainer = self._ensure_trainer()
        self._stop.clear()

        def refresh(record: dict[str, float]) -> None:
            if record["iteration"] % self.refresh_every == 0:
                self.refresh()

        taken = trainer.run(steps or self.steps_per_click, self._stop.is_set, refresh)
        self.refresh()
        return taken

    def start(self) -> None:
        """Train in a background thread; the button turns into Stop."""
        if self.running:
            return
        self.button.description, self.button.icon, self.button.button_style = (
            "Stop",
            "stop",
            "danger",
        )
        self._thread = threading.Thread(target=self._train_in_background, daemon=True)
        self._thread.start()

    def _train_in_background(self) -> None:
        try:
            self.train()
        except Exception as error:  # shown in the status line: a thread has no cell to fail
            self.status.value = f"⚠ training stopped: {type(error).__name__}: {error}"
        finally:
            self.button.description, self.button.icon, self.button.button_style = (
                "Train",
                "play",
                "success",
            )

    def stop(self) -> None:
        """Ask the training to stop after its current step, and wait for it."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _on_click(self, button: widgets.Button) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    # --- the live view -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Draw samples from the current flow, count the NFE of that solve, redraw the view."""
        trainer = self.trainer
        if trainer is None or not trainer.history:
            return
        samples, nfe = sampling_nfe(trainer.model, self.view_samples)
        self.nfe.append((trainer.iteration, nfe))
        last = trainer.history[-1]
        self.status.value = (
            f"{self.density.name}: step {trainer.iteration}, loss {last['loss']:.3f}, "
            f"sampling NFE {nfe}, {trainer.seconds:.0f} s of training"
        )
        self.view.value = self._render(samples)

    def _render(self, samples: torch.Tensor | None = None) -> bytes:
        if samples is None:  # before training: show the picture's own samples
            samples = self.density.sample(self.view_samples, torch.Generator().manual_seed(0))
            title = f"the data: {self.density.name}"
        else:
            title = "samples of the flow"
        history = self.trainer.history if self.trainer is not None else []
        return _three_panels(history, samples, self.nfe, self.density.extent, title)

    def _ipython_display_(self) -> None:
        display(self.widget)


def _three_panels(
    history: Sequence[dict[str, float]],
    samples: torch.Tensor,
    nfe: Sequence[tuple[int, int]],
    extent: Sequence[float],
    title: str,
) -> bytes:
    """The live view as PNG bytes (drawn off screen)."""
    figure = Figure(figsize=(12, 3.2), dpi=72)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, 4)
    axes = [figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1]),
            figure.add_subplot(grid[0, 2:])]  # fmt: skip
    draw_live_view(axes, history, samples, nfe, extent, title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def flow_player(
    model: CNF,
    density: PictureDensity,
    frames: int = 11,
    particles: int = 20_000,
    seed: int = 0,
) -> tuple[FramePlayer, torch.Tensor]:
    """A `FramePlayer` of the flow's density from t = 0 (noise) to t = T (the picture), as
    histograms of ``particles`` carried along one solve; also returns the frame times."""
    times = torch.linspace(0.0, model.total_time, frames)
    start = torch.randn(particles, 2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        path = model.trajectory(start, times)

    def draw(i: int, ax: Axes) -> None:
        histogram_frame(ax, path[i], density.extent, f"{density.name}: t = {times[i]:.1f}")

    images = render_frames(draw, frames, size=(7.5, 3.0))
    labels = [f"t = {t:.1f}" for t in times.tolist()]
    return FramePlayer(images, labels, description="t"), times


def leaked_fraction(density: PictureDensity, samples: torch.Tensor) -> float:
    """The fraction of ``samples`` where the picture has no mass (between the letters)."""
    return float(np.isneginf(density.log_prob(samples.double()).numpy()).mean())
