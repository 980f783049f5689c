"""Notebook 04's figures: estimate histograms, spread against k, the probe-average animation."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import pytest

from ffjord_edu.viz import (
    plot_estimate_histograms,
    plot_integrands,
    plot_spread_vs_probes,
    plot_variance_vs_budget,
    plotly_probe_average_animation,
)


def test_estimate_histograms_mark_each_mean_and_the_truth():
    rng = np.random.default_rng(0)
    estimates = {"gaussian": rng.normal(3, 2, 500), "rademacher": rng.normal(3, 1, 500)}
    _, ax = plt.subplots()
    plot_estimate_histograms(estimates, 3.0, np.linspace(-5, 11, 33), ax, title="unbiased")
    assert len(ax.patches) == 2 * 32, "one bar per bin and probe kind"
    means = [line.get_xdata()[0] for line in ax.lines[:2]]
    assert means == pytest.approx([v.mean() for v in estimates.values()])
    assert ax.lines[-1].get_xdata()[0] == 3.0 and "true trace 3.00" in ax.lines[-1].get_label()
    assert ax.get_title() == "unbiased"


def test_spread_vs_probes_draws_measurements_and_the_square_root_law():
    counts = np.arange(1, 9)
    spread = {"gaussian": 2 / np.sqrt(counts), "rademacher": 1 / np.sqrt(counts)}
    _, ax = plt.subplots()
    plot_spread_vs_probes(counts, spread, {"gaussian": 4.0, "rademacher": 1.0}, ax)
    assert len(ax.lines) == 4
    assert np.allclose(ax.lines[0].get_ydata(), spread["gaussian"])
    assert np.allclose(ax.lines[3].get_ydata(), np.sqrt(1.0 / counts))
    assert ax.get_xscale() == "log"


def test_probe_average_animation_has_a_frame_per_k_with_normalised_bars():
    rng = np.random.default_rng(1)
    singles = rng.normal(5, 3, (200, 6))
    averages = {"gaussian": singles.cumsum(1) / np.arange(1, 7), "rademacher": singles / 2}
    figure = plotly_probe_average_animation(averages, 5.0, np.linspace(-5, 15, 41))
    assert isinstance(figure, go.Figure) and len(figure.frames) == 6
    assert [frame.name for frame in figure.frames] == [str(k) for k in range(1, 7)]
    first = figure.frames[0].data[0]
    in_range = ((singles[:, 0] >= -5) & (singles[:, 0] <= 15)).mean()
    assert sum(first.y) == pytest.approx(in_range), "bars are fractions of the repeats"
    assert len(figure.layout.sliders[0].steps) == 6
    assert "k = 3 probes" in figure.frames[2].layout.title.text


def test_integrands_draw_the_noise_first_and_label_every_curve():
    times = np.linspace(1, 0, 5)
    curves = {"exact trace": [1.0] * 5, "fixed probe": [2.0] * 5, "redrawn probe": [0, 3, 0, 3, 0]}
    _, ax = plt.subplots()
    plot_integrands(times, curves, ax)
    labels = [line.get_label() for line in ax.lines]
    assert labels[0] == "probe redrawn at every t" and len(labels) == 3
    assert np.allclose(ax.lines[0].get_ydata(), curves["redrawn probe"])


def test_variance_vs_budget_draws_each_estimator_and_the_reference():
    budgets = [6, 12, 24]
    _, ax = plt.subplots()
    variances = {"Hutchinson": [1.0, 0.5, 0.25], "Hutch++": [0.5, 0.1, 0.02]}
    plot_variance_vs_budget(budgets, variances, [1.0, 0.5, 0.25], ax, title="decaying")
    assert [line.get_label() for line in ax.lines] == [*variances, "closed form Var/m"]
    assert np.allclose(ax.lines[1].get_ydata(), variances["Hutch++"])
    assert ax.get_title() == "decaying"
