"""New exercise checkers of notebooks 09-11: right answers pass, classic slips are named."""

import math

import pytest
import torch
from scipy.optimize import linear_sum_assignment

from ffjord_edu.course import checks
from ffjord_edu.course.checks import (
    check_conditional_target,
    check_gaussian_elbo,
    check_log_volume_change,
    check_ot_pairing,
)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "0")
    checks._wrong_tries.clear()


def right_target(x0, x1, t):
    return (1 - t[:, None]) * x0 + t[:, None] * x1, x1 - x0


def test_conditional_target_right_and_not_attempted(capsys):
    assert check_conditional_target(right_target)
    assert "✅" in capsys.readouterr().out
    assert not check_conditional_target(...)
    assert "not solved yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        (lambda x0, x1, t: (right_target(x0, x1, t)[0], x0 - x1), "velocity points backwards"),
        (lambda x0, x1, t: (right_target(x1, x0, t)[0], x1 - x0), "path runs the wrong way"),
    ],
)
def test_conditional_target_names_the_slips(capsys, wrong, named):
    assert not check_conditional_target(wrong)
    assert named in capsys.readouterr().out


def test_conditional_target_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "1")
    with pytest.raises(checks.ExerciseError):
        check_conditional_target(lambda x0, x1, t: (x0, x1 - x0))


def right_pairing(x0, x1):
    return torch.as_tensor(linear_sum_assignment(torch.cdist(x1, x0).pow(2).numpy())[1])


def test_ot_pairing_right(capsys):
    assert check_ot_pairing(right_pairing)
    out = capsys.readouterr().out
    assert "✅" in out and "never costs more" in out


def test_ot_pairing_names_the_unsquared_distance(capsys):
    def not_squared(x0, x1):
        return torch.as_tensor(linear_sum_assignment(torch.cdist(x1, x0).numpy())[1])

    assert not check_ot_pairing(not_squared)
    assert "not the total squared distance" in capsys.readouterr().out


def test_ot_pairing_names_the_inverse_permutation(capsys):
    def wrong_direction(x0, x1):
        return torch.as_tensor(linear_sum_assignment(torch.cdist(x0, x1).pow(2).numpy())[1])

    assert not check_ot_pairing(wrong_direction)
    assert "sigma must index x0" in capsys.readouterr().out


def test_ot_pairing_identity_is_wrong(capsys):
    assert not check_ot_pairing(lambda x0, x1: torch.arange(len(x0)))
    assert "❌" in capsys.readouterr().out


def test_enumeration_oracle_agrees_with_the_hungarian_algorithm():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        x0, x1 = torch.randn(2, 6, 2, generator=generator)
        enumerated = checks._cheapest_pairing_by_enumeration(x0, x1)
        assert torch.equal(enumerated, right_pairing(x0, x1))


# --- notebook 11, exercise 1: the log-volume change of a perfect flow, against Monte Carlo --------


def right_log_volume_change(density):
    return density.entropy() - math.log(2 * math.pi * math.e)


def test_log_volume_change_right(capsys):
    assert check_log_volume_change(right_log_volume_change, True)
    out = capsys.readouterr().out
    assert out.count("✅") == 2


def test_log_volume_change_oracle_is_monte_carlo_close_to_the_identity():
    for density in checks._stroke_pictures().values():
        sampled = checks._log_volume_change_by_monte_carlo(density)
        assert sampled == pytest.approx(right_log_volume_change(density), abs=0.005)


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        (lambda d: d.entropy(), "the Gaussian's part is missing"),
        (lambda d: d.entropy() - 0.5 * math.log(2 * math.pi * math.e), "that of one dimension"),
        (lambda d: math.log(2 * math.pi * math.e) - d.entropy(), "the sign is flipped"),
    ],
)
def test_log_volume_change_names_the_slips(capsys, wrong, named):
    assert not check_log_volume_change(wrong, True)
    assert named in capsys.readouterr().out


def test_log_volume_change_wrong_prediction_and_not_attempted(capsys):
    assert not check_log_volume_change(right_log_volume_change, False)
    assert "is their entropy higher or lower?" in capsys.readouterr().out
    assert not check_log_volume_change(..., ...)
    assert capsys.readouterr().out.count("not solved yet") == 2


# --- notebook 09, exercise 1: the Gaussian ELBO of the linear-Gaussian model, by quadrature ----


@pytest.fixture
def linear_gaussian():
    from ffjord_edu.models.linear_gaussian import LinearGaussian

    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    return LinearGaussian(weight, torch.randn(3, generator=generator, dtype=torch.float64), 0.7)


def test_quadrature_oracle_matches_the_closed_form(linear_gaussian):
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    mean = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    std = torch.rand(5, 2, generator=generator, dtype=torch.float64) + 0.1
    quadrature = checks._elbo_by_quadrature(linear_gaussian, x, mean, std)
    assert torch.allclose(quadrature, linear_gaussian.elbo(x, mean, std), atol=1e-10)


def test_gaussian_elbo_right(capsys, linear_gaussian):
    assert check_gaussian_elbo(linear_gaussian.elbo, linear_gaussian)
    assert "✅" in capsys.readouterr().out


def test_gaussian_elbo_names_the_missing_spread(capsys, linear_gaussian):
    lg = linear_gaussian

    def at_the_mean(x, mean, std):
        spread = (std**2 * lg.weight.pow(2).sum(dim=0)).sum(dim=1) / (2 * lg.noise_std**2)
        return lg.elbo(x, mean, std) + spread

    assert not check_gaussian_elbo(at_the_mean, lg)
    assert "evaluated at the mean only" in capsys.readouterr().out


def test_gaussian_elbo_names_the_added_kl(capsys, linear_gaussian):
    lg = linear_gaussian

    def plus_kl(x, mean, std):
        kl = 0.5 * (std**2 + mean**2 - 1 - torch.log(std**2)).sum(dim=1)
        return lg.elbo(x, mean, std) + 2 * kl

    assert not check_gaussian_elbo(plus_kl, lg)
    assert "*minus*" in capsys.readouterr().out
