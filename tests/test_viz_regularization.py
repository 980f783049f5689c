"""Notebook 06's RNODE figures, run tables and explorer, on small records and on the shipped data."""

import json

import ipywidgets as widgets
import numpy as np

import ffjord_edu
from ffjord_edu.viz import regularization as drawing


def shipped(name):
    return json.loads(ffjord_edu.data_path(name).read_text())


def run(k, j, nll, nfe, sample=30):
    return {
        "lambda_kinetic": k,
        "lambda_jacobian": j,
        "test_nll": nll,
        "kl_gap": None,
        "nfe_per_solve": nfe,
        "nfe_sample": sample,
        "mean_training_nfe": 40.0,
        "path_integrals": {"kinetic": 3.0, "jacobian": 2.0},
        "training_nfe": [20, 30, 40, 50, 60, 70, 80, 90],
    }


SMALL = {
    "data": "checkerboard",
    "true_entropy": 3.4657,
    "runs": [run(0, 0, 3.50, 100), run(0.01, 0.01, 3.52, 50), run(0.1, 0, 3.60, 40)],
}


def test_run_names():
    assert drawing.run_name(run(0, 0, 0, 1)) == "unregularised"
    assert drawing.run_name(run(0.1, 0.1, 0, 1)) == "λ = 0.1"
    assert drawing.run_name(run(0.1, 0, 0, 1)) == "λ_K = 0.1, λ_J = 0"


def test_rolling_mean_averages_windows_and_shrinks_for_short_series():
    x, means = drawing.rolling_mean([1, 2, 3, 4, 5, 6, 7, 8], 2)
    assert list(x) == [1, 2, 3, 4, 5, 6, 7] and list(means) == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]
    x, means = drawing.rolling_mean([1, 2, 3, 4], 25)  # a quarter of the series: window 1
    assert list(means) == [1, 2, 3, 4]


def test_print_runs_judges_each_run_against_the_target(capsys):
    assert drawing.print_runs(SMALL) == [True, False]  # 2x at +0.02 meets; 2.5x at +0.10 misses
    out = capsys.readouterr().out
    assert "2.00× fewer NFE" in out and "meets the target" in out and "misses the target" in out
    assert len(out.splitlines()) == 1 + 3 + 1 + 2


def test_print_runs_reproduces_the_shipped_verdicts(capsys):
    assert not any(drawing.print_runs(shipped("regularization/runs.json")))
    assert drawing.print_runs(shipped("regularization/recipe_runs.json")) == [
        True,
        True,
        True,
        False,
    ]


def test_training_nfe_draws_every_run_twice():
    fig = drawing.plot_training_nfe(SMALL, window=2)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 * len(SMALL["runs"])
    assert list(ax.lines[0].get_ydata()) == SMALL["runs"][0]["training_nfe"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "unregularised",
        "λ = 0.01",
        "λ_K = 0.1, λ_J = 0",
    ]


def test_penalty_tradeoff_places_each_run():
    fig = drawing.plot_penalty_tradeoff(SMALL)
    (ax,) = fig.axes
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert [(p.get_xdata()[0], p.get_ydata()[0]) for p in points] == [
        (100, 3.50),
        (50, 3.52),
        (40, 3.60),
    ]
    assert [a.get_text() for a in ax.texts] == [drawing.run_name(r) for r in SMALL["runs"]]


def test_live_nfe_has_one_line_per_weight():
    live = {0.0: [{"nfe_forward": 14}, {"nfe_forward": 20}], 0.01: [{"nfe_forward": 26}] * 2}
    fig = drawing.plot_live_nfe(live)
    (ax,) = fig.axes
    assert [list(line.get_ydata()) for line in ax.lines] == [[14, 20], [26, 26]]
    assert "2 iterations" in ax.get_title()


def test_nfe_vs_dim_on_the_shipped_benchmark():
    rows = shipped("nfe_vs_dim/benchmark.json")["rows"]
    fig = drawing.plot_nfe_vs_dim(rows)
    curves, by_dim = fig.axes
    assert len(curves.lines) == len(rows)
    assert list(by_dim.lines[0].get_ydata()) == [row["density_nfe_1e-5"] for row in rows]
    assert list(by_dim.lines[0].get_xdata()) == [row["dim"] for row in rows]


def test_the_explorer_shows_the_grid_files_numbers():
    grid = shipped("regularization/grid.json")
    for entry in grid["runs"]:  # what the summary shows at 1e-5 is the evaluation at 1e-5
        assert len(entry["nfe"]) == grid["train_config"]["iters"]
        final = next(e for e in entry["evaluation"] if e["tol"] == 1e-5)
        assert (final["test_nll"], final["nfe"]) == (entry["test_nll"], entry["nfe_per_solve"])
    explorer = drawing.regularization_explorer(grid)
    weight, tol, summary, picture = explorer.children
    assert isinstance(weight, widgets.ToggleButtons) and isinstance(picture, widgets.Image)
    first = picture.value
    assert first[:4] == b"\x89PNG"
    weight.value = weight.options[-1][1]
    chosen = next(
        r for r in grid["runs"] if (r["weight"], r["train_tol"]) == (weight.value, tol.value)
    )
    assert f"{chosen['test_nll']:.4f}" in summary.value
    assert f"<b>{chosen['nfe_per_solve']}</b>" in summary.value
    assert picture.value != first
    assert np.isfinite(chosen["test_nll"])
