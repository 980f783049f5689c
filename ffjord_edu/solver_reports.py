"""What a solve reports besides its solution: how often it evaluated the dynamics (the NFE),
and why it gave up (a step budget exceeded, a step size that underflowed).

`ffjord_edu.solvers.odeint` wraps the dynamics in `CountedDynamics` and raises these errors,
with messages that say what to change.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

__all__ = [
    "CountedDynamics",
    "EvaluationCounter",
    "StepBudgetExceeded",
    "StepSizeUnderflow",
    "budget_error",
    "underflow_error",
]

State = tuple[Tensor, ...]


class StepBudgetExceeded(RuntimeError):
    """The solver needed more steps than its budget allows."""


class StepSizeUnderflow(RuntimeError):
    """The adaptive step size shrank to nothing: the state or its derivative became NaN or
    infinite, or the dynamics are too stiff for an explicit method (the solve diverged)."""


def underflow_error(where: str, method: str) -> StepSizeUnderflow:
    return StepSizeUnderflow(
        f"{method}'s step size underflowed {where}: the dynamics produced NaN or infinite "
        "values or became too stiff to solve (in training: the model diverged). Lower the "
        "learning rate, add kinetic/jacobian regularisation, or start from a good checkpoint."
    )


def budget_error(max_steps: int, t0: float, t1: float, method: str) -> StepBudgetExceeded:
    return StepBudgetExceeded(
        f"{method} took more than max_steps={max_steps} steps integrating from t={t0:g} to "
        f"t={t1:g}: the dynamics are probably stiff or exploding. Loosen atol/rtol, regularise "
        "the dynamics, or raise max_steps if the problem really needs that many steps."
    )


class EvaluationCounter:
    """Counts evaluations of the dynamics ``f``: the number of function evaluations (NFE).

    `odeint` records ``forward`` when a solve ends, so any call made afterwards, by the adjoint
    method's backward solve, counts as ``backward``. Solves that share a counter add up; start
    a new counter (or zero ``calls`` and ``forward``) to count afresh.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.forward = 0

    @property
    def backward(self) -> int:
        """Evaluations made after the solve returned: the adjoint's backward pass."""
        return self.calls - self.forward

    def __repr__(self) -> str:
        return f"EvaluationCounter(forward={self.forward}, backward={self.backward})"


class CountedDynamics(nn.Module):
    """Wraps ``f`` so that each call is counted; an ``nn.Module`` so the adjoint sees parameters."""

    def __init__(self, func: Callable, counter: EvaluationCounter, tuple_state: bool) -> None:
        super().__init__()
        self.func = func
        self.counter = counter
        self.tuple_state = tuple_state

    def forward(self, t: Tensor, y: State) -> State:
        self.counter.calls += 1
        if self.tuple_state:
            return tuple(self.func(t, y))
        return (self.func(t, y[0]),)
