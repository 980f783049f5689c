"""Notebook 09's figures: the IWAE bound against K, posterior pictures, reconstructions, samples."""

import math

import pytest
import torch

from ffjord_edu.viz import (
    local_log_posterior,
    plot_iwae_bounds,
    plot_prior_samples,
    plot_reconstructions,
    posterior_frames,
)


def gaussian_log_joint(x, z):
    """log N(z; x[:, :2], 0.5² I): a posterior centred on the first two pixels of x."""
    return (
        -0.5 * ((z - x[:, :2]) / 0.5).pow(2).sum(dim=1) - 2 * math.log(0.5) - math.log(2 * math.pi)
    )


def test_iwae_figure_plots_the_bounds_between_elbo_and_evidence():
    fig = plot_iwae_bounds([1, 4, 16], [-7.9, -7.0, -6.5], evidence=-6.2, elbo=-7.85)
    (ax,) = fig.axes
    assert list(ax.lines[0].get_ydata()) == [-7.9, -7.0, -6.5]
    assert [line.get_ydata()[0] for line in ax.lines[1:]] == [-6.2, -7.85]


def test_local_log_posterior_is_centred_on_the_samples_and_peaks_at_zero():
    x = torch.tensor([1.0, -2.0] + [0.0] * 62)
    samples = torch.tensor([1.0, -2.0]) + 0.5 * torch.randn(500, 2)
    xs, ys, relative = local_log_posterior(gaussian_log_joint, x, samples, grid_size=41)
    assert relative.shape == (41, 41) and float(relative.max()) == 0.0
    row, column = divmod(int(relative.argmax()), 41)
    assert float(xs[column]) == pytest.approx(1.0, abs=0.3), "columns run along z_1"
    assert float(ys[row]) == pytest.approx(-2.0, abs=0.3), "rows run along z_2"
    assert float(xs[-1] - xs[0]) == pytest.approx(8 * float(samples.std(dim=0).max()) + 0.1)


def test_posterior_frames_are_one_png_per_image():
    images = torch.rand(2, 64)
    samples = {"a": torch.randn(2, 50, 2), "b": torch.randn(2, 50, 2)}
    posteriors = {
        (name, i): local_log_posterior(gaussian_log_joint, images[i], samples[name][i], 20)
        for name in samples
        for i in range(2)
    }
    frames = posterior_frames(images, ["one", "two"], samples, posteriors)
    assert len(frames) == 2 and all(frame[:4] == b"\x89PNG" for frame in frames)
    assert frames[0] != frames[1]


def test_reconstructions_show_every_row_and_the_latent_mosaic():
    originals = torch.rand(3, 64)
    fig = plot_reconstructions(originals, {"q1": originals * 0, "q2": originals}, torch.rand(9, 64))
    left, right = fig.axes
    picture = left.images[0].get_array()
    assert picture.shape == (8 * 3, 8 * 3)
    assert (picture[8:16] == 0).all(), "the second row is the first model's reconstruction"
    assert [t.get_text() for t in left.get_yticklabels()] == ["data", "q1", "q2"]
    assert right.images[0].get_array().shape == (24, 24)


def test_prior_samples_one_panel_per_model():
    fig = plot_prior_samples({"gaussian": torch.rand(4, 64), "ffjord": torch.ones(4, 64)})
    assert len(fig.axes) == 2
    assert fig.axes[1].images[0].get_array().shape == (8, 32)
    assert "ffjord" in fig.axes[1].get_title()
