"""Figures of notebook 06's sections 1-2: what a solve costs, and what stiffness does to the steps.

The tolerance sweep (NFE and NLL against the solver tolerance), the step sizes an adaptive
Dormand-Prince solver takes on a stiff and a non-stiff problem, the stability region of an
explicit Runge-Kutta method, and the size of a flow's Jacobian along its paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..solvers import EvaluationCounter, odeint

__all__ = [
    "dopri5_steps",
    "plot_jacobian_sizes",
    "plot_stability_region",
    "plot_step_sizes",
    "plot_tolerance_sweep",
    "stability_boundary",
]

DOPRI5_CALLS_PER_ATTEMPT = 6  # six stages per step attempt (the seventh is the next step's first)
DOPRI5_START_CALLS = 2  # the first slope and the initial step-size guess


def plot_tolerance_sweep(
    tolerances: Sequence[float],
    nfes: Sequence[float],
    nlls: Sequence[float],
    reference_nll: float,
    reference_tol: float,
) -> Figure:
    """Two panels: the NFE of one log-likelihood solve, and the NLL, against the tolerance.

    The tolerance axis runs from loose (left) to tight (right); the NLL panel shows the reference
    NLL (at ``reference_tol``) as a dashed line, so the eye sees it converge.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.semilogx(tolerances, nfes, "o-", color="tab:purple")
    left.set(xlabel="tolerance (atol = rtol)", ylabel="NFE of one log-likelihood solve")
    left.set_title("Tighter tolerance, more evaluations")
    right.semilogx(tolerances, nlls, "o-", color="tab:green", label="test NLL")
    right.axhline(reference_nll, color="0.5", ls="--", label=f"tolerance {reference_tol:g}")
    right.set(xlabel="tolerance (atol = rtol)", ylabel="NLL (nats)")
    right.set_title("The NLL converges as the tolerance tightens")
    right.legend()
    for ax in (left, right):
        ax.invert_xaxis()
    return fig


def dopri5_steps(
    f: Callable[[Tensor, Tensor], Tensor], y0: Tensor, t_end: float, tol: float
) -> tuple[Tensor, int, np.ndarray]:
    """Solve ``dy/dt = f(t, y)`` on ``[0, t_end]`` with the library's dopri5 and record its steps.

    Every call of ``f`` is timed: after two start-up calls, dopri5 makes six per step attempt,
    the second at ``t + h/5`` and the last at ``t + h``, so ``h = 5/4 (t_last - t_second)``.
    A step was accepted when the next attempt starts where it ended.

    Returns:
        ``(y(t_end), NFE, steps)`` with ``steps`` of shape ``(attempts, 3)``: start time, step
        size ``h``, and 1.0 for an accepted step, 0.0 for a rejected one.
    """
    calls: list[float] = []

    def recorded(t: Tensor, y: Tensor) -> Tensor:
        calls.append(float(t))
        return f(t, y)

    counter = EvaluationCounter()
    span = torch.tensor([0.0, t_end], dtype=y0.dtype)
    y = odeint(
        recorded, y0, span, atol=tol, rtol=tol, backend="edu", counter=counter, max_steps=100_000
    )
    attempts = np.array(calls[DOPRI5_START_CALLS:]).reshape(-1, DOPRI5_CALLS_PER_ATTEMPT)
    h = (attempts[:, 5] - attempts[:, 0]) * 5 / 4
    start = attempts[:, 5] - h
    accepted = np.append(np.isclose(start[1:], attempts[:-1, 5]), True)
    return y[-1], counter.forward, np.stack([start, h, accepted], axis=1)


def plot_step_sizes(
    runs: Mapping[tuple[float, float], tuple[Tensor, int, np.ndarray]],
    t: Tensor,
    y: Tensor,
    k: float,
    limit: float,
) -> Figure:
    """Top: the solution ``y(t)`` of the relaxation ODE with rate ``k`` beside ``cos t``.

    Bottom: the accepted step sizes of every run in ``runs`` (keyed ``(k, tol)``, values as
    returned by `dopri5_steps`), on a log scale, with the stability limit ``limit`` dashed.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(t, y, color="tab:blue", label=f"$y(t)$, $k = {k:g}$")
    top.plot(t, torch.cos(t), ":", color="0.4", label=r"$\cos t$")
    top.set(ylabel="y", title=r"$\dot y = -k\,(y - \cos t)$: a fast transient, then a smooth path")
    top.legend()
    for (rate, tol), (_, nfe, steps) in runs.items():
        ok = steps[:, 2] == 1
        label = f"k = {rate:g}, tol {tol:.0e} (NFE {nfe})"
        bottom.semilogy(steps[ok, 0], steps[ok, 1], ".-", ms=2, lw=0.8, label=label)
    bottom.axhline(
        limit, color="k", ls="--", lw=1, label=f"stability limit {limit:.2g} (see below)"
    )
    bottom.set(xlabel="t", ylabel="accepted step size h", ylim=(1e-5, 10))
    bottom.legend(loc="lower right", ncol=2, fontsize=8)
    return fig


def _polynomial(coefficients: np.ndarray, z: np.ndarray | complex | float) -> np.ndarray:
    """``sum_j coefficients[j] z^j`` (lowest degree first)."""
    return np.polyval(np.asarray(coefficients)[::-1], z)


def stability_boundary(coefficients: Sequence[float], search: float = 6.0) -> float:
    """The largest ``x`` with ``|R(-y)| <= 1`` for every ``0 <= y <= x``, to about 1e-12.

    ``R(z) = sum_j coefficients[j] z^j`` is a Runge-Kutta method's stability polynomial: the
    method damps the error of ``dy/dt = lambda y`` when ``h |lambda| <= x`` on the negative real
    axis. A scan of ``[0, search]`` finds the first unstable point, bisection refines it.
    """
    coefficients = np.asarray(coefficients, dtype=float)

    def stable(x: float) -> bool:
        return bool(abs(_polynomial(coefficients, -x)) <= 1)

    xs = np.linspace(0, search, 6001)[1:]
    unstable = [x for x in xs if not stable(x)]
    if not unstable:
        raise ValueError(f"|R(-x)| <= 1 on all of [0, {search}]: pass a larger `search`")
    lo, hi = unstable[0] - (xs[1] - xs[0]), unstable[0]
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return float(lo)


def plot_stability_region(coefficients: Sequence[float], boundary: float) -> Figure:
    """The region ``|R(h lambda)| <= 1`` of the complex ``h lambda`` plane, shaded, with its edge.

    The point ``-boundary`` (the stability boundary on the negative real axis) is marked.
    """
    grid = np.linspace(-5, 1.5, 400)
    re, im = np.meshgrid(grid, np.linspace(-4, 4, 400))
    modulus = np.abs(_polynomial(np.asarray(coefficients), re + 1j * im))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(re, im, modulus <= 1, levels=[0.5, 1.5], colors=["tab:blue"], alpha=0.3)
    ax.contour(re, im, modulus, levels=[1.0], colors="tab:blue")
    ax.plot([-boundary], [0], "o", color="tab:red", label=f"$-x_s = {-boundary:.2f}$")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set(xlabel=r"Re $h\lambda$", ylabel=r"Im $h\lambda$", aspect="equal")
    ax.set_title(r"stable where $|R(h\lambda)| \leq 1$ (shaded)")
    ax.legend(loc="upper left")
    return fig


def plot_jacobian_sizes(times: Tensor, radius: Tensor, frobenius: Tensor) -> Figure:
    """The Jacobian's spectral radius and Frobenius norm along a flow's paths.

    ``radius`` and ``frobenius`` have shape ``(len(times), paths)``; the figure shows the largest
    spectral radius, the largest Frobenius norm (its upper bound) and the median spectral radius
    at each time.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(times, radius.max(dim=1).values, "o-", label=r"largest $\rho(\partial f/\partial z)$")
    bound = r"largest $\|\partial f/\partial z\|_F$ (an upper bound)"
    ax.plot(times, frobenius.max(dim=1).values, "s--", label=bound)
    median = radius.median(dim=1).values
    ax.plot(times, median, "o-", color="tab:blue", alpha=0.4, label=r"median $\rho$")
    ax.set(xlabel="t", ylabel="size of the Jacobian", title=f"along {radius.shape[1]} paths")
    ax.legend()
    return fig
