"""Exercise checkers: a friendly message that says what is wrong, never a bare assert.

Each checker prints one line (✅ right, ❌ wrong and why, ✋ not attempted yet) and returns
whether the answer is right. With ``FFJORD_EDU_STRICT_CHECKS=1`` (set by ``make test``, where
the solutions are filled in) a wrong answer also raises `ExerciseError`, so CI notices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["ExerciseError", "check_close", "check_function", "check_true"]


class ExerciseError(AssertionError):
    """An exercise answer is wrong (raised only in strict mode)."""


def _verdict(ok: bool, message: str) -> bool:
    print(message)
    if not ok and os.environ.get("FFJORD_EDU_STRICT_CHECKS", "0") == "1":
        raise ExerciseError(message)
    return ok


def _not_attempted(answer: Any) -> bool:
    return answer is Ellipsis


def _compare(
    answer: Any, expected: Any, name: str, atol: float, rtol: float, hint: str
) -> tuple[bool, str]:
    if _not_attempted(answer):
        return False, f"✋ {name} is still `...`: replace it with your code and run the cell again."
    if answer is None:
        return False, f"❌ {name} is None: did you forget to `return` it?"
    try:
        got = torch.as_tensor(answer, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False, f"❌ {name} should be a number or a tensor, got {type(answer).__name__}."
    want = torch.as_tensor(expected, dtype=torch.float64)
    if got.shape != want.shape:
        return False, f"❌ {name} has shape {tuple(got.shape)}, expected {tuple(want.shape)}."
    if torch.allclose(got, want, atol=atol, rtol=rtol):
        return True, f"✅ {name} is right."
    if got.numel() == 1:
        shown = f"got {float(got):.6g}, expected {float(want):.6g}"
    else:
        shown = f"values off by up to {float((got - want).abs().max()):.3g}"
    return False, f"❌ {name} is off: {shown}." + (f" Hint: {hint}" if hint else "")


def check_close(
    answer: Any,
    expected: Any,
    name: str = "your answer",
    atol: float = 1e-6,
    rtol: float = 1e-4,
    hint: str = "",
) -> bool:
    """Is ``answer`` numerically equal to ``expected`` (numbers, arrays or tensors)?

    Example:
        >>> check_close(0.5 + 0.25, 0.75, name="the sum")
        ✅ the sum is right.
        True
    """
    return _verdict(*_compare(answer, expected, name, atol, rtol, hint))


def check_function(
    function: Callable,
    reference: Callable,
    inputs: Sequence[tuple],
    name: str = "your function",
    atol: float = 1e-6,
    rtol: float = 1e-4,
    hint: str = "",
) -> bool:
    """Does ``function(*args)`` match ``reference(*args)`` for every ``args`` in ``inputs``?"""
    if _not_attempted(function):
        return _verdict(False, f"✋ {name} is still `...`: write it and run the cell again.")
    for args in inputs:
        try:
            got = function(*args)
        except Exception as error:  # the student's code: report it, do not crash the lesson
            return _verdict(False, f"❌ calling {name} raised {type(error).__name__}: {error}")
        ok, message = _compare(got, reference(*args), f"{name}'s result", atol, rtol, hint)
        if not ok:
            return _verdict(False, message)
    return _verdict(True, f"✅ {name} is right on all {len(inputs)} test inputs.")


def check_true(condition: Any, right: str, wrong: str) -> bool:
    """A yes/no check with the two messages to show."""
    if _not_attempted(condition):
        return _verdict(False, "✋ the answer is still `...`: replace it and run the cell again.")
    return _verdict(bool(condition), f"✅ {right}" if condition else f"❌ {wrong}")
