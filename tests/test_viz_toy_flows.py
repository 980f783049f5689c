"""The figures of notebook 05 (`ffjord_edu.viz.toy_flows`): what they draw is what they were given."""

import matplotlib
import numpy as np
import torch

from ffjord_edu.viz import DensityGrid, LiveTrainingPlot, plot_density_table

matplotlib.use("Agg")


def test_live_training_plot_records_loss_and_nfe_per_iteration():
    plot = LiveTrainingPlot(every=2, entropy=2.5, title="8gaussians", show=False)
    for iteration, (loss, nfe) in enumerate([(4.0, 20), (3.5, 26), (3.0, 32)]):
        plot(iteration, {"loss": loss, "nfe_forward": nfe})
    assert plot.losses == [4.0, 3.5, 3.0] and plot.nfes == [20.0, 26.0, 32.0]
    loss_ax, nfe_ax = plot.figure().axes
    assert list(loss_ax.get_lines()[0].get_ydata()) == [4.0, 3.5, 3.0]
    assert list(loss_ax.get_lines()[1].get_ydata()) == [2.5, 2.5], "the entropy line"
    assert list(nfe_ax.get_lines()[0].get_ydata()) == [20.0, 26.0, 32.0]
    assert loss_ax.get_title() == "8gaussians" and nfe_ax.get_ylim()[0] == 0
    assert plot.draw().startswith(b"\x89PNG")


def test_live_training_plot_without_entropy_has_no_entropy_line():
    plot = LiveTrainingPlot(every=1, show=False)
    plot(0, {"loss": 1.0, "nfe_forward": 8})
    loss_ax, _ = plot.figure().axes
    assert len(loss_ax.get_lines()) == 1 and loss_ax.get_title() == "loss"


def grid(peak: float) -> DensityGrid:
    axis = torch.linspace(-1, 1, 5)
    return DensityGrid(axis, axis, torch.full((5, 5), peak).log())


def test_density_table_has_one_panel_per_model_and_density_with_its_nll():
    models, densities = ["FFJORD", "coupling flow"], ["8gaussians", "checkerboard", "2spirals"]
    grids = {
        (m, d): grid(0.1 + i) for i, (m, d) in enumerate((m, d) for m in models for d in densities)
    }
    nlls = {key: 2.0 + i for i, key in enumerate(grids)}
    fig = plot_density_table(grids, nlls, models, densities)
    assert len(fig.axes) == 6
    assert fig.axes[4].get_title() == "coupling flow, checkerboard: test NLL 6.000"
    image = fig.axes[4].get_images()[0].get_array()
    assert np.allclose(image, 0.1 + 4), "the panel shows exp(log p) of its own grid"
    assert fig.axes[0].get_xticks().size == 0


def test_density_table_of_one_model_and_one_density():
    fig = plot_density_table({("a", "b"): grid(0.5)}, {("a", "b"): 1.0}, ["a"], ["b"])
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "a, b: test NLL 1.000"
