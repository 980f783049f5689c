"""Checkers added for issue #17 (helper b): notebook 07's spread of the mean, against a simulation."""

import math

import pytest
import torch

from ffjord_edu import checks
from ffjord_edu.checks import ExerciseError, check_spread_of_the_mean, simulated_spread_of_the_mean

ROW_STD = torch.linspace(0.05, 0.6, 56, dtype=torch.float64)
RIGHT = float(ROW_STD.pow(2).sum().sqrt()) / len(ROW_STD)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("FFJORD_EDU_STRICT_CHECKS", raising=False)
    monkeypatch.setattr(checks, "_wrong_tries", {})
    monkeypatch.setattr(checks, "_expected", {})


@pytest.mark.parametrize("rows", [1, 4, 56, 500])
def test_the_simulation_measures_the_spread_of_a_mean_of_independent_rows(rows):
    spreads = torch.rand(rows, generator=torch.Generator().manual_seed(rows), dtype=torch.float64)
    closed_form = float(spreads.pow(2).sum().sqrt()) / rows
    assert simulated_spread_of_the_mean(spreads) == pytest.approx(closed_form, rel=0.01)


def test_the_simulation_is_seeded_and_noisy_only_at_its_monte_carlo_error():
    first = simulated_spread_of_the_mean(ROW_STD, seed=3)
    assert simulated_spread_of_the_mean(ROW_STD, seed=3) == first
    other = simulated_spread_of_the_mean(ROW_STD, seed=4)
    assert other != first and abs(other - first) / RIGHT < 0.02


def test_the_right_prediction_passes(capsys):
    assert check_spread_of_the_mean(RIGHT, ROW_STD)
    out = capsys.readouterr().out
    assert "✅ predicted_spread is right." in out and "simulation" in out


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (float(ROW_STD.mean()), "standard deviations do not add, variances do"),
        (RIGHT * math.sqrt(len(ROW_STD)), "divide the root by N, not √N"),
        (RIGHT * 1.2, "predicted_spread is off"),
    ],
    ids=["summed standard deviations", "divided by sqrt N", "20 % off"],
)
def test_classic_mistakes_are_named(answer, message, capsys):
    assert not check_spread_of_the_mean(answer, ROW_STD)
    assert message in capsys.readouterr().out


def test_a_stub_is_not_solved_and_strict_mode_raises(capsys, monkeypatch):
    assert not check_spread_of_the_mean(..., ROW_STD)
    assert "✋ predicted_spread is not solved yet" in capsys.readouterr().out
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "1")
    with pytest.raises(ExerciseError):
        check_spread_of_the_mean(float(ROW_STD.mean()), ROW_STD)
