"""The figures of notebook 07 (`ffjord_edu.viz.tabular`): what they draw is what they were given."""

import json

import matplotlib
import numpy as np
import pytest

from ffjord_edu import data_path
from ffjord_edu.viz import (
    LiveCurve,
    benchmark_table,
    plot_recorded_benchmark,
    plot_row_nlls,
    plot_sample_panels,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def recorded():
    return json.loads(data_path("tabular/baselines.json").read_text())


def test_live_curve_records_losses_and_evaluations_and_stars_the_best():
    curve = LiveCurve(bar=7.0, bar_name="Gaussian", show=False)
    for iteration, loss in enumerate([8.0, 7.5, 7.0, 6.8]):
        record = {"loss": loss}
        if iteration % 2 == 1:
            record["validation_nll"] = 7.2 - 0.5 * (iteration == 1)
        curve(iteration, record)
    assert curve.losses == [8.0, 7.5, 7.0, 6.8]
    assert curve.evaluations == [(2, 6.7), (4, 7.2)]
    ax = curve.figure().axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    expected = ["training loss", "validation NLL", "best so far: 6.700"]
    assert labels == [*expected, "Gaussian, validation: 7.000"]
    best = ax.get_lines()[2]
    assert list(best.get_xdata()) == [2] and list(best.get_ydata()) == [6.7]
    assert curve.draw().startswith(b"\x89PNG")


def test_live_curve_before_any_evaluation_draws_the_loss_and_the_bar_only():
    curve = LiveCurve(bar=6.0, show=False)
    curve(0, {"loss": 9.0})
    assert len(curve.figure().axes[0].get_lines()) == 2


def test_row_nlls_plots_one_trace_per_baseline_and_the_diagonal():
    cnf = np.array([6.0, 7.0, 9.0])
    baselines = {"Gaussian": np.array([6.5, 8.0, 12.0]), "RealNVP": np.array([6.1, 6.9, 9.5])}
    rows = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    figure = plot_row_nlls(cnf, baselines, rows, ["area", "compactness"])
    names = [trace.name for trace in figure.data]
    assert names == ["Gaussian", "RealNVP", "equal"]
    assert np.array_equal(figure.data[0].x, cnf) and np.array_equal(
        figure.data[1].y, [6.1, 6.9, 9.5]
    )
    assert figure.data[0].text[2] == "area: 5<br>compactness: 6"
    low, top = figure.data[2].x
    assert low <= 6.0 and top >= 12.0, "the diagonal spans every point"
    assert "CNF is better" in figure.layout.title.text


def test_sample_panels_draw_each_set_of_points_in_its_own_panel():
    points = {"train": np.zeros((5, 3)), "model": np.ones((7, 3))}
    fig = plot_sample_panels(points, ["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["train", "model"]
    assert len(fig.axes[1].get_lines()[0].get_xdata()) == 7
    assert fig.axes[0].get_ylabel() == "b (z-scored)"


def test_benchmark_table_has_one_line_per_run_and_one_mean_per_group(recorded):
    table = benchmark_table(recorded).splitlines()
    runs = len(recorded["default_split"]) + len(recorded["other_splits"])
    assert len(table) == 4 + runs + 2
    assert table[0] == f"made by: {recorded['source']}"
    first = recorded["default_split"][0]
    assert f"{first['test_nll']['cnf']:8.3f}" in table[4]
    assert f"{first['paired']['cnf - realnvp']['mean']:+7.3f}" in table[4]
    mean = recorded["default_split_summary"]["mean_test_nll"]["gaussian"]
    assert table[4 + len(recorded["default_split"])].startswith(f"{'mean':>10} | {mean:8.3f}")


def test_recorded_benchmark_has_three_bars_per_group_at_the_recorded_means(recorded):
    fig = plot_recorded_benchmark(recorded)
    ax = fig.axes[0]
    groups = 1 + len(recorded["other_splits"])
    assert len(ax.patches) == 3 * groups
    means = recorded["default_split_summary"]["mean_test_nll"]
    heights = [bar.get_height() for bar in ax.patches[:3]]
    expected = [means[key] for key in ["gaussian", "realnvp", "cnf"]]
    assert heights == pytest.approx(expected)
    last = recorded["other_splits"][-1]["test_nll"]["cnf"]
    assert ax.patches[-1].get_height() == pytest.approx(last)
    ticks = [label.get_text() for label in ax.get_xticklabels()]
    assert ticks[0] == "default split (3 seeds)" and len(ticks) == groups
