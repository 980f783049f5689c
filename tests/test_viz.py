"""The visualisation layer: grids, figures, frames and players."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from ffjord_edu.datasets import toy
from ffjord_edu.viz import (
    FramePlayer,
    density_grid,
    plot_density,
    plot_samples,
    plot_trajectories,
    plot_vector_field,
    plotly_density_animation,
    render_frames,
    show_source,
    trajectories_3d,
)
from ffjord_edu.viz import player as player_module


def standard_normal(x):
    return -0.5 * (x.pow(2).sum(1) + 2 * math.log(2 * math.pi))


def test_density_grid_layout_and_mass():
    grid = density_grid(standard_normal, bound=6.0, resolution=121, chunk=1000)
    assert grid.log_density.shape == (121, 121)
    assert grid.mass == pytest.approx(1.0, abs=1e-3)
    shifted = density_grid(lambda x: standard_normal(x - torch.tensor([2.0, 0.0])), 6.0, 121)
    row, column = divmod(int(shifted.log_density.argmax()), 121)
    assert float(shifted.xs[column]) == pytest.approx(2.0, abs=0.1), "columns are x"
    assert float(shifted.ys[row]) == pytest.approx(0.0, abs=0.1), "rows are y"


def test_density_grid_of_a_toy_density_is_normalised():
    grid = density_grid(lambda x: toy.log_prob("8gaussians", x), bound=5.0, resolution=200)
    assert grid.mass == pytest.approx(1.0, abs=0.01)


def test_matplotlib_figures_are_built():
    fig, axes = plt.subplots(1, 4)
    plot_density(density_grid(standard_normal, 3.0, 20), axes[0], title="p")
    plot_samples(torch.randn(50, 2), axes[1], title="samples")
    path = torch.randn(5, 30, 2).cumsum(0)
    plot_trajectories(path, axes[2])
    plot_vector_field(lambda t, z: -z * (1 + t), 0.5, axes[3], resolution=8)
    assert len(axes[0].images) == 1 and axes[0].get_title() == "p"
    assert len(axes[1].collections) == 1 and len(axes[2].lines) == 30
    assert len(axes[3].collections) == 1 and "0.50" in axes[3].get_title()
    plt.close(fig)


def test_trajectories_3d_has_time_as_an_axis():
    path = torch.randn(4, 10, 2)
    figure = trajectories_3d(path, [0.0, 0.25, 0.5, 1.0])
    lines = figure.data[0]
    assert len(lines.x) == 10 * (4 + 1), "each particle's points plus a gap"
    assert list(lines.z[:5]) == [0.0, 0.25, 0.5, 1.0, None]
    assert figure.layout.scene.zaxis.title.text == "t"
    assert list(figure.data[2].x) == pytest.approx(path[-1, :, 0].tolist())


def test_render_frames_makes_one_png_per_frame():
    frames = render_frames(lambda i, ax: ax.plot([0, i], [0, 1]), 3, size=(2, 2), dpi=30)
    assert len(frames) == 3 and all(f.startswith(b"\x89PNG") for f in frames)
    assert frames[0] != frames[2]


def test_player_updates_its_image_when_the_slider_moves():
    frames = render_frames(lambda i, ax: ax.set_title(f"frame {i}"), 4, size=(2, 2), dpi=30)
    player = FramePlayer(frames, [f"t = {i / 3:.2f}" for i in range(4)])
    assert player.image.value == frames[0] and player.slider.max == 3
    player.slider.value = 2
    assert player.image.value == frames[2] and player.label.value == "t = 0.67"


def test_player_pages_from_python_where_ipywidgets_has_no_stack(monkeypatch):
    """Colab's ipywidgets 7.7 has no Stack: one image, its frame sent by the kernel."""
    monkeypatch.setattr(player_module, "HAS_STACK", False)
    frames = render_frames(lambda i, ax: ax.set_title(f"frame {i}"), 3, size=(2, 2), dpi=30)
    player = FramePlayer(frames, ["a", "b", "c"])
    assert player.images is player.image and player.image.value == frames[0]
    player.slider.value = 2
    assert player.image.value == frames[2] and player.label.value == "c"


@pytest.mark.parametrize(
    ("frames", "labels", "message"),
    [([], None, "at least one frame"), ([b"png"], ["a", "b"], "2 labels")],
)
def test_player_rejects_bad_frames(frames, labels, message):
    with pytest.raises(ValueError, match=message):
        FramePlayer(frames, labels)


def test_plotly_animation_has_a_frame_and_a_slider_step_per_grid():
    grids = [
        density_grid(lambda x, s=s: standard_normal(x / s) - 2 * math.log(s), 3.0, 10)
        for s in (1.0, 1.5, 2.0)
    ]
    figure = plotly_density_animation(grids, ["a", "b", "c"])
    assert [frame.name for frame in figure.frames] == ["a", "b", "c"]
    assert len(figure.layout.sliders[0].steps) == 3
    assert figure.to_json()  # serialisable: renders without a kernel


def test_show_source_returns_the_code():
    code = show_source(standard_normal)
    assert "def standard_normal" in code.data
