"""Readable explicit Runge–Kutta solvers, and one `odeint` front for them and torchdiffeq.

A Runge–Kutta method is a table of numbers (its Butcher tableau); one function, `rk_step`, steps
any table. Euler, midpoint, RK4 and Dormand–Prince 5(4) differ only in their tables, so a new
solver is a new table. `odeint` runs either these readable solvers (``backend="edu"``) or
torchdiffeq (the default, and the only one with the adjoint method).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torchdiffeq
from torch import Tensor, nn

from .options import check_choice
from .solver_reports import (
    CountedDynamics,
    EvaluationCounter,
    StepBudgetExceeded,
    StepSizeUnderflow,
    budget_error,
    underflow_error,
)

__all__ = [
    "BACKENDS",
    "METHODS",
    "TABLEAUS",
    "ButcherTableau",
    "EvaluationCounter",
    "StepBudgetExceeded",
    "StepSizeUnderflow",
    "check_solver_options",
    "finite_number",
    "odeint",
    "rk_step",
]

State = tuple[Tensor, ...]
Dynamics = Callable[[Tensor, State], State]


@dataclass(frozen=True)
class ButcherTableau:
    r"""An explicit Runge–Kutta method written as data.

    One step of size :math:`h` from :math:`(t, y)` evaluates the stages

    .. math:: k_i = f\big(t + c_i h,\; y + h \textstyle\sum_{j<i} a_{ij} k_j\big)

    and moves to :math:`y_{+} = y + h \sum_i b_i k_i`. When lower-order weights ``b_low`` are
    given, :math:`h \sum_i (b_i - b^{low}_i) k_i` estimates the local error (an *embedded* pair)
    and the solver can choose its own step size.

    Arguments:
        name: the string that selects the method in `odeint`.
        order: the order :math:`p` of ``b``: the global error shrinks like :math:`h^p`.
        c: stage times, one per stage.
        a: the strictly lower-triangular stage matrix, row ``i`` has ``i`` entries.
        b: the weights of the solution.
        b_low: the weights of the embedded lower-order solution, or ``None``.
    """

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    b_low: tuple[float, ...] | None = None

    @property
    def adaptive(self) -> bool:
        """Whether the table carries an error estimate, so the step size can adapt."""
        return self.b_low is not None

    @property
    def first_same_as_last(self) -> bool:
        """Whether the last stage is f at the new point, so it is the next step's first stage."""
        return self.c[-1] == 1.0 and self.a[-1] == self.b[:-1] and self.b[-1] == 0.0


EULER = ButcherTableau("euler", 1, c=(0.0,), a=((),), b=(1.0,))
MIDPOINT = ButcherTableau("midpoint", 2, c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))
RK4 = ButcherTableau(
    "rk4",
    4,
    c=(0.0, 0.5, 0.5, 1.0),
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
)
# Dormand & Prince (1980): a 5th-order solution with an embedded 4th-order one.
DOPRI5 = ButcherTableau(
    "dopri5",
    5,
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    a=(
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
    ),
    b=(35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0),
    b_low=(5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40),
)

# Note: torchdiffeq's "rk4" steps with Kutta's 3/8 rule, a different fourth-order table from
# the classic RK4 above, so the two backends' "rk4" agree to O(h^5) per step, not to the digit.
TABLEAUS: dict[str, ButcherTableau] = {tab.name: tab for tab in (EULER, MIDPOINT, RK4, DOPRI5)}
METHODS: tuple[str, ...] = tuple(TABLEAUS)
BACKENDS: tuple[str, ...] = ("torchdiffeq", "edu")


def _combine(y: State, h: float, weights: Sequence[float], ks: Sequence[State]) -> State:
    """Return ``y + h * sum_i weights[i] * ks[i]`` for every tensor of a tuple state."""
    terms = [(w, k) for w, k in zip(weights, ks) if w != 0.0]
    return tuple(
        y_part + h * sum(w * k[part] for w, k in terms) if terms else y_part
        for part, y_part in enumerate(y)
    )


def rk_step(
    func: Dynamics,
    t: Tensor,
    y: State,
    h: float,
    tableau: ButcherTableau,
    first_stage: State | None = None,
) -> tuple[State, State | None, State]:
    """Take one Runge–Kutta step of size ``h`` (negative to go back in time).

    Arguments:
        func: the dynamics ``f(t, y)`` on tuple states.
        t: the current time, a 0-d tensor.
        y: the current state, a tuple of tensors.
        h: the step size.
        tableau: the method.
        first_stage: ``f(t, y)`` when already known (first-same-as-last methods).

    Returns:
        ``(y_next, error, last_stage)``: the new state, the local error estimate (``None`` for
        tables without an embedded pair) and the last stage (``f(t + h, y_next)`` for
        first-same-as-last tables).
    """
    stages: list[State] = []
    for i, (c_i, a_i) in enumerate(zip(tableau.c, tableau.a)):
        if i == 0 and first_stage is not None:
            stages.append(first_stage)
            continue
        stages.append(func(t + c_i * h, _combine(y, h, a_i, stages)))
    y_next = _combine(y, h, tableau.b, stages)
    error = None
    if tableau.b_low is not None:
        difference = [b - b_low for b, b_low in zip(tableau.b, tableau.b_low)]
        error = _combine(tuple(torch.zeros_like(part) for part in y), h, difference, stages)
    return y_next, error, stages[-1]


def _error_ratio(error: State, y: State, y_next: State, atol: float, rtol: float) -> float:
    r"""Size of the local error relative to the tolerance; a step is accepted when it is <= 1.

    Each part of a tuple state must meet the tolerance on its own (the largest of the per-part
    root-mean-square norms counts), so a small log-density state cannot hide behind a large one.
    """
    ratios = []
    for e, a, b in zip(error, y, y_next):
        scale = atol + rtol * torch.maximum(a.abs(), b.abs())
        ratios.append((e / scale).pow(2).mean().sqrt())
    return float(torch.stack(ratios).max().detach())  # step control is not differentiated


def _initial_step(
    func: Dynamics, t0: Tensor, y0: State, f0: State, order: int, atol: float, rtol: float
) -> float:
    """Hairer, Nørsett & Wanner's first-step guess: move about 1% of the state's own size."""

    def rms(parts: State) -> float:
        return max(
            float((p / (atol + rtol * y.abs())).pow(2).mean().sqrt().detach())
            for p, y in zip(parts, y0)
        )

    d0, d1 = rms(y0), rms(f0)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = func(t0 + h0, _combine(y0, h0, [1.0], [f0]))
    d2 = rms(tuple(a - b for a, b in zip(f1, f0))) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
    return min(100 * h0, h1)


def _fixed_step_count(t: Tensor, step_size: float | None) -> int:
    """How many steps a fixed-step solve over the output times ``t`` takes."""
    if step_size is None:
        return len(t) - 1
    spans = (t[1:] - t[:-1]).abs().tolist()
    return sum(max(1, math.ceil(span / step_size - 1e-9)) for span in spans)


def _solve_fixed(
    func: Dynamics,
    y0: State,
    t: Tensor,
    tableau: ButcherTableau,
    step_size: float | None,
    max_steps: int,
) -> list[State]:
    """Fixed steps: ``step_size`` (the last one shortened to land on each output time), or one
    step per output interval when ``step_size`` is ``None``."""
    outputs, y, steps = [y0], y0, 0
    for t_start, t_end in itertools.pairwise(t):
        span = float(t_end - t_start)
        n = 1 if step_size is None else max(1, math.ceil(abs(span) / step_size - 1e-9))
        for i in range(n):
            steps += 1
            if steps > max_steps:
                raise budget_error(max_steps, float(t[0]), float(t[-1]), tableau.name)
            y, _, _ = rk_step(func, t_start + i * span / n, y, span / n, tableau)
        outputs.append(y)
    return outputs


def _solve_adaptive(
    func: Dynamics,
    y0: State,
    t: Tensor,
    tableau: ButcherTableau,
    atol: float,
    rtol: float,
    max_steps: int,
) -> list[State]:
    """Error-controlled steps that land exactly on each output time (no interpolation)."""
    direction = 1.0 if float(t[-1]) > float(t[0]) else -1.0
    f_now = func(t[0], y0)
    h = direction * _initial_step(func, t[0], y0, f_now, tableau.order, atol, rtol)
    outputs, y, t_now, steps = [y0], y0, t[0], 0
    for t_end in t[1:]:
        while direction * float(t_end - t_now) > 0:
            steps += 1
            if steps > max_steps:
                raise budget_error(max_steps, float(t[0]), float(t[-1]), tableau.name)
            remaining = float(t_end - t_now)
            h_try = remaining if abs(h) >= abs(remaining) else h
            y_new, error, f_new = rk_step(
                func, t_now, y, h_try, tableau, f_now if tableau.first_same_as_last else None
            )
            ratio = _error_ratio(error, y, y_new, atol, rtol)
            # Standard controller: the error scales like h^(q+1), q the embedded order.
            factor = 0.9 * ratio ** (-1.0 / tableau.order) if ratio > 0 else 10.0
            if ratio <= 1.0:
                t_now = t_end if h_try == remaining else t_now + h_try
                y = y_new
                f_now = f_new if tableau.first_same_as_last else func(t_now, y)
                h = h_try * min(10.0, max(0.2, factor))
            else:
                h = h_try * min(1.0, max(0.2, factor))
                if abs(h) <= 1e-12 * max(1.0, abs(float(t_now))):  # a NaN error shrinks h forever
                    raise underflow_error(f"at t={float(t_now):g}", tableau.name)
        outputs.append(y)
    return outputs


def finite_number(value: object) -> bool:
    """Whether ``value`` is a finite real number (bools and strings are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_solver_options(
    method: str,
    backend: str,
    atol: float,
    rtol: float,
    step_size: float | None,
    max_steps: int,
) -> None:
    """The one check of the solver options (`odeint` and `ffjord_edu.settings.Settings` use it):
    a `ValueError` that names the option and the fix."""
    check_choice("ODE solver", method, METHODS)
    check_choice("backend", backend, BACKENDS)
    if not all(finite_number(tol) and tol > 0 for tol in (atol, rtol)):
        raise ValueError(
            f"tolerances must be positive and finite, got atol={atol}, rtol={rtol}; "
            "typical values are 1e-5 for evaluation and 1e-3 for training"
        )
    if step_size is not None and not (finite_number(step_size) and step_size > 0):
        raise ValueError(f"step_size must be positive and finite (or None), got {step_size}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a whole number >= 1, got {max_steps!r}")


def _check_arguments(
    y0: tuple[Tensor, ...],
    t: Tensor,
    method: str,
    backend: str,
    atol: float,
    rtol: float,
    step_size: float | None,
    adjoint: bool,
    func: Callable,
    max_steps: int,
) -> None:
    check_solver_options(method, backend, atol, rtol, step_size, max_steps)
    if t.ndim != 1 or len(t) < 2:
        raise ValueError(f"t must be a 1-d tensor of at least 2 times, got shape {tuple(t.shape)}")
    steps = t[1:] - t[:-1]
    if not (bool((steps > 0).all()) or bool((steps < 0).all())):
        raise ValueError(f"t must be strictly increasing or strictly decreasing, got {t.tolist()}")
    if adjoint and backend == "edu":
        raise ValueError(
            "the edu solvers backpropagate through their steps and have no adjoint; "
            "use backend='torchdiffeq' with adjoint=True"
        )
    if adjoint and not isinstance(func, nn.Module):
        raise ValueError(
            "adjoint=True needs func to be an nn.Module (its parameters get gradients)"
        )
    if not TABLEAUS[method].adaptive:  # checked up front: a fixed-step solve cannot give up
        steps = _fixed_step_count(t, step_size)
        if steps > max_steps:
            raise StepBudgetExceeded(
                f"{method} with step_size={step_size} takes {steps:,} steps from "
                f"t={float(t[0]):g} to t={float(t[-1]):g}, more than max_steps={max_steps}: "
                "raise step_size (or max_steps, if so many steps are really meant)"
            )


def odeint(
    func: Callable,
    y0: Tensor | Sequence[Tensor],
    t: Tensor,
    method: str = "dopri5",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    step_size: float | None = None,
    backend: str = "torchdiffeq",
    adjoint: bool = False,
    max_steps: int = 10_000,
    counter: EvaluationCounter | None = None,
) -> Tensor | tuple[Tensor, ...]:
    r"""Solve :math:`\dot y = f(t, y)` from ``y(t[0]) = y0`` and return ``y`` at every ``t``.

    Arguments:
        func: the dynamics ``f(t, y)``; ``t`` is a 0-d tensor, ``y`` has the structure of ``y0``.
        y0: the initial state: a tensor, or a tuple of tensors (as in the CNF's augmented state).
        t: the output times, shape ``(T,)``, strictly increasing or decreasing.
        method: one of `METHODS`; ``"dopri5"`` adapts its steps to meet ``atol`` and ``rtol``.
        atol, rtol: the local error tolerance ``atol + rtol * |y|`` (adaptive methods).
        step_size: the step of fixed-step methods; ``None`` takes one step per output interval.
        backend: ``"torchdiffeq"`` (default) or ``"edu"``, the readable solvers of this module.
        adjoint: use torchdiffeq's adjoint method: the backward pass solves an ODE backwards
            instead of storing every step, so memory does not grow with the number of steps.
        max_steps: step budget; exceeding it raises `StepBudgetExceeded` instead of hanging.
        counter: an `EvaluationCounter` that records the number of function evaluations.

    Returns:
        The solution at ``t``: shape ``(T, *y0.shape)``, or a tuple of such for a tuple state.

    Example:
        >>> y = odeint(lambda t, y: -y, torch.ones(1), torch.tensor([0.0, 1.0]), backend="edu")
        >>> round(float(y[-1]), 5) == round(math.exp(-1), 5)
        True
    """
    tuple_state = not isinstance(y0, Tensor)
    y0_tuple = tuple(y0) if tuple_state else (y0,)
    t = torch.as_tensor(t, dtype=y0_tuple[0].dtype, device=y0_tuple[0].device)
    _check_arguments(y0_tuple, t, method, backend, atol, rtol, step_size, adjoint, func, max_steps)
    counter = counter if counter is not None else EvaluationCounter()
    dynamics = CountedDynamics(func, counter, tuple_state)
    try:
        if backend == "edu":
            tableau = TABLEAUS[method]
            if tableau.adaptive:
                states = _solve_adaptive(dynamics, y0_tuple, t, tableau, atol, rtol, max_steps)
            else:
                states = _solve_fixed(dynamics, y0_tuple, t, tableau, step_size, max_steps)
            parts = range(len(y0_tuple))
            solution = tuple(torch.stack([s[part] for s in states]) for part in parts)
        else:
            solution = _torchdiffeq_solve(
                dynamics, y0_tuple, t, method, atol, rtol, step_size, adjoint, max_steps
            )
    finally:  # a solve that gave up still reports the evaluations it made
        counter.forward = counter.calls
    return solution if tuple_state else solution[0]


def _torchdiffeq_solve(
    dynamics: CountedDynamics,
    y0: State,
    t: Tensor,
    method: str,
    atol: float,
    rtol: float,
    step_size: float | None,
    adjoint: bool,
    max_steps: int,
) -> State:
    options: dict = {}
    if TABLEAUS[method].adaptive:
        options["max_num_steps"] = max_steps
    elif step_size is not None:
        options["step_size"] = step_size
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    try:
        return solve(dynamics, y0, t, rtol=rtol, atol=atol, method=method, options=options)
    except AssertionError as error:
        if "max_num_steps" in str(error):
            raise budget_error(max_steps, float(t[0]), float(t[-1]), method) from error
        if "underflow in dt" in str(error):
            where = f"integrating from t={float(t[0]):g} to t={float(t[-1]):g}"
            raise underflow_error(where, method) from error
        raise
