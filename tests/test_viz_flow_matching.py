"""Notebook 10's figures: couplings, models, path shapes, sampling error against NFE, timing."""

import json

import pytest
import torch

import ffjord_edu
from ffjord_edu.models.flow_matching import transport_cost
from ffjord_edu.viz import density_grid
from ffjord_edu.viz import flow_matching as drawing


def test_couplings_draw_one_line_per_pair_and_give_the_cost():
    noise, data = torch.randn(5, 2), torch.randn(5, 2)
    fig = drawing.plot_couplings({"independent": noise, "OT": noise.flip(0)}, data)
    assert len(fig.axes) == 2
    for ax, paired in zip(fig.axes, (noise, noise.flip(0))):
        assert len(ax.lines) == 5
        assert f"total cost {float(transport_cost(paired, data)):.0f}" in ax.get_title()


def test_loss_curve_plots_the_losses():
    fig = drawing.plot_loss_curve([3.0, 2.0, 1.5])
    assert list(fig.axes[0].lines[0].get_ydata()) == [3.0, 2.0, 1.5]


def test_flow_models_show_density_and_samples_per_model():
    def log_prob(x):
        return -0.5 * x.pow(2).sum(1) - torch.log(torch.tensor(2 * torch.pi))

    grid = density_grid(log_prob, resolution=20)
    fig = drawing.plot_flow_models(
        {"a": grid, "b": grid}, {"a": torch.randn(30, 2), "b": torch.randn(7, 2)}
    )
    assert len(fig.axes) >= 4
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("a: density, mass") for t in titles)
    assert "b: 7 samples" in titles


def test_path_shapes_one_panel_per_model():
    paths = {"MLE": torch.randn(5, 10, 2).cumsum(0), "FM": torch.randn(5, 10, 2)}
    fig = drawing.plot_path_shapes(paths, {"MLE": "first", "FM": "second"})
    assert [ax.get_title() for ax in fig.axes[:2]] == ["first", "second"]


def test_sampling_errors_shrink_with_steps_and_are_plotted():
    flow = ffjord_edu.load_pretrained("ot_flow_matching/8gaussians")
    z0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    errors = drawing.sampling_errors({"OT-FM": flow}, z0, [1, 4])
    assert [nfe for nfe, _ in errors["OT-FM", "euler"]] == [1, 4]
    assert [nfe for nfe, _ in errors["OT-FM", "rk4"]] == [4, 16]
    for method in ("euler", "rk4"):
        (_, coarse), (_, fine) = errors["OT-FM", method]
        assert fine < coarse
    fig = drawing.plot_sampling_errors(errors)
    assert list(fig.axes[1].lines[0].get_xdata()) == [4, 16]


def test_nll_against_time_reads_the_shipped_benchmark():
    results = json.loads(ffjord_edu.data_path("flow_matching/benchmark.json").read_text())
    fig = drawing.plot_nll_against_time(results)
    (ax,) = fig.axes
    first = next(iter(results["seeds"].values()))
    mle = [h["test_nll"] for h in first["runs"]["mle"]["history"]]
    assert list(ax.lines[0].get_ydata()) == mle
    assert ax.lines[3].get_ydata()[0] == pytest.approx(results["true_entropy"])
