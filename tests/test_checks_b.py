"""Checkers added for issue #17 (helper b): independent oracles for exercises of 05, 07 and 08."""

import math

import pytest
import torch

import ffjord_edu
from ffjord_edu.course import checks
from ffjord_edu.course.checks import (
    ExerciseError,
    check_kl_gaps_on_fresh_points,
    check_log_density_normalised,
    check_spread_of_the_mean,
    check_uniform_code_length,
    simulated_spread_of_the_mean,
    uniform_code_length,
)
from ffjord_edu.datasets import toy

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


@pytest.fixture(scope="module")
def eight():
    flow = ffjord_edu.load_pretrained("toy/8gaussians")
    options = {"method": "dopri5", "step_size": None, "trace": "exact", "atol": 1e-3, "rtol": 1e-3}
    with flow.using(**options):
        yield flow


def log_density(flow, x):
    z, delta_logp = flow(x)
    return -0.5 * z.pow(2).sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi) - delta_logp


def test_a_right_log_density_integrates_to_one(eight, capsys):
    assert check_log_density_normalised(log_density, eight)
    out = capsys.readouterr().out
    assert "integrates to 1.00" in out or "integrates to 0.99" in out


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (lambda flow, x: log_density(flow, x) + 2 * flow(x)[1], "the sign of the log-determinant"),
        (lambda flow, x: log_density(flow, x) + math.log(2 * math.pi), "constant"),
    ],
    ids=["flipped sign", "constant left out"],
)
def test_a_wrong_log_density_is_named_before_the_grid(eight, mistake, message, capsys):
    assert not check_log_density_normalised(mistake, eight)
    out = capsys.readouterr().out
    assert message in out and "integrates" not in out


def test_the_grid_catches_a_density_that_leaves_the_square(eight, capsys):
    """A flow whose mass lies outside the grid's square fails the oracle, whatever the formula."""
    assert not check_log_density_normalised(log_density, eight, bound=1.0, resolution=20)
    assert "not 1: it is not a density" in capsys.readouterr().out


@pytest.mark.parametrize(("dim", "levels", "bits"), [(2, 4, 2.0), (3072, 256, 8.0), (64, 17, None)])
def test_the_enumerated_code_length_of_the_uniform_model(dim, levels, bits):
    expected = bits if bits is not None else math.log2(levels)
    assert uniform_code_length(dim, levels) == pytest.approx(expected, rel=1e-12)


def test_uniform_bits_per_dim_passes_the_right_answer(capsys):
    assert check_uniform_code_length(8.0)
    assert "✅ uniform_cifar_bpd is right." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (math.log(256), "that is in nats"),
        (8.0 * 3072, "the code length of a whole image"),
        (math.log2(17), "the digits' value (17 levels)"),
        (7.0, "uniform_cifar_bpd is off"),
    ],
    ids=["nats", "per image", "digits' levels", "off"],
)
def test_uniform_bits_per_dim_names_the_classic_mistakes(answer, message, capsys):
    assert not check_uniform_code_length(answer)
    assert message in capsys.readouterr().out


LOOSE = {"method": "dopri5", "step_size": None, "trace": "exact", "atol": 1e-4, "rtol": 1e-4}


@pytest.fixture(scope="module")
def kl_setting():
    """Two pretrained flows, their NLLs on 600 test points each, and the two right answers."""
    flows = {name: ffjord_edu.load_pretrained(f"toy/{name}") for name in toy.HAS_LOG_PROB}
    points = {name: toy.sample(name, 600, seed=123) for name in toy.HAS_LOG_PROB}
    nll = {}
    for name, flow in flows.items():
        with torch.no_grad(), flow.using(**LOOSE):
            nll[name] = -flow.log_prob(points[name])
    gap = float(nll["checkerboard"].mean()) - toy.entropy("checkerboard")
    paired = float((toy.log_prob("8gaussians", points["8gaussians"]) + nll["8gaussians"]).mean())
    return flows, points, nll, gap, paired


def test_right_kl_estimates_agree_with_the_fresh_monte_carlo(kl_setting, capsys):
    flows, points, nll, gap, paired = kl_setting
    assert check_kl_gaps_on_fresh_points(gap, paired, nll, points, flows, LOOSE, fresh=600)
    assert "agree with a Monte Carlo on 600 fresh points" in capsys.readouterr().out


def test_the_fresh_monte_carlo_does_not_trust_the_students_nlls(kl_setting, capsys):
    """NLLs off by half a nat give self-consistent answers that only an independent sample exposes."""
    flows, points, nll, gap, paired = kl_setting
    shifted = {name: values + 0.5 for name, values in nll.items()}
    ok = check_kl_gaps_on_fresh_points(
        gap + 0.5, paired + 0.5, shifted, points, flows, LOOSE, fresh=600
    )
    assert not ok
    assert "disagrees by over 4 standard errors" in capsys.readouterr().out


def test_a_flipped_kl_is_named_before_the_monte_carlo(kl_setting, capsys):
    flows, points, nll, gap, paired = kl_setting
    assert not check_kl_gaps_on_fresh_points(-gap, paired, nll, points, flows, LOOSE, fresh=600)
    out = capsys.readouterr().out
    assert "the sign is flipped" in out and "Monte Carlo" not in out
