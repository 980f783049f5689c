"""Tests for the two-dimensional toy densities in ffjord_edu.datasets.toy."""

import math
from collections.abc import Callable

import pytest
import torch

from ffjord_edu.datasets import toy

NO_CLOSED_FORM = [name for name in toy.NAMES if name not in toy.HAS_LOG_PROB]


def test_every_name_has_a_sampler() -> None:
    assert tuple(toy._SAMPLERS) == toy.NAMES
    assert set(toy.HAS_LOG_PROB) <= set(toy.NAMES)


@pytest.mark.parametrize("name", toy.NAMES)
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_shape_dtype_and_finiteness(name: str, n: int) -> None:
    x = toy.sample(name, n, seed=0)
    assert x.shape == (n, 2)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("name", toy.NAMES)
def test_seed_makes_samples_reproducible(name: str) -> None:
    assert torch.equal(toy.sample(name, 100, seed=3), toy.sample(name, 100, seed=3))
    assert not torch.equal(toy.sample(name, 100, seed=3), toy.sample(name, 100, seed=4))
    assert toy.sample(name, 5).shape == (5, 2)


@pytest.mark.parametrize("name", toy.NAMES)
def test_data_lies_in_the_box_and_is_spread_out(name: str) -> None:
    x = toy.sample(name, 5000, seed=1)
    inside = (x.abs() <= 5).all(dim=1).float().mean()
    assert inside >= 0.99
    assert (x.std(dim=0) > 0.5).all()


@pytest.mark.parametrize("name", toy.NAMES)
def test_samples_are_shuffled(name: str) -> None:
    # If points were grouped by component, the first and last quarters would differ a lot.
    x = toy.sample(name, 8000, seed=2)
    first, last = x[:2000].mean(dim=0), x[-2000:].mean(dim=0)
    assert (first - last).abs().max() < 0.3


def test_8gaussians_density_integrates_to_one() -> None:
    axis = torch.linspace(-6.0, 6.0, 601, dtype=torch.float64)
    spacing = axis[1] - axis[0]
    density = toy.log_prob("8gaussians", torch.cartesian_prod(axis, axis)).exp()
    assert abs(float(density.sum() * spacing**2) - 1.0) < 1e-4


def test_8gaussians_log_prob_keeps_dtype_and_is_finite_far_away() -> None:
    far = torch.tensor([[100.0, -100.0], [0.0, 0.0]])
    for dtype in (torch.float32, torch.float64):
        lp = toy.log_prob("8gaussians", far.to(dtype))
        assert lp.dtype == dtype
        assert lp.shape == (2,)
        assert torch.isfinite(lp).all()


def test_8gaussians_monte_carlo_entropy_matches_quadrature() -> None:
    x = toy.sample("8gaussians", 200_000, seed=5).double()
    neg_log_p = -toy.log_prob("8gaussians", x)
    standard_error = float(neg_log_p.std()) / math.sqrt(len(x))
    assert abs(float(neg_log_p.mean()) - toy.entropy("8gaussians")) < 4 * standard_error


def test_8gaussians_samples_are_near_the_centres_in_equal_numbers() -> None:
    x = toy.sample("8gaussians", 8000, seed=6).double()
    centres = toy._gaussian_centres(torch.float64)
    distance = torch.cdist(x, centres)
    nearest_distance, nearest = distance.min(dim=1)
    assert (nearest_distance < 6 * toy._EIGHT_GAUSSIANS["std"]).all()
    counts = torch.bincount(nearest, minlength=8).double()
    expected = len(x) / 8
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    # 7 degrees of freedom: P(chi^2 > 30) is about 1e-4.
    assert chi_square < 30


def test_8gaussians_entropy_is_just_below_the_disjoint_mixture_value() -> None:
    std = toy._EIGHT_GAUSSIANS["std"]
    disjoint = math.log(8) + math.log(2 * math.pi * math.e * std**2)
    h = toy.entropy("8gaussians")
    # Overlap subtracts H(component | x) >= 0, which is small because the centres are far apart.
    assert disjoint - 1e-2 < h <= disjoint


def test_8gaussians_entropy_quadrature_is_converged() -> None:
    coarse = toy._eight_gaussians_entropy()
    fine = toy._eight_gaussians_entropy(grid_size=801)
    assert abs(coarse - fine) < 1e-6


def test_checkerboard_samples_lie_on_filled_squares() -> None:
    x = toy.sample("checkerboard", 5000, seed=7)
    lp = toy.log_prob("checkerboard", x)
    assert torch.isfinite(lp).all()
    assert torch.allclose(lp, torch.full_like(lp, -math.log(32)))


def test_checkerboard_covers_half_of_its_box() -> None:
    generator = torch.Generator().manual_seed(8)
    uniform = 8 * torch.rand(20_000, 2, generator=generator) - 4
    filled = torch.isfinite(toy.log_prob("checkerboard", uniform)).float().mean()
    assert abs(float(filled) - 0.5) < 0.02


def test_checkerboard_outside_the_box_has_zero_density() -> None:
    outside = torch.tensor([[4.5, 0.5], [-0.5, -4.5], [10.0, 10.0]])
    assert torch.isneginf(toy.log_prob("checkerboard", outside)).all()


def test_checkerboard_entropy_is_log_of_its_area() -> None:
    assert abs(toy.entropy("checkerboard") - math.log(32)) < 1e-12


@pytest.mark.parametrize("call", [toy.entropy, lambda name: toy.sample(name, 10)])
def test_unknown_name_lists_the_valid_names(call: Callable[[str], object]) -> None:
    with pytest.raises(ValueError, match="unknown toy dataset 'foo'") as info:
        call("foo")
    assert all(name in str(info.value) for name in toy.NAMES)


def test_unknown_name_in_log_prob() -> None:
    with pytest.raises(ValueError, match="unknown toy dataset"):
        toy.log_prob("foo", torch.zeros(3, 2))


@pytest.mark.parametrize("name", NO_CLOSED_FORM)
def test_no_closed_form_names_are_refused(name: str) -> None:
    for call in (lambda: toy.log_prob(name, torch.zeros(3, 2)), lambda: toy.entropy(name)):
        with pytest.raises(ValueError, match="no closed form") as info:
            call()
        assert all(known in str(info.value) for known in toy.HAS_LOG_PROB)


@pytest.mark.parametrize("n", [0, -3, 2.5, "10", True])
def test_bad_sample_size_is_refused(n: object) -> None:
    with pytest.raises(ValueError, match="n must be a positive integer"):
        toy.sample("moons", n)  # type: ignore[arg-type]


def test_log_prob_checks_the_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        toy.log_prob("8gaussians", torch.zeros(3))
