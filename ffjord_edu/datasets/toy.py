"""The eight two-dimensional toy densities used in the FFJORD paper."""

import functools
import math
import numbers
from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import make_circles, make_moons, make_swiss_roll

from ..options import check_choice

__all__ = ["HAS_LOG_PROB", "NAMES", "check_name", "entropy", "log_prob", "sample"]

NAMES: tuple[str, ...] = (
    "8gaussians",
    "pinwheel",
    "checkerboard",
    "2spirals",
    "moons",
    "circles",
    "rings",
    "swissroll",
)

HAS_LOG_PROB: tuple[str, ...] = ("8gaussians", "checkerboard")

# Shared by the sampler and the density so that the two can never disagree.
_EIGHT_GAUSSIANS: dict[str, float] = {
    "radius": 2.0 * math.sqrt(2.0),
    "std": 1.0 / (2.0 * math.sqrt(2.0)),
}
_CHECKERBOARD: dict[str, float] = {"half_width": 4.0, "cells_per_side": 4}


def check_name(name: str) -> None:
    check_choice("toy dataset", name, NAMES)


def _check_closed_form(name: str) -> None:
    check_name(name)
    if name not in HAS_LOG_PROB:
        raise ValueError(
            f"the true density of {name!r} has no closed form; "
            f"only these toy datasets have one: {', '.join(HAS_LOG_PROB)}"
        )


def _gaussian_centres(dtype: torch.dtype) -> torch.Tensor:
    """Means of the 8 Gaussians: mu_k = radius * (cos(k pi/4), sin(k pi/4)), shape (8, 2)."""
    angles = torch.arange(8, dtype=dtype) * (math.pi / 4)
    return _EIGHT_GAUSSIANS["radius"] * torch.stack([angles.cos(), angles.sin()], dim=1)


def _sample_8gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    """Equal-weight mixture of N(mu_k, s^2 I), k = 0..7; returns shape (n, 2)."""
    centres = _gaussian_centres(torch.float64).numpy()
    component = rng.integers(0, 8, size=n)
    return centres[component] + _EIGHT_GAUSSIANS["std"] * rng.standard_normal((n, 2))


def _sample_pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    """Five arms: Gaussian features rotated by 2 pi k / 5 + 0.25 exp(radius), times 2."""
    arms, radial_std, tangential_std, rate = 5, 0.3, 0.1, 0.25
    features = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    features[:, 0] += 1.0
    arm = rng.integers(0, arms, size=n)
    # The extra rotation grows with the radius, which bends each arm into a spiral.
    angle = 2 * np.pi * arm / arms + rate * np.exp(features[:, 0])
    cos, sin = np.cos(angle), np.sin(angle)
    x = cos * features[:, 0] - sin * features[:, 1]
    y = sin * features[:, 0] + cos * features[:, 1]
    return 2.0 * np.stack([x, y], axis=1)


def _checkerboard_geometry() -> tuple[float, int, float]:
    """Half width w of the board, squares per side c, and side length 2 w / c of one square."""
    half_width, cells = _CHECKERBOARD["half_width"], int(_CHECKERBOARD["cells_per_side"])
    return half_width, cells, 2 * half_width / cells


def _checkerboard_cells(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column and row index (each in 0..cells-1) of the square that contains each point."""
    half_width, cells, side = _checkerboard_geometry()
    # Clamping puts the outer edge x = +half_width into the last square instead of a new one.
    index = ((x + half_width) / side).floor().clamp(0, cells - 1).long()
    return index[:, 0], index[:, 1]


def _checkerboard_area() -> float:
    """Total area of the filled squares: half of the cells^2 squares, each of side 2 w / cells."""
    _, cells, side = _checkerboard_geometry()
    return (cells**2 // 2) * side**2


def _sample_checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the squares of one colour of a 4 x 4 board covering [-4, 4]^2."""
    half_width, cells, side = _checkerboard_geometry()
    x1 = rng.uniform(-half_width, half_width, size=n)
    column = np.minimum(np.floor((x1 + half_width) / side), cells - 1)
    # A square is filled when column + row is even, so each column keeps every other row.
    row = 2 * rng.integers(0, cells // 2, size=n) + column % 2
    x2 = -half_width + side * (row + rng.uniform(0.0, 1.0, size=n))
    return np.stack([x1, x2], axis=1)


def _sample_2spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved arms t (-cos t, sin t) and its negative, t up to 3 pi, over 3."""
    # sqrt makes points uniform along the arm rather than crowded at its centre.
    t = np.sqrt(rng.uniform(size=n)) * np.deg2rad(540.0)
    arm = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) + 0.5 * rng.uniform(size=(n, 2))
    sign = rng.choice([-1.0, 1.0], size=(n, 1))
    return sign * arm / 3.0 + 0.1 * rng.standard_normal((n, 2))


def _sklearn_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _sample_moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's two half circles (noise 0.1), scaled by 2 and moved by (-1, -0.2)."""
    x, _ = make_moons(n_samples=n, noise=0.1, random_state=_sklearn_seed(rng))
    return 2.0 * x + np.array([-1.0, -0.2])


def _sample_circles(n: int, rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's two circles, radius ratio 0.5 and noise 0.08, scaled by 3."""
    x, _ = make_circles(n_samples=n, factor=0.5, noise=0.08, random_state=_sklearn_seed(rng))
    return 3.0 * x


def _sample_rings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Four noisy circles of radius 0.75, 1.5, 2.25, 3 with uniform angle."""
    radii = np.array([0.75, 1.5, 2.25, 3.0])
    # Ring counts differ by at most one; the permutation spreads them over the whole output.
    ring = rng.permutation(np.arange(n) % len(radii))
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    circle = radii[ring, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return circle + 0.08 * rng.standard_normal((n, 2))


def _sample_swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's 3-D swiss roll (noise 1) seen from above: coordinates (x, z) / 5."""
    x, _ = make_swiss_roll(n_samples=n, noise=1.0, random_state=_sklearn_seed(rng))
    return x[:, [0, 2]] / 5.0


_SAMPLERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "8gaussians": _sample_8gaussians,
    "pinwheel": _sample_pinwheel,
    "checkerboard": _sample_checkerboard,
    "2spirals": _sample_2spirals,
    "moons": _sample_moons,
    "circles": _sample_circles,
    "rings": _sample_rings,
    "swissroll": _sample_swissroll,
}


def sample(name: str, n: int, seed: int | None = None) -> torch.Tensor:
    """Draw points from one of the toy densities.

    Arguments:
        name: one of ``NAMES``.
        n: number of points, an integer >= 1.
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same points,
            ``None`` gives fresh randomness.

    Returns:
        float32 tensor x of shape (n, 2), rows i.i.d. from the density, in random order
        (so any prefix x[:m] is itself a fair sample of size m).
    """
    check_name(name)
    is_integer = isinstance(n, numbers.Integral) and not isinstance(n, bool)
    if not (is_integer and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r} ({type(n).__name__})")
    rng = np.random.default_rng(seed)
    points = _SAMPLERS[name](int(n), rng)
    return torch.from_numpy(points.astype(np.float32))


def log_prob(name: str, x: torch.Tensor) -> torch.Tensor:
    """Exact log-density of the toy data, for the names in ``HAS_LOG_PROB``.

    8gaussians: log p(x) = logsumexp_k [-|x - mu_k|^2 / (2 s^2)] - log(2 pi s^2) - log 8,
    with mu_k on a circle of radius 2 sqrt(2) and s = 1 / (2 sqrt(2)).
    checkerboard: log p(x) = -log(area of the filled squares) = -log 32 on a filled square,
    -inf elsewhere.

    Arguments:
        name: one of ``HAS_LOG_PROB``.
        x: floating-point tensor of shape (n, 2).

    Returns:
        tensor of shape (n,), in the dtype of x.
    """
    _check_closed_form(name)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
    if name == "8gaussians":
        std = _EIGHT_GAUSSIANS["std"]
        squared_distance = (x[:, None, :] - _gaussian_centres(x.dtype).to(x.device)).pow(2).sum(-1)
        # logsumexp avoids exp underflow far from all centres, where log p is still finite.
        log_mixture = torch.logsumexp(-squared_distance / (2 * std**2), dim=1)
        return log_mixture - math.log(2 * math.pi * std**2) - math.log(8)
    half_width = _CHECKERBOARD["half_width"]
    column, row = _checkerboard_cells(x)
    filled = (x.abs() <= half_width).all(dim=1) & ((column + row) % 2 == 0)
    inside = torch.full_like(x[:, 0], -math.log(_checkerboard_area()))
    return torch.where(filled, inside, torch.full_like(inside, -math.inf))


@functools.lru_cache
def _eight_gaussians_entropy(grid_size: int = 401) -> float:
    """H = -integral p log p by a Riemann sum over a grid_size x grid_size float64 grid.

    The grid covers [-L, L]^2 with L = radius + 8 std, so the mass left out is below 1e-14.
    The integrand is smooth and decays like a Gaussian, so the sum converges very fast in
    the spacing h = 2L / (grid_size - 1); the default h is std / 12.5.

    Arguments:
        grid_size: number of grid points along each axis.

    Returns:
        H = -h^2 sum_ij p(x_ij) log p(x_ij) in nats.
    """
    limit = _EIGHT_GAUSSIANS["radius"] + 8 * _EIGHT_GAUSSIANS["std"]
    axis = torch.linspace(-limit, limit, grid_size, dtype=torch.float64)
    spacing = axis[1] - axis[0]
    log_p = log_prob("8gaussians", torch.cartesian_prod(axis, axis))
    return float(-(log_p.exp() * log_p).sum() * spacing**2)


def entropy(name: str) -> float:
    """Differential entropy H = -E[log p(x)] in nats, for the names in ``HAS_LOG_PROB``.

    checkerboard: H = log(area of the filled squares) = log 32.
    8gaussians: computed numerically, H = 2.831578... With k the component a point came from,
    H(x) = H(k) + H(x | k) - H(k | x) = log 8 + log(2 pi e s^2) - H(k | x). The components
    overlap slightly, so a few points could have come from either neighbour: H(k | x) is
    about 6.3e-3 nats and H lies just below log 8 + log(2 pi e s^2) = 2.837877...

    Arguments:
        name: one of ``HAS_LOG_PROB``.

    Returns:
        H as a Python float.
    """
    _check_closed_form(name)
    if name == "8gaussians":
        return _eight_gaussians_entropy()
    return math.log(_checkerboard_area())
