"""Exercise checkers: a friendly message that says what is wrong, never a bare assert.

Each checker prints one line (✅ right, ❌ wrong and why, ✋ not solved yet) and returns whether
the answer is right. With ``FFJORD_EDU_STRICT_CHECKS=1`` (set by ``make test``, where the
solutions are filled in) a wrong answer also raises `ExerciseError`, so CI notices.

Beyond "right or wrong", the checkers recognise the mistakes students make most often in this
course and name them: `check_function` takes ``mistakes``, answers that a known wrong derivation
would give, and the specialised checkers build on it:

* `check_log_density`: the sign of the log-determinant flipped, the log-determinant or a
  normalising constant left out;
* `check_time_direction`: a density solve run from 0 to 1 instead of from 1 down to 0;
* `check_rademacher_probe`: 0/1 bits instead of ±1, Gaussian noise, the same probe every call;
* `check_probe_fixed`: augmented dynamics that redraw the Hutchinson probe at every evaluation;
* `check_training_step`: Algorithm 1 by hand, against `CNF.training_loss`: a flipped sign, a
  probe redrawn at every evaluation, a density solve run from 0 to 1, a missed optimiser step.

Hints escalate: the first wrong try of an exercise shows the first hint of ``hint`` (a nudge), later
tries the next ones, and only from the `REVEAL_AFTER`-th wrong try on does a message show the
expected value (or at any time, on request, `show_answer`). A named mistake is recognised when the
answer lies much closer to the mistaken value than to the right one (`MISTAKE_SEPARATION`), not
only within the main comparison's tolerance: a mistaken reference is solved tightly, the student's
answer at a solver's default tolerance, and the two differ by nats, not by 1e-4.

Below the generic checkers sit the exercise checkers of the notebooks (``check_second_order``,
``check_doubling_time``, ...): each computes its expected answer itself, from an oracle
independent of the formula the student is asked for, so a check cell never shows the answer.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ..cnf import standard_normal_log_prob
from ..solvers import odeint
from ..trace import hutchinson_divergence, sample_probe

__all__ = [
    "ELBO_QUADRATURE_NODES",
    "FLIPPED_LOG_DET",
    "LOG_VOLUME_SAMPLES",
    "MISSING_LOG_DET",
    "MISTAKE_SEPARATION",
    "NO_ENABLE_GRAD",
    "REVEAL_AFTER",
    "WRONG_TIME_DIRECTION",
    "ExerciseError",
    "check_adjoint_by_hand",
    "check_bottleneck_variance",
    "check_close",
    "check_conditional_target",
    "check_cost_exponents",
    "check_density_by_flow_map",
    "check_doubling_time",
    "check_fraction_on_board",
    "check_function",
    "check_gaussian_elbo",
    "check_kinetic_energy",
    "check_kl_floor",
    "check_kl_gaps",
    "check_kl_gaps_on_fresh_points",
    "check_log_density",
    "check_log_density_from_flow",
    "check_log_density_normalised",
    "check_log_volume_change",
    "check_logit_normal",
    "check_ot_pairing",
    "check_planar_log_det",
    "check_prediction",
    "check_probe_fixed",
    "check_probes_needed",
    "check_rademacher_probe",
    "check_second_order",
    "check_spread_of_the_mean",
    "check_swirl_divergence",
    "check_time_direction",
    "check_training_step",
    "check_true",
    "check_uniform_code_length",
    "check_zero_variance_matrix",
    "second_order_oracle",
    "show_answer",
    "simulated_spread_of_the_mean",
    "uniform_code_length",
]

FLIPPED_LOG_DET = (
    "the sign of the log-determinant is flipped. log p(x) = log p_z(z) − log|det ∂x/∂z|: a map "
    "that spreads mass out (log-det > 0) lowers the density, so the log-determinant is subtracted."
)
MISSING_LOG_DET = (
    "the log-determinant term is missing: log p(x) = log p_z(z) − log|det ∂x/∂z|, and the second "
    "term is what makes the density of x differ from that of z."
)
WRONG_TIME_DIRECTION = (
    "time runs the wrong way: this is what a solve from t = {end} to t = {start} gives. The point "
    "x lives at t = {start}; integrate from {start} down to {end} (times [{start}, {end}])."
)


NO_ENABLE_GRAD = (
    "it fails under torch.no_grad(), and that is how the solve runs (it needs no gradients, so "
    "the lesson turns them off). The divergence needs autograd from z to f all the same: compute "
    "the velocity and its divergence inside `with torch.enable_grad():`, on "
    "z.detach().requires_grad_(True), and return both outputs detached."
)


def _needs_grad_mode(error: Exception) -> bool:
    """Did autograd fail because gradients were off (no graph from z to f)?"""
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "does not require grad" in text or "inference tensor" in text.lower()
    )


class ExerciseError(AssertionError):
    """An exercise answer is wrong (raised only in strict mode)."""


Hint = str | Sequence[str]

REVEAL_AFTER = 3
"""The wrong try of an exercise from which its message shows the expected value."""

MISTAKE_SEPARATION = 0.1
"""A wrong answer is named as a known mistake when its distance to the mistaken value is at most
this fraction of its distance to the right answer (or within the comparison's own tolerance)."""

_wrong_tries: dict[str, int] = {}
_expected: dict[str, str] = {}


def _verdict(ok: bool, message: str) -> bool:
    print(message)
    if not ok and os.environ.get("FFJORD_EDU_STRICT_CHECKS", "0") == "1":
        raise ExerciseError(message)
    return ok


def _graded(name: str, ok: bool, message: str, hint: Hint = "", expected: str = "") -> bool:
    """Print the verdict of one try at exercise ``name``; a wrong try escalates the help.

    The k-th wrong try (k = 1, 2, ...) shows the k-th hint of ``hint`` (the last one once they run
    out) and, from the `REVEAL_AFTER`-th on, ``expected`` (a description of the right value).
    """
    if ok or not message.startswith("❌"):
        return _verdict(ok, message)
    tries = _wrong_tries[name] = _wrong_tries.get(name, 0) + 1
    hints = [hint] if isinstance(hint, str) else list(hint)
    shown = hints[min(tries, len(hints)) - 1] if hints else ""
    if shown:
        message += f" Hint: {shown}"
    if expected:
        _expected[name] = expected
        if tries >= REVEAL_AFTER:
            message += f" (The expected value: {expected}.)"
        elif tries == REVEAL_AFTER - 1:
            message += (
                f' Stuck? ffjord_edu.course.checks.show_answer("{name}") prints the expected value.'
            )
    return _verdict(False, message)


def show_answer(name: str) -> None:
    """Print the expected value of exercise ``name``, as its last wrong try saw it (on request).

    Example:
        >>> show_answer("an exercise never tried")
        No wrong try of an exercise named 'an exercise never tried' yet: run its check first.
    """
    if name in _expected:
        print(f"{name}: the expected value is {_expected[name]}.")
    else:
        print(f"No wrong try of an exercise named {name!r} yet: run its check first.")


def _not_attempted(answer: Any) -> bool:
    return answer is Ellipsis


def _not_solved(name: str, what: str = "replace the `...` with your code") -> str:
    return f"✋ {name} is not solved yet: {what}, then run the cell again."


def _as_float64(value: Any) -> torch.Tensor | None:
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().to(torch.float64)
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _matches(answer: Any, expected: Any, atol: float, rtol: float) -> bool:
    got, want = _as_float64(answer), _as_float64(expected)
    if got is None or want is None or got.shape != want.shape:
        return False
    return bool(torch.allclose(got, want, atol=atol, rtol=rtol))


def _is_the_mistake(got: Any, mistaken: Any, expected: Any, atol: float, rtol: float) -> bool:
    """Is the wrong answer ``got`` the known mistake ``mistaken`` rather than the right ``expected``?

    Yes when it matches ``mistaken`` within the comparison's tolerance, or when it lies at least
    ``1 / MISTAKE_SEPARATION`` times closer to ``mistaken`` than to ``expected`` (largest
    entry-wise distances): a mistake solved at a different tolerance than the answer still counts.
    """
    got, mistaken, expected = _as_float64(got), _as_float64(mistaken), _as_float64(expected)
    if got is None or mistaken is None or expected is None or got.shape != mistaken.shape:
        return False
    if torch.allclose(got, mistaken, atol=atol, rtol=rtol):
        return True
    to_mistake = float((got - mistaken).abs().max())
    to_right = float((got - expected).abs().max()) if got.shape == expected.shape else math.inf
    return to_mistake <= MISTAKE_SEPARATION * to_right


def _describe(value: torch.Tensor) -> str:
    if value.numel() == 1:
        return f"{float(value):.6g}"
    return f"the tensor {[round(v, 4) for v in value.flatten()[:6].tolist()]}" + (
        ", ..." if value.numel() > 6 else ""
    )


def _compare(answer: Any, expected: Any, name: str, atol: float, rtol: float) -> tuple[bool, str]:
    """``(ok, message)`` for one comparison; the message never shows the expected value."""
    if _not_attempted(answer):
        return False, _not_solved(name, "it is still `...`; replace it with your code")
    if answer is None:
        return False, f"❌ {name} is None: did you forget to `return` it?"
    got = _as_float64(answer)
    if got is None:
        return False, f"❌ {name} should be a number or a tensor, got {type(answer).__name__}."
    want = _as_float64(expected)
    if got.shape != want.shape:
        return False, f"❌ {name} has shape {tuple(got.shape)}, expected {tuple(want.shape)}."
    if torch.allclose(got, want, atol=atol, rtol=rtol):
        return True, f"✅ {name} is right."
    if got.numel() == 1:
        shown = f"got {float(got):.6g}"
    else:
        shown = f"values off by up to {float((got - want).abs().max()):.3g}"
    return False, f"❌ {name} is off: {shown}."


def check_close(
    answer: Any,
    expected: Any,
    name: str = "your answer",
    atol: float = 1e-6,
    rtol: float = 1e-4,
    hint: Hint = "",
) -> bool:
    """Is ``answer`` numerically equal to ``expected`` (numbers, arrays or tensors)?

    A wrong answer shows the hints one by one (``hint`` may be a sequence: a nudge first) and the
    expected value only from the `REVEAL_AFTER`-th wrong try on.

    Example:
        >>> check_close(0.5 + 0.25, 0.75, name="the sum")
        ✅ the sum is right.
        True
    """
    ok, message = _compare(answer, expected, name, atol, rtol)
    want = _as_float64(expected)
    return _graded(name, ok, message, hint, _describe(want) if want is not None else "")


def _run_against(
    function: Callable,
    reference: Callable,
    inputs: Sequence[tuple],
    name: str,
    atol: float,
    rtol: float,
    mistakes: Mapping[str, Callable],
) -> tuple[bool, str, Any, Any]:
    """Compare ``function`` with ``reference`` on each input; name a known mistake if one fits.

    Returns ``(ok, message, answer, expected)``, the last two from the first failing input.
    """
    if _not_attempted(function):
        return False, _not_solved(name, "write it in place of the `...`"), None, None
    if not callable(function):
        return (
            False,
            f"❌ {name} must be a function (a `def`), got {type(function).__name__}: the check "
            "calls it on inputs of its own.",
            None,
            None,
        )
    for args in inputs:
        try:
            got = function(*args)
        except Exception as error:  # the student's code: report it, do not crash the lesson
            return False, f"❌ calling {name} raised {type(error).__name__}: {error}", None, None
        if _not_attempted(got):
            return False, _not_solved(name, "it still returns `...`; write its body"), None, None
        expected = reference(*args)
        ok, message = _compare(got, expected, f"{name}'s result", atol, rtol)
        if not ok:
            for explanation, mistaken in mistakes.items():
                if _is_the_mistake(got, mistaken(*args), expected, atol, rtol):
                    return False, f"❌ {name}: {explanation}", got, expected
            return False, message, got, expected
    return True, f"✅ {name} is right on all {len(inputs)} test inputs.", None, None


def check_function(
    function: Callable,
    reference: Callable,
    inputs: Sequence[tuple],
    name: str = "your function",
    atol: float = 1e-6,
    rtol: float = 1e-4,
    hint: Hint = "",
    mistakes: Mapping[str, Callable] | None = None,
) -> bool:
    """Does ``function(*args)`` match ``reference(*args)`` for every ``args`` in ``inputs``?

    Arguments:
        mistakes: known wrong answers, ``{explanation: mistaken_reference}``; when a wrong
            result is that of ``mistaken_reference(*args)`` (see `MISTAKE_SEPARATION`), the
            explanation is shown instead of the bare difference.

    Example:
        >>> try:  # under FFJORD_EDU_STRICT_CHECKS=1 a wrong answer also raises
        ...     ok = check_function(abs, abs, [(2.0,)], "my_abs")
        ...     ok = check_function(lambda x: -x, abs, [(2.0,)], "my_abs", mistakes={"a sign slip.": lambda x: -x})
        ... except ExerciseError:
        ...     ok = False
        ✅ my_abs is right on all 1 test inputs.
        ❌ my_abs: a sign slip.
    """
    ok, message, _, expected = _run_against(
        function, reference, inputs, name, atol, rtol, mistakes or {}
    )
    return _graded(name, ok, message, hint, _expected_text(expected))


def _expected_text(expected: Any) -> str:
    want = None if expected is None else _as_float64(expected)
    return "" if want is None else _describe(want) + " (at the first input it got wrong)"


def check_log_density(
    log_density: Callable,
    parts: Callable,
    inputs: Sequence[tuple],
    name: str = "your log-density",
    atol: float = 1e-6,
    rtol: float = 1e-4,
    hint: Hint = "",
) -> bool:
    r"""Check a change-of-variables log-density and name the classic slips.

    The right answer is :math:`\log p(x) = \log p_z(z) - \log|\det \partial x/\partial z|`,
    where ``parts(*args)`` returns the two ingredients ``(log_base, log_det)`` for the same
    points (for a CNF, ``log_det`` is :math:`\Delta\log p = \int_0^1 \operatorname{Tr} J\,dt`).
    Recognised: the log-determinant added instead of subtracted, left out, and an answer off by
    the same constant at every point (a normalising constant such as
    :math:`-\tfrac D2 \log 2\pi` missing).

    Example:
        >>> import torch
        >>> x = torch.tensor([0.5, 1.0, 2.0])
        >>> parts = lambda x: (torch.distributions.Normal(0, 1).log_prob(x / 2), torch.full_like(x, 2).log())
        >>> flipped = lambda x: parts(x)[0] + parts(x)[1]
        >>> try:  # under FFJORD_EDU_STRICT_CHECKS=1 a wrong answer also raises
        ...     ok = check_log_density(flipped, parts, [(x,)], "log_p")
        ... except ExerciseError:
        ...     ok = False
        ❌ log_p: the sign of the log-determinant is flipped. ...
    """

    def reference(*args: Any) -> torch.Tensor:
        log_base, log_det = parts(*args)
        return log_base - log_det

    mistakes = {
        FLIPPED_LOG_DET: lambda *args: sum(parts(*args)),
        MISSING_LOG_DET: lambda *args: parts(*args)[0],
    }
    ok, message, got, expected = _run_against(
        log_density, reference, inputs, name, atol, rtol, mistakes
    )
    if not ok and got is not None and message.startswith(f"❌ {name}'s result is off"):
        message = _constant_offset(got, expected, name, atol, rtol) or message
    return _graded(name, ok, message, hint, _expected_text(expected))


def _constant_offset(got: Any, expected: Any, name: str, atol: float, rtol: float) -> str | None:
    """The message for an answer off by one constant at every point, or ``None``."""
    gap = _as_float64(got) - _as_float64(expected)
    if gap.numel() > 1 and float(gap.std()) < atol + rtol and abs(float(gap.mean())) > atol:
        return (
            f"❌ {name}: off by the same constant {float(gap.mean()):+.4g} at every point: "
            f"a normalising constant is missing or doubled (a standard normal in D "
            f"dimensions needs −(D/2)·log 2π = −{0.5 * math.log(2 * math.pi):.4f}·D)."
        )
    return None


def check_time_direction(
    function: Callable,
    solve: Callable,
    inputs: Sequence[tuple],
    name: str = "your solve",
    start: float = 1.0,
    end: float = 0.0,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    hint: Hint = "",
    mistakes: Mapping[str, Callable] | None = None,
) -> bool:
    """Check a function that integrates an ODE from ``start`` to ``end``; spot the reversed solve.

    ``solve(*args, t0, t1)`` is the reference solver run from ``t0`` to ``t1``: the right answer
    is ``solve(*args, start, end)``; ``solve(*args, end, start)`` (time running the wrong way,
    e.g. a density solve from 0 to 1 that treats the data point as noise) is named as such, also
    when the student solved at a looser tolerance than the reference (see `MISTAKE_SEPARATION`).
    Further ``mistakes`` work as in `check_function`.
    """
    known = {
        WRONG_TIME_DIRECTION.format(start=start, end=end): lambda *args: solve(*args, end, start),
        **(mistakes or {}),
    }
    ok, message, _, expected = _run_against(
        function, lambda *args: solve(*args, start, end), inputs, name, atol, rtol, known
    )
    return _graded(name, ok, message, hint, _expected_text(expected))


def _rademacher_problem(probe: Any, like: torch.Tensor) -> str | None:
    """What is wrong with one probe drawn for ``like``, or ``None`` when it looks right."""
    if not isinstance(probe, torch.Tensor):
        return f"it should return a tensor, got {type(probe).__name__}."
    if probe.shape != like.shape:
        return f"the probe has shape {tuple(probe.shape)}; it must be shaped like its input, {tuple(like.shape)}."
    if probe.dtype != like.dtype:
        return (
            f"the probe has dtype {probe.dtype}; use the input's, {like.dtype} (`.to(like.dtype)`)."
        )
    values = set(torch.unique(probe).tolist())
    if values == {0.0, 1.0}:
        return "its entries are 0 and 1 (random bits b); a Rademacher probe is ±1: use 2·b − 1."
    if not values <= {-1.0, 1.0}:
        return (
            "its entries take other values than ±1 (Gaussian noise?): a Rademacher probe is "
            "+1 or −1, each with probability 1/2."
        )
    share = float((probe > 0).double().mean())
    if abs(share - 0.5) > 5 * 0.5 / math.sqrt(probe.numel()):
        return f"{share:.1%} of its entries are +1; each sign must have probability 1/2."
    return None


def check_rademacher_probe(
    sample: Callable, name: str = "your probe", like: torch.Tensor | None = None
) -> bool:
    r"""Does ``sample(like)`` draw a fresh Rademacher probe :math:`\varepsilon \in \{-1, +1\}^D`?

    Checks shape and dtype (those of ``like``), the values (0/1 bits and Gaussian noise are
    named), balanced signs, independent entries (:math:`\mathbb E[\varepsilon\varepsilon^\top]
    = I`), and that two calls draw different probes (a generator re-seeded inside is named).
    """
    if _not_attempted(sample):
        return _verdict(False, _not_solved(name, "write it in place of the `...`"))
    like = torch.zeros(4000, 8, dtype=torch.float64) if like is None else like
    try:
        with torch.random.fork_rng():  # checking must not move the notebook's random stream
            first, second = sample(like), sample(like)
    except Exception as error:  # the student's code: report it, do not crash the lesson
        return _verdict(False, f"❌ calling {name} raised {type(error).__name__}: {error}")
    if _not_attempted(first):
        return _verdict(False, _not_solved(name, "it still returns `...`; write its body"))
    problem = _rademacher_problem(first, like)
    if problem is None and torch.equal(first, second):
        problem = (
            "two calls return the same probe. Each solve needs a fresh one: do not re-seed a "
            "generator inside the function."
        )
    if problem is None and first.ndim == 2 and first.shape[1] > 1:
        flat = first.double()
        covariance = flat.T @ flat / flat.shape[0]
        off = covariance - torch.eye(flat.shape[1], dtype=flat.dtype)
        if float(off.abs().max()) > 6 / math.sqrt(flat.shape[0]):
            problem = (
                "its entries are correlated (E[ε εᵀ] must be I): draw every entry independently."
            )
    if problem is not None:
        return _verdict(False, f"❌ {name}: {problem}")
    return _verdict(True, f"✅ {name} draws fresh, independent ±1 entries.")


def _sign_estimates(jacobian: torch.Tensor) -> torch.Tensor:
    """All values of εᵀ J ε over the sign vectors ε ∈ {±1}^D (D ≤ 12), shape (2^D,)."""
    dim = jacobian.shape[0]
    signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=dim)), dtype=jacobian.dtype)
    return ((signs @ jacobian.T) * signs).sum(dim=1)


def check_probe_fixed(
    make_dynamics: Callable,
    net: Callable,
    z: torch.Tensor,
    t: float = 0.5,
    name: str = "your dynamics",
    atol: float = 1e-6,
) -> bool:
    r"""Check augmented dynamics with Hutchinson's estimate and one probe per solve.

    ``make_dynamics(net, z)`` must draw one Rademacher probe :math:`\varepsilon` shaped like
    ``z`` (one per sample) and return ``dynamics(t, (z, ell))`` giving
    :math:`\big(f(t, z),\ -\varepsilon^\top \tfrac{\partial f}{\partial z}\varepsilon\big)`.
    Named mistakes: a probe redrawn at every evaluation (two calls at the same point disagree),
    the divergence without its minus sign, the exact trace instead of the estimate, and the
    same probe in every solve. ``z`` has shape ``(B, D)`` with ``D ≤ 12``; with ``B ≥ 16`` a
    correct answer is called "the same probe every solve" with probability below 2^-32.

    The dynamics run under ``torch.no_grad()``, as in a density solve that needs no gradients:
    dynamics that take the divergence without ``torch.enable_grad()`` fail there, and are named.
    """
    if _not_attempted(make_dynamics):
        return _verdict(False, _not_solved(name, "write it in place of the `...`"))
    time = torch.tensor(t, dtype=z.dtype)
    state = (z, torch.zeros(z.shape[0], dtype=z.dtype))
    try:  # checking must not move the notebook's random stream; the solve runs without gradients
        with torch.random.fork_rng(), torch.no_grad():
            dynamics = make_dynamics(net, z)
            first = ... if _not_attempted(dynamics) else dynamics(time, state)
            if _not_attempted(first):
                return _verdict(False, _not_solved(name, "it still returns `...`; write it"))
            again = dynamics(time, state)
            other_solves = [make_dynamics(net, z)(time, state)[1] for _ in range(2)]
    except Exception as error:  # the student's code: report it, do not crash the lesson
        if _needs_grad_mode(error):
            return _verdict(False, f"❌ {name}: {NO_ENABLE_GRAD}")
        return _verdict(False, f"❌ {name} raised {type(error).__name__}: {error}")
    if not isinstance(first, tuple | list) or len(first) != 2:
        return _verdict(False, f"❌ {name}: dynamics(t, (z, ell)) must return a pair (dz, dell).")
    if not _matches(first[0], net(time, z), atol, 1e-6):
        return _verdict(False, f"❌ {name}: the first output must be the velocity f(t, z).")
    rate = _as_float64(first[1])
    if rate is None or rate.shape != (z.shape[0],):
        return _verdict(False, f"❌ {name}: dell needs one entry per sample, shape ({len(z)},).")
    if not _matches(again[1], rate, atol, 0.0):
        return _verdict(
            False,
            f"❌ {name}: the probe is redrawn at every evaluation: the same (t, z) gave two "
            "different rates. Draw it once per solve, outside `dynamics`, and reuse it; a "
            "redrawn probe turns the right-hand side into noise and the adaptive solver's steps "
            "collapse.",
        )
    jacobians = [
        torch.autograd.functional.jacobian(lambda v: net(time, v[None])[0], row).double()
        for row in z.detach()
    ]
    values = [_sign_estimates(j) for j in jacobians]

    def one_sign_estimate_per_row(rates: torch.Tensor) -> bool:
        return all(bool(torch.isclose(r, v, atol=atol).any()) for r, v in zip(rates, values))

    if not one_sign_estimate_per_row(-rate):
        exact = torch.stack([torch.trace(j) for j in jacobians])
        if one_sign_estimate_per_row(rate):
            problem = "the minus sign is missing: dell/dt = −εᵀ J ε."
        elif torch.allclose(rate, -exact, atol=atol):
            problem = "that is the exact trace; use Hutchinson's estimate with one probe, −εᵀ J ε."
        else:
            problem = "dell is not −εᵀ J ε for any ±1 probe ε (a Gaussian probe?)."
        return _verdict(False, f"❌ {name}: {problem}")
    informative = torch.tensor([float(v.max() - v.min()) > atol for v in values])
    if bool(informative.any()) and all(
        _matches(other[informative], rate[informative], atol, 0.0) for other in other_solves
    ):
        return _verdict(
            False,
            f"❌ {name}: every solve used the same probe. Draw a fresh one each time "
            "make_dynamics is called (no re-seeded generator inside).",
        )
    return _verdict(True, f"✅ {name} holds one Rademacher probe for the whole solve.")


def check_true(condition: Any, right: str, wrong: str) -> bool:
    """A yes/no check with the two messages to show."""
    if _not_attempted(condition):
        return _verdict(False, _not_solved("the answer", "it is still `...`; replace it"))
    return _verdict(bool(condition), f"✅ {right}" if condition else f"❌ {wrong}")


def check_prediction(
    predicted: Any, choices: Mapping[str, str], outcome: str, name: str = "prediction"
) -> bool:
    """Reveal the answer to a "predict before you run" question, once the student has committed.

    The question's markdown cell lists ``choices`` (a letter each); the student stores one letter
    in a variable before the experiment runs; the experiment computes which choice happened
    (``outcome``, derived from what it measured, never typed in); this check then shows the truth.
    Until the student commits (the variable is still ``...``) it shows nothing but a reminder.

    Args:
        predicted: the student's letter, e.g. ``"b"`` (case and surrounding spaces are ignored).
        choices: letter -> the statement it stands for, e.g. ``{"a": "the variance doubles"}``.
        outcome: the letter of the choice the run measured.
        name: the variable's name, for the messages.

    Raises:
        ValueError: ``outcome`` is not one of ``choices`` (the notebook's experiment is broken).

    Example:
        >>> check_prediction("a", {"a": "it halves", "b": "it doubles"}, outcome="a")
        ✅ prediction: you predicted (a) it halves, and the run agrees.
        True
    """
    letters = ", ".join(f'"{letter}"' for letter in choices)
    if outcome not in choices:
        raise ValueError(f"outcome {outcome!r} is not one of the choices {letters}")
    if _not_attempted(predicted):
        return _verdict(
            False,
            f"✋ {name}: commit to a prediction first: set it to one of {letters}, then run the "
            "experiment and this cell again. The answer is shown only after you commit.",
        )
    letter = str(predicted).strip().lower()
    if letter not in choices:
        return _verdict(False, f"❌ {name} is {predicted!r}: choose one of {letters}.")
    truth = f"({outcome}) {choices[outcome]}"
    if letter == outcome:
        return _verdict(True, f"✅ {name}: you predicted {truth}, and the run agrees.")
    return _verdict(
        False,
        f"❌ {name}: you predicted ({letter}) {choices[letter]}, but the run shows {truth}. "
        "Before reading on, find the step of your reasoning that broke.",
    )


# ---------------------------------------------------------------------------------------------
# The notebooks' exercise checkers. Each computes the right answer itself, from an oracle that
# does not use the formula the student is asked for, so a check cell holds no answer to copy.


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_value(
    answer: Any,
    expected: Any,
    name: str,
    atol: float,
    rtol: float,
    hint: Hint,
    mistakes: Mapping[str, Any] | None = None,
) -> bool:
    """`check_close` that also names known wrong values (``{explanation: mistaken_value}``)."""
    ok, message = _compare(answer, expected, name, atol, rtol)
    if not ok and message.startswith(f"❌ {name} is off"):
        for explanation, mistaken in (mistakes or {}).items():
            if _is_the_mistake(answer, mistaken, expected, atol, rtol):
                message = f"❌ {name}: {explanation}"
                break
    return _graded(name, ok, message, hint, _describe(_as_float64(expected)))


def _not_a_function(answer: Any, name: str, what: str) -> str | None:
    """The message for a value given where a function is asked for, or ``None``."""
    if _not_attempted(answer) or callable(answer):
        return None
    return (
        f"❌ {name} must be a function, `def {name}({what}):`, not a {type(answer).__name__}: "
        "the check calls it on inputs of its own, so a number measured or copied for one input "
        "cannot pass."
    )


def _returns_one_constant(function: Callable, inputs: Sequence[tuple]) -> bool:
    """Does ``function`` give the same number for inputs whose answers differ (a copied value)?"""
    try:
        values = [_as_float64(function(*args)) for args in inputs]
    except Exception:  # the student's code: `_run_against` reports the error itself
        return False
    if any(v is None or v.numel() != 1 for v in values):
        return False
    return all(torch.isclose(v, values[0], rtol=1e-9, atol=1e-12) for v in values)


def second_order_oracle(matrix: torch.Tensor) -> torch.Tensor:
    r"""The :math:`c` of :math:`\log|\det(I + \varepsilon J)| = \varepsilon \operatorname{Tr} J + c\,\varepsilon^2 + O(\varepsilon^3)`.

    From the eigenvalues :math:`\lambda_i` of ``matrix``: :math:`\log|1 + \varepsilon\lambda| =
    \operatorname{Re}\log(1 + \varepsilon\lambda)`, so :math:`c = -\tfrac12 \sum_i
    \operatorname{Re}\lambda_i^2` (notebook 03, exercise 1).
    """
    return -0.5 * (torch.linalg.eigvals(matrix) ** 2).real.sum()


def check_second_order(
    second_order: Any,
    matrix: torch.Tensor | None = None,
    measured: Any = None,
    name: str = "second_order",
) -> bool:
    r"""Notebook 03, exercise 1: ``second_order(J)``, the coefficient :math:`c` as a formula in J.

    Checked on several random square matrices against `second_order_oracle`; the classic slips
    (:math:`\|J\|_F^2` or :math:`(\operatorname{Tr}J)^2` for :math:`\operatorname{Tr}J^2`, the
    factor :math:`-\tfrac12`) are named, and a function that returns one number for every matrix
    (a copied measurement) is rejected. With ``matrix`` and ``measured`` (the notebook's ``J5``
    and its measured ``c``), a right formula is also shown against the measurement.
    """
    problem = _not_a_function(second_order, name, "J")
    if problem:
        return _graded(name, False, problem)
    generator = _seeded(2021)
    inputs = [(torch.randn(d, d, generator=generator, dtype=torch.float64),) for d in (5, 3, 4, 6)]
    if not _not_attempted(second_order) and _returns_one_constant(second_order, inputs):
        return _graded(
            name,
            False,
            f"❌ {name} returns the same number for every matrix, but c depends on J: write it "
            "as a formula in J (a measured value for J5 fits J5 alone).",
        )
    ok, message, _, expected = _run_against(
        second_order,
        second_order_oracle,
        inputs,
        name,
        1e-9,
        1e-9,
        {
            "that is −½ Tr(JᵀJ) = −½‖J‖²_F, the squared singular values; you need the squared "
            "eigenvalues, Σλᵢ², which are the eigenvalues of J² (not of JᵀJ).": lambda j: (
                -0.5 * j.pow(2).sum()
            ),
            "that is −½ (Tr J)², the square of the sum of the eigenvalues; you need the sum of "
            "their squares.": lambda j: -0.5 * torch.trace(j) ** 2,
            "the factor is off: log(1 + u) = u − u²/2 + …, so each eigenvalue contributes "
            "−½ ε²λᵢ².": lambda j: torch.trace(j @ j),
            "the sign is flipped: log(1 + u) = u − u²/2 + …": lambda j: 0.5 * torch.trace(j @ j),
        },
    )
    hints = (
        "expand log(1 + ελᵢ) to second order and sum over i; which matrix has the eigenvalues λᵢ²?",
        "the eigenvalues of J² are λᵢ², so Σλᵢ² = Tr(J²); mind the factor of the ε² term.",
    )
    verdict = _graded(name, ok, message, hints, _expected_text(expected))
    if ok and matrix is not None and measured is not None:
        print(
            f"   for J5: your formula gives {float(second_order(matrix)):.4f}, "
            f"the measurement {float(measured):.4f}."
        )
    return verdict


def _divergence_by_autograd(field: Callable, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    from ..trace import exact_divergence

    with torch.enable_grad():
        z = z.detach().clone().requires_grad_(True)
        return exact_divergence(field(t, z), z, create_graph=False).detach()


def _in_inference_mode(function: Callable) -> Callable:
    """``function`` run with autograd impossible (a formula needs none; autograd raises there)."""

    def run(*args: Any) -> Any:
        with torch.inference_mode():
            return function(*args)

    return run


def check_swirl_divergence(
    swirl_divergence: Any, field: Callable, name: str = "swirl_divergence"
) -> bool:
    r"""Notebook 03, exercise 2: the divergence of the swirl field by formula, without autograd.

    Compared with the exact divergence of ``field`` (the notebook's swirl) by autograd at random
    points and times; the student's function runs in ``torch.inference_mode()``, where autograd
    cannot run, so an answer that differentiates instead of using a formula is named.
    """
    generator = _seeded(3)
    inputs = [
        (
            torch.tensor(t, dtype=torch.float64),
            s * torch.randn(16, 2, generator=generator, dtype=torch.float64),
        )
        for t, s in ((0.0, 1.0), (0.7, 3.0))
    ]
    if not _not_attempted(swirl_divergence) and callable(swirl_divergence):
        try:
            _in_inference_mode(swirl_divergence)(*inputs[0])
        except Exception as error:  # the student's code: name autograd, report anything else
            if _needs_grad_mode(error) or "grad" in str(error).lower():
                return _graded(
                    name,
                    False,
                    f"❌ {name} uses autograd; the exercise asks for a formula: write "
                    "Tr(∂f/∂z) out by hand from the three ingredients of f.",
                )

    def push_without_r_term(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return 2 * torch.exp(-z.pow(2).sum(dim=1) / 2)

    ok, message, _, expected = _run_against(
        _in_inference_mode(swirl_divergence) if callable(swirl_divergence) else swirl_divergence,
        lambda t, z: _divergence_by_autograd(field, t, z),
        inputs,
        name,
        1e-8,
        1e-4,
        {
            "the r·g′(r) term of the push is missing: ∇·(g(r) z) = 2g + r g′(r), and "
            "g = e^{−r²/2} is not constant.": push_without_r_term,
            "the sign is flipped.": lambda t, z: -_divergence_by_autograd(field, t, z),
        },
    )
    hints = (
        "two of the three ingredients have zero divergence (the facts above say which); "
        "work out the third with ∇·(g(r) z) = 2g + r g′(r).",
        "only the push term e^{−r²/2} z contributes: g = e^{−r²/2}, so r g′(r) = −r² g.",
    )
    return _graded(name, ok, message, hints, _expected_text(expected))


def _doubling_time_oracle(matrix: torch.Tensor) -> float:
    r"""The time at which :math:`p_t(0) = 2 p_0(0)` under :math:`\dot z = Az`, by bisection.

    The particles of :math:`\mathcal N(0, I)` are :math:`\mathcal N(0, e^{tA} e^{tA^\top})` at time
    :math:`t`, so :math:`\log p_t(0) - \log p_0(0) = -\log|\det e^{tA}|`, evaluated with the
    matrix exponential and a log-determinant (no trace).
    """

    def gain(t: float) -> float:
        return -float(torch.linalg.slogdet(torch.linalg.matrix_exp(t * matrix)).logabsdet)

    low, high = 0.0, 1.0
    while gain(high) < math.log(2):
        low, high = high, 2 * high
        if high > 1e6:
            raise ValueError("the density at the origin never doubles under this matrix")
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if gain(middle) < math.log(2) else (low, middle)
    return (low + high) / 2


def check_doubling_time(t_double: Any, matrix: torch.Tensor, name: str = "t_double") -> bool:
    """Notebook 03, exercise 3: when has the density at the fixed point 0 of ż = Az doubled?"""
    if isinstance(t_double, torch.Tensor) and t_double.numel() == 1:
        t_double = float(t_double)
    expected = _doubling_time_oracle(matrix.double())
    rate = -float(torch.linalg.slogdet(torch.linalg.matrix_exp(matrix.double())).logabsdet)
    mistakes = {
        "a negative time: log p_t(0) − log p_0(0) = −t·Tr A, and Tr A < 0 here, so the density "
        "rises; mind the sign.": -expected,
        "the density doubles when log p gains log 2, not 1.": 1 / rate,
    }
    hints = (
        "follow the particle that sits at the origin forever: at what rate does log p_t change "
        "along it?",
        "log p_t(0) = log p_0(0) − t·Tr A; doubling means a gain of log 2.",
    )
    return _check_value(t_double, expected, name, 1e-6, 1e-4, hints, mistakes)


def _rademacher_estimates(matrix: torch.Tensor) -> torch.Tensor:
    r"""Every value of :math:`\varepsilon^\top A \varepsilon` over the :math:`2^D` sign vectors (D ≤ 22)."""
    dim = matrix.shape[0]
    if dim > 22:
        raise ValueError(f"enumerating 2^{dim} sign vectors is too much; D ≤ 22")
    bits = torch.arange(dim)
    values = []
    for start in range(0, 2**dim, 2**16):
        index = torch.arange(start, min(start + 2**16, 2**dim))
        signs = (((index[:, None] >> bits) & 1) * 2 - 1).to(matrix.dtype)
        values.append(((signs @ matrix.T) * signs).sum(dim=1))
    return torch.cat(values)


def check_zero_variance_matrix(A_zero: Any, name: str = "A_zero") -> bool:
    r"""Notebook 04, exercise 2: a 3×3 matrix, not diagonal, whose Rademacher estimate never varies.

    Every one of the 8 sign vectors is tried: :math:`\varepsilon^\top A \varepsilon` must take one
    value, and an off-diagonal entry must have size at least 1.
    """
    if _not_attempted(A_zero):
        return _graded(name, False, _not_solved(name, "it is still `...`; replace it"))
    matrix = _as_float64(A_zero)
    hints = (
        "which part of a matrix does εᵀAε ignore, and which part do ±1 probes read exactly?",
        "εᵀAε only sees S = ½(A + Aᵀ), and Rademacher probes read a diagonal S exactly: give A "
        "an antisymmetric off-diagonal part.",
    )
    if matrix is None or matrix.shape != (3, 3):
        shape = "no matrix" if matrix is None else f"shape {tuple(matrix.shape)}"
        return _graded(name, False, f"❌ {name} must be a 3×3 matrix, got {shape}.", hints)
    if float((matrix - torch.diag(matrix.diagonal())).abs().max()) < 1:
        return _graded(
            name, False, f"❌ {name} needs an off-diagonal entry of size ≥ 1 (not diagonal).", hints
        )
    values = _rademacher_estimates(matrix)
    if float(values.max() - values.min()) > 1e-9:
        spread = f"{float(values.min()):.3g} to {float(values.max()):.3g}"
        return _graded(
            name, False, f"❌ {name}: its estimate varies from probe to probe ({spread}).", hints
        )
    return _graded(
        name,
        True,
        "✅ zero variance: its symmetric part is diagonal, and Rademacher probes read a "
        "diagonal exactly.",
    )


def check_probes_needed(
    probes_needed: Any, matrix: torch.Tensor, share: float = 0.01, name: str = "probes_needed"
) -> bool:
    r"""Notebook 04, exercise 3: the fewest Rademacher probes for a spread of ``share``·|Tr A|.

    The variance of one estimate comes from enumerating every sign vector (an oracle that does
    not use the closed form); then :math:`k = \lceil \operatorname{Var} / (\text{share}\,|\operatorname{Tr}A|)^2 \rceil`.
    Named: the Gaussian or the full-matrix variance, the standard deviation left unsquared, and
    rounding down.
    """
    matrix = matrix.double()
    variance = float(_rademacher_estimates(matrix).var(unbiased=False))
    target = share * abs(float(torch.trace(matrix)))
    expected = math.ceil(variance / target**2)
    symmetric = (matrix + matrix.T) / 2
    gaussian = 2 * float(symmetric.pow(2).sum())
    unsymmetrised = 2 * float(matrix.pow(2).sum() - matrix.diagonal().pow(2).sum())
    candidates = {
        "that is the count for Gaussian probes (2‖S‖²_F); Rademacher probes do not pay for the "
        "diagonal.": math.ceil(gaussian / target**2),
        "the variance uses A itself; the estimator only sees its symmetric part S = ½(A + Aᵀ).": (
            math.ceil(unsymmetrised / target**2)
        ),
        "the spread of a k-probe average is sqrt(Var / k): compare a standard deviation with "
        "the 1%, i.e. square the target.": math.ceil(variance / target),
        "round up: with one probe fewer the spread is above 1%.": math.floor(variance / target**2),
    }
    mistakes = {text: value for text, value in candidates.items() if value != expected}
    hints = (
        "averaging k independent probes divides the variance by k; which k brings the standard "
        "deviation down to 1% of |Tr A|?",
        "solve sqrt(variance_rademacher(A) / k) ≤ 0.01·|Tr(A)| for k and round up.",
    )
    return _check_value(probes_needed, expected, name, 0.5, 0.0, hints, mistakes)


def _gaussian_quadratic_variance(matrix: torch.Tensor) -> float:
    r""":math:`\operatorname{Var}[\varepsilon^\top M \varepsilon]`, :math:`\varepsilon \sim \mathcal N(0, I)`,
    from the eigenvalues :math:`\lambda_i` of the symmetric part: the form is
    :math:`\sum_i \lambda_i \chi^2_1`, whose variance is :math:`2\sum_i \lambda_i^2`."""
    eigenvalues = torch.linalg.eigvalsh((matrix + matrix.T) / 2)
    return 2 * float(eigenvalues.pow(2).sum())


def check_bottleneck_variance(
    bottleneck_variance: Any,
    J_h: torch.Tensor,
    J_g: torch.Tensor,
    name: str = "bottleneck_variance",
) -> bool:
    r"""Notebook 04, exercise 6: the variance of :math:`\varepsilon^\top J_h J_g \varepsilon`,
    Gaussian :math:`\varepsilon \in \mathbb R^H`, on the notebook's factors and random ones.

    The oracle diagonalises the symmetric part of the :math:`H \times H` product (not the
    Frobenius-norm formula the student writes). Named: plain Hutchinson's :math:`J_g J_h`, the
    unsymmetrised product, and the missing factor 2.
    """
    generator = torch.Generator().manual_seed(9)
    inputs = [(J_h.double(), J_g.double())] + [
        (
            torch.randn(hidden, dim, generator=generator, dtype=torch.float64),
            torch.randn(dim, hidden, generator=generator, dtype=torch.float64),
        )
        for hidden, dim in ((2, 6), (3, 10), (5, 5))
    ]
    mistakes = {
        "that is plain Hutchinson's variance: trace J_h J_g (H x H), not J_g J_h (D x D).": (
            lambda J_h, J_g: _gaussian_quadratic_variance(J_g @ J_h)
        ),
        "take the symmetric part of J_h J_g first: the estimate only sees sym(B).": (
            lambda J_h, J_g: 2 * float((J_h @ J_g).pow(2).sum())
        ),
        "the Gaussian variance is twice the squared Frobenius norm.": (
            lambda J_h, J_g: _gaussian_quadratic_variance(J_h @ J_g) / 2
        ),
    }
    hint = "the estimate traces the H x H matrix B = J_h J_g: section 2's Gaussian variance of B."
    return check_function(
        bottleneck_variance,
        lambda J_h, J_g: _gaussian_quadratic_variance(J_h @ J_g),
        inputs,
        name=name,
        rtol=1e-6,
        hint=hint,
        mistakes=mistakes,
    )


def _vjp_multiply_adds(dim: int, width: int) -> int:
    """Multiply-adds of one vector-Jacobian product through a D → H → D MLP, per sample."""
    return dim * width + width * dim


def check_cost_exponents(exact_exponent: Any, hutchinson_exponent: Any) -> bool:
    r"""Notebook 04, exercise 4: the exponents p of cost ∝ D^p when the hidden width is H = D.

    The oracle counts multiply-adds: one VJP through :math:`D \to H \to D` layers costs
    :math:`2DH`; the exact divergence takes :math:`D` of them, Hutchinson one; the exponents are
    the log-log slopes of those counts between :math:`D` and :math:`2D`.
    """

    def slope(vjps: Callable[[int], int]) -> float:
        dim = 1024
        cost = [vjps(d) * _vjp_multiply_adds(d, d) for d in (dim, 2 * dim)]
        return math.log2(cost[1] / cost[0])

    fixed_width = "that is the exponent for a fixed width; with H = D one VJP costs ∝ D·H = D²."
    exact_ok = _check_value(
        exact_exponent,
        slope(lambda d: d),
        "exact_exponent",
        1e-9,
        0.0,
        (
            "how does one VJP's cost grow when the width grows with D, and how many VJPs does the "
            "exact divergence take?",
            "one VJP through D → D → D layers costs about D·D per sample; the exact divergence "
            "takes D of them.",
        ),
        {fixed_width: 2.0},
    )
    hutchinson_ok = _check_value(
        hutchinson_exponent,
        slope(lambda d: 1),
        "hutchinson_exponent",
        1e-9,
        0.0,
        (
            "Hutchinson takes one VJP whatever D; how does that VJP's cost grow with H = D?",
            "Hutchinson takes a single VJP, and each VJP now costs about D·D per sample.",
        ),
        {fixed_width: 1.0},
    )
    return exact_ok and hutchinson_ok


def check_fraction_on_board(
    fraction_on_board: Any, samples: torch.Tensor, name: str = "fraction_on_board"
) -> bool:
    """Notebook 05, exercise 1: the fraction of ``samples`` on a filled checkerboard square.

    The reference counts squares by hand: a point is on the board when it lies in [-4, 4]² and
    its column + row (squares of side 2) is even. A right answer above 85% is then confirmed.
    """
    cells = torch.div(samples + 4, 2, rounding_mode="floor")
    inside = (samples.abs() <= 4).all(dim=1) & (cells.sum(dim=1) % 2 == 0)
    expected = float(inside.double().mean())
    if isinstance(fraction_on_board, torch.Tensor) and fraction_on_board.numel() == 1:
        fraction_on_board = float(fraction_on_board)
    hints = (
        "toy.log_prob is finite exactly on the filled squares.",
        "compare the log-density with -math.inf, then take the mean of the boolean mask as floats.",
    )
    mistakes = {"that is the fraction *off* the board.": 1 - expected}
    if not _check_value(fraction_on_board, expected, name, 1e-6, 0.0, hints, mistakes):
        return False
    return check_true(
        expected > 0.85,
        right=f"{expected:.1%} of the samples are on the board (more than 85%).",
        wrong="fewer than 85% of the samples are on the board: is the model trained?",
    )


class _ForwardOnly:
    """A flow seen only through ``flow(x) -> (z, delta_logp)``: `log_prob` is out of reach."""

    def __init__(self, flow: Callable) -> None:
        self._flow = flow

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._flow(x)

    def __getattr__(self, attribute: str) -> Any:
        raise AttributeError(
            f"this check's flow offers only flow(x) -> (z, delta_logp), not `.{attribute}`: "
            "build log p(x) from those two"
        )


def check_log_density_from_flow(
    log_density: Any, flow: Callable, name: str = "log_density"
) -> bool:
    r"""Notebook 05, exercise 2: :math:`\log p(x)` from ``(z, delta_logp) = flow(x)``, by hand.

    The student's function receives the flow wrapped so that only ``flow(x)`` works (calling
    ``flow.log_prob`` would copy the answer); the reference is :math:`\log\mathcal N(z) -
    \Delta\log p`. Named: the sign of :math:`\Delta\log p`, :math:`\Delta\log p` left out, and a
    missing normalising constant.
    """
    from ..cnf import standard_normal_log_prob
    from ..datasets import toy

    def parts(wrapped: _ForwardOnly, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, delta_logp = wrapped(x)
        return standard_normal_log_prob(z), delta_logp

    wrapped = _ForwardOnly(flow)
    inputs = [
        (wrapped, toy.sample("8gaussians", 64, seed=10_006)),
        (wrapped, 3 * torch.randn(16, 2, generator=_seeded(10_007))),
    ]
    hints = (
        "which way does Δlog p enter, and what does a standard normal's log-density need besides "
        "−½‖z‖²?",
        "log p(x) = log N(z) − delta_logp, and log N(z) = −½‖z‖² − (D/2) log 2π.",
    )
    return check_log_density(log_density, parts, inputs, name=name, atol=1e-5, hint=hints)


def check_kl_gaps(
    kl_gap_checkerboard: Any,
    kl_paired_8gaussians: Any,
    nll_samples: Mapping[str, torch.Tensor],
    test_points: Mapping[str, torch.Tensor],
) -> bool:
    r"""Notebook 05, exercise 3: the KL gap from the NLL and the entropy, and the paired estimate.

    Computed from the same ``nll_samples`` and ``test_points`` the student used:
    :math:`\overline{\text{NLL}} - H` for the checkerboard and
    :math:`\frac1n\sum_i \log p_\text{data}(x_i) - \log p_\text{model}(x_i)` for 8gaussians.
    """
    from ..datasets import toy

    nll_board = nll_samples["checkerboard"].double()
    gap = float(nll_board.mean()) - toy.entropy("checkerboard")
    nll_eight = nll_samples["8gaussians"].double()
    log_data = toy.log_prob("8gaussians", test_points["8gaussians"].double())
    paired = float((log_data + nll_eight).mean())
    unpaired = float(nll_eight.mean()) - toy.entropy("8gaussians")
    gap_ok = _check_value(
        kl_gap_checkerboard,
        gap,
        "kl_gap_checkerboard",
        1e-5,
        0.0,
        (
            "the NLL estimates H + KL.",
            "the NLL is −log p, so its mean over the test points minus H is the gap.",
        ),
        {"the sign is flipped: a KL divergence is NLL − H ≥ 0.": -gap},
    )
    paired_ok = _check_value(
        kl_paired_8gaussians,
        paired,
        "kl_paired_8gaussians",
        1e-5,
        0.0,
        (
            "pair the two log-densities point by point before averaging.",
            "−log p_model(x) is nll_samples; add log p_data(x) point by point, then average.",
        ),
        {
            "the sign is flipped: KL(p_data ‖ p_model) = E[log p_data − log p_model].": -paired,
            "that is the unpaired estimate NLL − H; pair log p_data(x) with −log p_model(x) on "
            "the same points.": unpaired,
        },
    )
    return gap_ok and paired_ok


def check_logit_normal(
    log_p_logit_normal: Any, log_base: Callable, name: str = "log_p_logit_normal"
) -> bool:
    r"""Notebook 01, exercise 1: the density of :math:`x = \sigma(z)`, :math:`z \sim \mathcal N(0, 1)`.

    The ingredients come from ``torch.logit`` and autograd (no hand derivative):
    :math:`\log p_z(\operatorname{logit} x)` with ``log_base`` and
    :math:`\log|dx/dz| = -\log|d\operatorname{logit}(x)/dx|`; `check_log_density` names the slips.
    """

    def parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.clone().requires_grad_()
        with torch.enable_grad():
            z = torch.logit(x)
            (slope,) = torch.autograd.grad(z.sum(), x)
        return log_base(z).detach(), torch.log(1 / slope.abs()).detach()

    inputs = [
        (torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64),),
        (torch.linspace(0.01, 0.99, 50, dtype=torch.float64),),
    ]
    hints = (
        "the change of variables needs z = g⁻¹(x) and the derivative of g⁻¹ at x.",
        "log p_x(x) = log N(logit x) + log|d logit(x)/dx|, and d logit(x)/dx = 1 / (x (1 - x)).",
    )
    return check_log_density(log_p_logit_normal, parts, inputs, name=name, hint=hints)


def _adjoint_by_autograd(theta: float, z0: float) -> torch.Tensor:
    """``[dL/dθ, dL/dz0]`` for ż = θz, L = ½ z(1)², by autograd through a tight solve."""
    from ..solvers import odeint

    theta_ = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    start = torch.tensor([z0], dtype=torch.float64, requires_grad=True)
    times = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.enable_grad():
        end = odeint(lambda t, z: theta_ * z, start, times, atol=1e-11, rtol=1e-11)[-1]
        theta_grad, start_grad = torch.autograd.grad(end.pow(2).sum() / 2, (theta_, start))
    return torch.stack([theta_grad, start_grad[0]])


def check_adjoint_by_hand(adjoint_by_hand: Any, name: str = "adjoint_by_hand") -> bool:
    """Notebook 02, exercise 3: the adjoint of ż = θz, L = ½ z(1)², solved on paper."""
    hints = (
        "solve z(t) first, then a(t) backwards from a(1) = z(1); what is a(t)·z(t)?",
        "z(t) = z0·e^(θt) and a(t) = z(1)·e^(θ(1-t)); the product a(t)·z(t) does not depend on "
        "t. dL/dz0 = a(0).",
    )
    return check_function(
        adjoint_by_hand,
        _adjoint_by_autograd,
        [(0.7, 1.5), (-0.4, 2.0), (0.0, -1.0), (1.2, 0.3)],
        name=name,
        atol=1e-7,
        hint=hints,
    )


def _planar_log_det_by_autograd(
    z: torch.Tensor, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """log|det| of the Jacobian of z ↦ z + u tanh(wᵀz + b), row by row, from autograd."""

    def one(i: int) -> torch.Tensor:
        def step(v: torch.Tensor) -> torch.Tensor:
            return v + u[i] * torch.tanh(w[i] @ v + b[i])

        return torch.linalg.slogdet(torch.autograd.functional.jacobian(step, z[i])).logabsdet

    return torch.stack([one(i) for i in range(z.shape[0])])


def check_planar_log_det(planar_log_det: Any, name: str = "planar_log_det") -> bool:
    """Notebook 09, exercise 3: the planar map's log-determinant, against autograd's Jacobian."""
    generator = _seeded(5)
    z, w, u = (torch.randn(6, 3, generator=generator, dtype=torch.float64) for _ in range(3))
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    # push u along w until w·u ≥ 0.5 > -1, so that every map is invertible
    u = u + (0.5 - (w * u).sum(1, keepdim=True)).clamp_min(0) * w / w.pow(2).sum(1, keepdim=True)
    hints = (
        "the Jacobian is I plus a rank-one matrix; the matrix determinant lemma gives its det.",
        "ψ = (1 - tanh²(w·z + b)) w; det(I + u ψᵀ) = 1 + u·ψ.",
    )
    return check_function(
        planar_log_det,
        _planar_log_det_by_autograd,
        [(z, u, w, b), (3 * z[:2], w[:2].clone(), w[:2], b[:2])],
        name=name,
        hint=hints,
    )


def _algorithm_1_log_prob(flow: Any, x: torch.Tensor, mistake: str) -> torch.Tensor:
    """log p(x) of Algorithm 1 for a one-block Hutchinson `CNF`, made with one known ``mistake``:
    ``"redrawn"`` (a new probe at every evaluation) or ``"forward"`` (the solve run 0 → T)."""
    net, settings = flow.blocks[0].net, flow.settings
    probe = None if mistake == "redrawn" else sample_probe(x, settings.noise)

    def dynamics(t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        with torch.enable_grad():
            z = state[0].detach().requires_grad_(True)
            f = net(t, z)
            eps = sample_probe(z, settings.noise) if probe is None else probe
            return f.detach(), -hutchinson_divergence(f, z, eps, create_graph=False).detach()

    times = [0.0, flow.T] if mistake == "forward" else [flow.T, 0.0]
    zeros = torch.zeros(x.shape[0], dtype=x.dtype)
    z, delta_logp = odeint(
        dynamics, (x, zeros), torch.tensor(times, dtype=x.dtype), **settings.solver_options
    )
    return standard_normal_log_prob(z[-1]) - delta_logp[-1]


def _training_step_mistake(loss: float, expected: float, flow: Any, x: torch.Tensor, seed: int):
    """The name of the known mistake whose loss equals ``loss``, or ``None``."""
    atol = 1e-6 + 1e-6 * abs(expected)
    if abs(loss + expected) <= atol:
        return (
            "the loss has the wrong sign: minimise the negative log-likelihood, "
            "loss = −mean log p(x)."
        )
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        z, delta_logp = copy.deepcopy(flow)(x.clone())
        flipped = -(standard_normal_log_prob(z) + delta_logp).mean().item()
        variants = {"flipped": flipped}
        for mistake in ("redrawn", "forward"):
            torch.manual_seed(seed)
            variants[mistake] = -_algorithm_1_log_prob(flow, x.clone(), mistake).mean().item()
    messages = {
        "flipped": "the sign of Δlogp is flipped: log p(x) = log N(z(0)) − Δlogp, with the "
        "augmented dynamics returning −εᵀ(∂f/∂z)ε (not +).",
        "redrawn": "the probe is redrawn at every evaluation: draw ε once per solve, before "
        "calling odeint, and let the dynamics reuse it.",
        "forward": "the density solve runs from t = 0 to t = 1: the data x lives at t = 1, so "
        "integrate the augmented state from 1 down to 0 (times [1, 0]).",
    }
    for mistake, value in variants.items():
        if abs(loss - value) <= atol:
            return messages[mistake]
    return None


def check_training_step(
    training_step: Callable,
    flow: Any,
    batches: Sequence[torch.Tensor],
    name: str = "training_step",
    lr: float = 1e-2,
    atol: float = 1e-6,
    seed: int = 0,
) -> bool:
    r"""Check Algorithm 1 written by hand: ``training_step(flow, optimizer, x) -> loss``.

    Runs the student's step and the library's (`CNF.training_loss`, ``backward``, Adam's
    ``step``) on two copies of ``flow`` (one block, ``trace="hutchinson"``), one batch after the
    other, each step with the global generator seeded to ``seed + i`` so that both draw the same
    probe. The losses must agree to ``atol`` and so must the parameters after every step. Named
    mistakes: the loss's sign, the sign of Δlogp, a probe redrawn at every evaluation, a solve
    from 0 to 1, no optimiser step, gradients accumulated across steps (no ``zero_grad``).
    """
    if _not_attempted(training_step):
        return _verdict(False, _not_solved(name, "write it in place of the `...`"))
    mine, reference = copy.deepcopy(flow), copy.deepcopy(flow)
    mine_optimizer = torch.optim.Adam(mine.parameters(), lr=lr)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=lr)
    for i, x in enumerate(batches):
        with torch.random.fork_rng():  # checking must not move the notebook's random stream
            torch.manual_seed(seed + i)
            loss, _ = reference.training_loss(x.clone())
            reference_optimizer.zero_grad()
            loss.backward()
            reference_optimizer.step()
            before = copy.deepcopy(mine)
            torch.manual_seed(seed + i)
            try:
                got = training_step(mine, mine_optimizer, x.clone())
            except Exception as error:  # the student's code: report it, do not crash the lesson
                return _verdict(False, f"❌ {name} raised {type(error).__name__}: {error}")
        if _not_attempted(got):
            return _verdict(False, _not_solved(name, "it still returns `...`; write it"))
        value = _as_float64(got)
        if value is None or value.numel() != 1:
            return _verdict(False, f"❌ {name} must return the loss as a number, got {got!r}.")
        expected = loss.item()
        if abs(float(value) - expected) > atol + 1e-6 * abs(expected):
            mistake = _training_step_mistake(float(value), expected, before, x, seed + i)
            if mistake is None:
                mistake = f"the loss is {float(value):.6g}, expected {expected:.6g}."
            return _verdict(False, f"❌ {name}: {mistake}")
        for (key, p), q in zip(mine.named_parameters(), reference.parameters()):
            if not torch.allclose(p, q, atol=atol, rtol=1e-5):
                if all(torch.equal(p, b) for p, b in zip(mine.parameters(), before.parameters())):
                    problem = (
                        "the parameters did not move: call loss.backward() and optimizer.step()."
                    )
                elif i > 0:
                    problem = (
                        "gradients piled up over steps: call optimizer.zero_grad() before "
                        "loss.backward()."
                    )
                else:
                    problem = f"the loss is right, but after the step {key} differs from Adam's."
                return _verdict(False, f"❌ {name}: {problem}")
    return _verdict(
        True, f"✅ {name} matches CNF.training_loss and its Adam step on {len(batches)} batches."
    )


# --- Notebook 11: your own density ---------------------------------------------------------------


def _stroke_pictures() -> dict[str, Any]:
    """The pictures the notebook-11 checks use: a word in bold and in normal weight, and noise."""
    import numpy as np

    from ..datasets import picture

    generator = np.random.default_rng(11)
    return {
        "bold": picture.from_text("FFJORD", weight="bold"),
        "thin": picture.from_text("FFJORD", weight="normal"),
        "noise": picture.from_array(generator.random((12, 20))),
    }


def _kinetic_oracle_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Paths with known kinetic energy: straight lines at constant speed and circles at constant
    angular speed, on fine uniform and non-uniform time grids."""
    generator = _seeded(1111)
    times = torch.linspace(0.0, 1.0, 4001, dtype=torch.float64)
    start, velocity = torch.randn(2, 6, 2, generator=generator, dtype=torch.float64)
    lines = start + times[:, None, None] * velocity  # (T, N, 2)
    radius = torch.rand(5, generator=generator, dtype=torch.float64) + 0.5
    omega = 2.0 * torch.rand(5, generator=generator, dtype=torch.float64) + 1.0
    uneven = torch.linspace(0.0, 1.0, 4001, dtype=torch.float64) ** 2
    angle = uneven[:, None] * omega
    circles = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=-1)  # (T, N, 2)
    return [(lines, times), (circles, uneven)]


def _kinetic_oracle(paths: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """The exact :math:`\\frac1N\\sum_i\\int_0^1\\|\\dot z_i\\|^2 dt` of `_kinetic_oracle_inputs`'
    paths, from their closed forms: a line moves at its constant velocity; a circle of radius
    :math:`r` at angular speed :math:`\\omega` has speed :math:`r\\omega`."""
    duration = times[-1] - times[0]
    steps = paths[1:] - paths[:-1]
    is_line = torch.allclose(steps[0], steps[-1] * (times[1] - times[0]) / (times[-1] - times[-2]))
    if is_line:
        speed_squared = (steps[0] / (times[1] - times[0])).pow(2).sum(dim=-1)
    else:
        radius = paths[0].norm(dim=-1)
        omega = torch.atan2(paths[-1, :, 1], paths[-1, :, 0]) % (2 * math.pi) / duration
        speed_squared = (radius * omega) ** 2
    return (speed_squared * duration).mean()


def check_kinetic_energy(kinetic_energy: Any, name: str = "kinetic_energy") -> bool:
    r"""Notebook 11, exercise 2: ``kinetic_energy(paths, times)``, the mean over particles of
    :math:`\int \|\dot z(t)\|^2 dt` from paths ``(T, N, 2)`` sampled at ``times``.

    Checked on straight lines and on circles (on an uneven time grid) against their closed-form
    kinetic energies; the path length and the sum of squared steps without the division by the
    time step are named.
    """
    hints = (
        "on each interval the velocity is about Δz / Δt; integrate its square over time.",
        "sum ‖Δz‖² / Δt over the intervals, then average over particles.",
    )

    def path_length(paths: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return (paths[1:] - paths[:-1]).norm(dim=-1).sum(dim=0).mean()

    def no_division(paths: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        return (paths[1:] - paths[:-1]).pow(2).sum(dim=-1).sum(dim=0).mean()

    return check_function(
        kinetic_energy,
        _kinetic_oracle,
        _kinetic_oracle_inputs(),
        name,
        atol=1e-6,
        rtol=1e-3,
        hint=hints,
        mistakes={
            "that is the path length ∫‖ż‖ dt; the kinetic energy integrates the *squared* "
            "speed.": path_length,
            "each squared step ‖Δz‖² needs dividing by its Δt: ‖Δz‖²/Δt ≈ ‖ż‖² Δt.": no_division,
        },
    )


def _kl_with_leak(leaked: float) -> float:
    """KL(p ‖ q) computed pixel by pixel for a picture p and the best q that puts the mass
    ``leaked`` outside p's ink: q = (1 − leaked) p on the ink, the rest spread over empty pixels."""
    import numpy as np

    from ..datasets import picture

    weights = np.zeros((6, 8))
    weights[1:5, 2:4] = np.arange(1.0, 9.0).reshape(4, 2)
    p = picture.from_array(weights).masses
    ink = p > 0
    q = np.where(ink, (1 - leaked) * p, leaked / (~ink).sum())
    return float((p[ink] * np.log(p[ink] / q[ink])).sum())


def check_kl_floor(kl_floor: Any, name: str = "kl_floor") -> bool:
    r"""Notebook 11, exercise 3: ``kl_floor(leaked)``, the smallest KL gap of a model that puts
    the fraction ``leaked`` of its mass between the letters.

    The reference builds that best model on a small picture and sums :math:`p \log(p/q)` over
    its pixels; first-order and sign slips are named.
    """
    inputs = [(leaked,) for leaked in (0.01, 0.05, 0.2, 0.5)]
    hints = (
        "the best such model copies p on the letters, scaled down so that the leak fits.",
        "q = (1 − leaked) p on the letters: p log(p / q) summed over the letters.",
    )
    return check_function(
        kl_floor,
        _kl_with_leak,
        inputs,
        name,
        atol=1e-9,
        rtol=1e-6,
        hint=hints,
        mistakes={
            "the sign is flipped: a KL divergence is never negative.": lambda e: math.log(1 - e),
            "that is the first-order term only; the exact floor grows faster as the leak "
            "grows.": lambda e: e,
            "that is −log(leaked): the floor is set by the mass that stays on the letters.": (
                lambda e: -math.log(e)
            ),
        },
    )


# ---------------------------------------------------------------------------------------------
# Checkers added for issue #17: oracles that do not use the formula the exercise asks for.


def _flow_map_parts(
    field: Callable, x: torch.Tensor, t0: float, t1: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`\log\mathcal N(\Phi(x))` and :math:`\log|\det \partial\Phi/\partial x|` per row, no trace.

    :math:`\Phi` maps a point at time ``t0`` to where ``field`` carries it at ``t1``. Its full
    :math:`D \times D` Jacobian :math:`M = \partial\Phi/\partial x` is solved with the point, from
    the variational equation :math:`\dot M = J\big(t, z(t)\big)\,M`, :math:`M(t_0) = I`, with
    :math:`J = \partial f/\partial z` from autograd (differentiating through an adaptive solve
    instead would be wrong at a fixed point, where the solver takes one giant step); the
    log-determinant comes from `torch.linalg.slogdet`. Their sum is the discrete change of
    variables applied to the whole flow map (notebook 01), which is what
    :math:`\log\mathcal N(z(0)) - \Delta\log p` must equal by Liouville's formula.
    """
    from ..cnf import standard_normal_log_prob
    from ..solvers import odeint

    times = torch.tensor([t0, t1], dtype=x.dtype)

    def dynamics(t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple:
        z, matrix = state
        with torch.enable_grad():
            jacobian = torch.autograd.functional.jacobian(
                lambda v: field(t, v[None])[0], z.detach()
            )
        return field(t, z[None])[0].detach(), jacobian @ matrix

    ends, log_dets = [], []
    for point in x.detach():
        start = (point, torch.eye(len(point), dtype=x.dtype))
        with torch.no_grad():
            end, matrix = odeint(dynamics, start, times, atol=1e-10, rtol=1e-10)
        ends.append(end[-1])
        log_dets.append(torch.linalg.slogdet(matrix[-1]).logabsdet)
    return standard_normal_log_prob(torch.stack(ends)), torch.stack(log_dets)


def check_density_by_flow_map(log_p1: Any, field: Callable, name: str = "log_p1_swirl") -> bool:
    r"""Notebook 03, exercise 4: :math:`\log p_1(x)` of the flow of ``field``, by one backward solve.

    The student integrates the augmented state and subtracts :math:`\Delta\log p`, an integral of
    traces. The oracle takes the other road, which uses no trace at all: carry ``x`` from
    :math:`t = 1` back to :math:`z(0) = \Phi(x)` with ``field`` alone, solving for the full
    Jacobian of that flow map alongside (the variational equation, :math:`J` by autograd), and
    apply the discrete change of variables,
    :math:`\log p_1(x) = \log\mathcal N(\Phi(x)) + \log|\det \partial\Phi/\partial x|`. Named: time
    running the wrong way (the same from :math:`t = 0` to 1), the sign of :math:`\Delta\log p`,
    and :math:`\Delta\log p` left out. The student's solve may use `odeint`'s default tolerance
    (agreement to 1e-4).
    """

    solved: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # each solve once, not per slip

    def parts(x: torch.Tensor, t0: float, t1: float) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(x.flatten().tolist()), t0, t1)
        if key not in solved:
            solved[key] = _flow_map_parts(field, x, t0, t1)
        return solved[key]

    def solve(x: torch.Tensor, t0: float, t1: float, sign: float = 1.0) -> torch.Tensor:
        base, log_det = parts(x, t0, t1)
        return base + sign * log_det

    points = [
        (torch.tensor([[0.5, 0.2], [-1.0, 1.0], [1.5, -0.5]], dtype=torch.float64),),
        (torch.tensor([[0.0, 2.0], [2.5, 0.0]], dtype=torch.float64),),
    ]
    hints = (
        "start at (x, 0) at t = 1, where the data lives, and integrate to t = 0: the times are "
        "[1, 0].",
        "the solve ends at (z(0), Δlog p); log p_1(x) = log N(z(0)) − Δlog p.",
    )
    mistakes = {
        FLIPPED_LOG_DET: lambda x: solve(x, 1.0, 0.0, sign=-1.0),
        MISSING_LOG_DET: lambda x: solve(x, 1.0, 0.0, sign=0.0),
    }
    return check_time_direction(
        log_p1,
        solve,
        points,
        name=name,
        start=1.0,
        end=0.0,
        atol=1e-4,
        hint=hints,
        mistakes=mistakes,
    )


# --- Notebook 10's exercises 1 and 2 (issue 17: the checks leave the notebook) ----------------


def _conditional_target_oracle(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(x_t, u)`` joined: the library's straight path, and its time derivative by autograd."""
    from ..models.flow_matching import straight_path

    time = t.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        xt = straight_path(x0, x1, time)
        # each row depends on its own t only, so the gradient of a row sum is that row's d/dt
        u = torch.stack(
            [
                torch.autograd.grad(xt[:, d].sum(), time, retain_graph=True)[0]
                for d in range(xt.shape[1])
            ],
            dim=1,
        )
    return torch.cat([xt.detach(), u], dim=1)


def _joined(function: Any) -> Any:
    """``function``'s pair ``(x_t, u)`` as one tensor (``...`` stays ``...``: not solved yet)."""
    if _not_attempted(function) or not callable(function):
        return function

    def joined(*args: Any) -> Any:
        result = function(*args)
        if _not_attempted(result) or not isinstance(result, tuple | list) or len(result) != 2:
            return result
        return torch.cat([torch.as_tensor(part) for part in result], dim=1)

    return joined


def check_conditional_target(conditional_target: Any, name: str = "conditional_target") -> bool:
    r"""Notebook 10, exercise 1: ``conditional_target(x0, x1, t) -> (x_t, u)``, the straight path.

    The oracle takes :math:`x_t` from `ffjord_edu.models.flow_matching.straight_path` and the target
    :math:`u = dx_t/dt` from autograd, so the check holds no formula for :math:`u`. Named slips:
    the velocity pointing from data to noise, and the path running from :math:`x_1` to :math:`x_0`.
    """
    from ..models.flow_matching import straight_path

    generator = _seeded(11)
    inputs = []
    for _ in range(3):
        x0, x1 = torch.randn(2, 6, 2, generator=generator)
        inputs.append((x0, x1, torch.rand(6, generator=generator)))
    return check_function(
        _joined(conditional_target),
        _conditional_target_oracle,
        inputs,
        name=name,
        hint="x_t moves from x0 (t = 0) to x1 (t = 1); its time derivative is the velocity.",
        mistakes={
            "the velocity points backwards: from noise to data it is x1 - x0.": lambda x0, x1, t: (
                torch.cat([straight_path(x0, x1, t), x0 - x1], dim=1)
            ),
            "the path runs the wrong way: at t = 0 it must be at the noise x0.": lambda x0, x1, t: (
                torch.cat([straight_path(x1, x0, t), x1 - x0], dim=1)
            ),
        },
    )


def _cheapest_pairing_by_enumeration(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """The permutation sigma minimising sum_i |x0[sigma(i)] - x1[i]|², by trying all B! of them."""
    best = min(
        itertools.permutations(range(len(x0))),
        key=lambda sigma: float((x0[list(sigma)] - x1).pow(2).sum()),
    )
    return torch.tensor(best, dtype=torch.long)


def _cheapest_pairing(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Enumeration for small batches (an oracle that knows no algorithm), the library beyond."""
    from ..models.flow_matching import ot_assignment

    return _cheapest_pairing_by_enumeration(x0, x1) if len(x0) <= 6 else ot_assignment(x0, x1)


def check_ot_pairing(ot_pairing: Any, name: str = "ot_pairing") -> bool:
    r"""Notebook 10, exercise 2: ``ot_pairing(x0, x1) -> sigma``, the optimal-transport pairing.

    For batches of up to 6 points the expected permutation is found by trying all of them; for
    larger ones it is `ffjord_edu.models.flow_matching.ot_assignment`'s. Named slips: minimising the
    total distance instead of the total squared distance, and the inverse permutation (which
    ``x1`` each ``x0`` goes to, instead of which ``x0`` each ``x1`` gets). A right answer must
    also never cost more than the pairs as they came.
    """
    from scipy.optimize import linear_sum_assignment

    from ..datasets import toy
    from ..models.flow_matching import transport_cost

    generator = _seeded(12)
    inputs = [
        (torch.randn(n, 2, generator=generator), toy.sample("8gaussians", n, seed=13 + n))
        for n in (5, 6, 40, 128)
    ]

    def not_squared(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(linear_sum_assignment(torch.cdist(x1, x0).numpy())[1])

    def wrong_direction(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return torch.argsort(_cheapest_pairing(x0, x1))

    right = check_function(
        ot_pairing,
        _cheapest_pairing,
        inputs,
        name=name,
        atol=0,
        hint="build the B x B matrix of squared distances and read sigma off the assignment.",
        mistakes={
            "that minimises the total distance, not the total squared distance.": not_squared,
            "that permutation tells which x1 each x0 goes to; sigma must index x0 "
            "(put x1 on the rows, or invert with argsort).": wrong_direction,
        },
    )
    if not right:
        return False
    x0, x1 = inputs[-1]
    return check_true(
        transport_cost(x0[ot_pairing(x0, x1)], x1) <= transport_cost(x0, x1),
        right="and it never costs more than the pairs as they came.",
        wrong="the pairing costs more than the identity: it cannot be optimal.",
    )


# --- Notebook 11's exercise 1, against Monte Carlo (issue 17) --------------------------------

LOG_VOLUME_SAMPLES = 200_000
"""Samples per term of `_log_volume_change_by_monte_carlo`: a standard error of about 0.003."""


def _log_volume_change_by_monte_carlo(density: Any) -> float:
    r"""The mean :math:`\Delta\log p = \log\mathcal N(z) - \log p(x)` of a perfect flow, by sampling.

    A perfect flow carries :math:`z \sim \mathcal N(0, I_2)` to :math:`x \sim p`, so the mean over
    the data is :math:`\mathbb E[\log\mathcal N(z)] - \mathbb E[\log p(x)]`: two Monte Carlo means
    of log-densities, with no entropy formula in sight.
    """
    generator = _seeded(17)
    x = density.sample(LOG_VOLUME_SAMPLES, generator=generator).double()
    z = torch.randn(LOG_VOLUME_SAMPLES, 2, generator=generator, dtype=torch.float64)
    log_p = density.log_prob(x)
    # a float32 sample on a pixel's edge can round into an empty neighbour: drop those few
    log_p = log_p[torch.isfinite(log_p)]
    return float(standard_normal_log_prob(z).mean() - log_p.mean())


def check_log_volume_change(
    log_volume_change: Any,
    thinner_contracts_more: Any,
    names: tuple[str, str] = ("log_volume_change", "thinner_contracts_more"),
) -> bool:
    r"""Notebook 11, exercise 1: ``log_volume_change(density)`` and the prediction
    ``thinner_contracts_more``, checked against a Monte Carlo oracle.

    Checked on a bold word, a thin word and a noise picture; the expected values are Monte Carlo
    means of :math:`\log\mathcal N(z) - \log p(x)` (`_log_volume_change_by_monte_carlo`),
    not the identity :math:`H(p) - \log(2\pi e)` that the student is asked to derive; the
    tolerance (0.02 nats) covers their noise, and every named slip is off by at least 1.4 nats.
    """
    function_name, prediction_name = names
    pictures = _stroke_pictures()
    oracle = {name: _log_volume_change_by_monte_carlo(d) for name, d in pictures.items()}
    inputs = [(density,) for density in pictures.values()]
    by_id = {id(density): oracle[name] for name, density in pictures.items()}
    gaussian = 2 * (0.5 * math.log(2 * math.pi) + 0.5)  # entropy of N(0, I_2), for the slips only
    ok, message, _, expected = _run_against(
        log_volume_change,
        lambda d: by_id[id(d)],
        inputs,
        function_name,
        0.02,
        0.0,
        {
            "the Gaussian's part is missing: the mean of log N(z) over z ~ N(0, I) is −H(N(0, I)), "
            "not 0.": lambda d: d.entropy(),
            "the Gaussian's entropy is that of one dimension; the base is 2-D.": (
                lambda d: d.entropy() - 0.5 * gaussian
            ),
            "the sign is flipped: log p(x) = log N(z) − Δlog p, so Δlog p = log N(z) − log p(x), "
            "whose mean over the data is H(p) plus the mean of log N(z).": lambda d: (
                gaussian - d.entropy()
            ),
        },
    )
    hints = (
        "start from log p(x) = log N(z) − Δlog p and average over x ~ p with z ~ N(0, I).",
        "E[−log p(x)] is the entropy H(p) (density.entropy()); E[−log N(z)] is the entropy of "
        "the 2-D standard normal.",
    )
    function_ok = _graded(function_name, ok, message, hints, _expected_text(expected))
    if _not_attempted(thinner_contracts_more):
        return _graded(prediction_name, False, _not_solved(prediction_name)) and function_ok
    if not isinstance(thinner_contracts_more, bool):
        return function_ok and _graded(
            prediction_name,
            False,
            f"❌ {prediction_name} must be True or False, got {thinner_contracts_more!r}.",
        )
    right = thinner_contracts_more == (oracle["thin"] < oracle["bold"])
    prediction_ok = _graded(
        prediction_name,
        right,
        f"✅ {prediction_name} is right: the thin word has the lower entropy, so a perfect flow "
        "shrinks volume more on it (a more negative Δlog p)."
        if right
        else f"❌ {prediction_name}: thin strokes hold the same mass on less area; is their "
        "entropy higher or lower?",
        "less area at the same mass: higher or lower density, higher or lower entropy?",
    )
    return function_ok and prediction_ok


# --- Notebook 09's exercise 1, against Gauss-Hermite quadrature (issue 17) -------------------

ELBO_QUADRATURE_NODES = 5
"""Gauss-Hermite nodes per latent dimension: exact for integrands of degree up to 9."""


def _elbo_by_quadrature(
    model: Any, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    r""":math:`\mathbb E_q[\log p(x, z) - \log q(z)]` for :math:`q = \mathcal N(\text{mean}, \text{std}^2)`
    by Gauss-Hermite quadrature, row by row, shape ``(B,)``.

    Both log-densities are quadratic in :math:`z` for a linear-Gaussian model, so a rule exact to
    degree 9 gives the ELBO to rounding error, from ``model.log_joint`` alone: no closed form.
    """
    import numpy as np

    nodes, weights = np.polynomial.hermite_e.hermegauss(ELBO_QUADRATURE_NODES)
    nodes = torch.tensor(nodes, dtype=torch.float64)
    weights = torch.tensor(weights / weights.sum(), dtype=torch.float64)
    dim = mean.shape[1]
    eps = torch.cartesian_prod(*[nodes] * dim).reshape(-1, dim)
    w = torch.cartesian_prod(*[weights] * dim).reshape(-1, dim).prod(dim=1)
    values = []
    for row in range(len(x)):
        z = mean[row] + std[row] * eps
        log_q = torch.distributions.Normal(mean[row], std[row]).log_prob(z).sum(dim=1)
        log_joint = model.log_joint(x[row].expand(len(z), -1), z)
        values.append(((log_joint - log_q) * w).sum())
    return torch.stack(values)


def check_gaussian_elbo(gaussian_elbo: Any, model: Any, name: str = "gaussian_elbo") -> bool:
    r"""Notebook 09, exercise 1: ``gaussian_elbo(x, mean, std)``, the closed-form ELBO of a
    diagonal Gaussian :math:`q` under the linear-Gaussian ``model``.

    The expected values come from Gauss-Hermite quadrature of ``model.log_joint`` and
    :math:`\log q` (`_elbo_by_quadrature`), not from the formula the student writes. Named slips:
    the spread term :math:`\sum_j s_j^2\|W_{:,j}\|^2` of the expected reconstruction left out
    (the likelihood evaluated at the mean only), and the KL to the prior added instead of
    subtracted.
    """
    generator = _seeded(7)
    dim_x, dim_z = model.weight.shape
    inputs = [
        (
            torch.randn(n, dim_x, generator=generator, dtype=torch.float64),
            torch.randn(n, dim_z, generator=generator, dtype=torch.float64),
            torch.rand(n, dim_z, generator=generator, dtype=torch.float64) + 0.2,
        )
        for n in (1, 4)
    ]

    def spread_term(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return (std**2 * model.weight.pow(2).sum(dim=0)).sum(dim=1) / (2 * model.noise_std**2)

    def kl_to_prior(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return 0.5 * (std**2 + mean**2 - 1 - torch.log(std**2)).sum(dim=1)

    def oracle(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return _elbo_by_quadrature(model, x, mean, std)

    return check_function(
        gaussian_elbo,
        oracle,
        inputs,
        name=name,
        atol=1e-8,
        rtol=1e-8,
        hint=(
            "E_q||x - Wz - b||² = ||x - Wm - b||² + Σ_j s_j² ||W[:, j]||²; KL(N(m, s²) || N(0, 1)) "
            "= ½(s² + m² - 1 - log s²) per coordinate.",
        ),
        mistakes={
            "the reconstruction term is evaluated at the mean only: E_q||x − Wz − b||² also "
            "carries the spread of z, Σ_j s_j² ||W[:, j]||².": lambda x, m, s: (
                oracle(x, m, s) + spread_term(m, s)
            ),
            "the KL to the prior is added; the ELBO is the expected log-likelihood *minus* "
            "KL(q ‖ p(z)).": lambda x, m, s: oracle(x, m, s) + 2 * kl_to_prior(m, s),
        },
    )


def simulated_spread_of_the_mean(
    row_std: Any, draws: int = 100_000, seed: int = 0, chunk: int = 10_000
) -> float:
    """The standard deviation of a mean of independent noisy rows, measured by simulation.

    A Monte Carlo of the quantity itself, which knows no formula for it: ``draws`` simulated test
    evaluations, in each of which row ``i`` gets its own independent error of standard deviation
    ``row_std[i]`` (Gaussian; only the variances matter for the spread of a mean), averaged over
    the rows; the result is the standard deviation of those ``draws`` means. Its relative
    Monte Carlo error is about ``1 / sqrt(2 draws)`` (0.2 % for the default).

    Example:
        >>> round(simulated_spread_of_the_mean([1.0] * 4), 2)  # 4 rows of spread 1: 1 / 2
        0.5
    """
    spreads = torch.as_tensor(row_std, dtype=torch.float64).flatten()
    generator = _seeded(seed)
    means = []
    for start in range(0, draws, chunk):
        shape = (min(chunk, draws - start), len(spreads))
        errors = torch.randn(shape, generator=generator, dtype=torch.float64) * spreads
        means.append(errors.mean(dim=1))
    return float(torch.cat(means).std())


def check_spread_of_the_mean(
    predicted_spread: Any, row_std: Any, name: str = "predicted_spread"
) -> bool:
    r"""Notebook 07, exercise 3: the spread of the test NLL (a mean over rows) from each row's.

    The reference is `simulated_spread_of_the_mean`: many simulated test evaluations with each
    row's error drawn independently with its own spread, not the formula the exercise asks for
    (:math:`\sqrt{\sum_i \sigma_i^2}/N`), which it agrees with to its Monte Carlo error (the
    tolerance, 2 %, is about ten of those). Forgetting to square (:math:`\sum_i\sigma_i/N`)
    and dividing by :math:`\sqrt N` instead of :math:`N` are named.
    """
    if _not_attempted(predicted_spread):
        return _verdict(False, _not_solved(name))
    spreads = torch.as_tensor(row_std, dtype=torch.float64).flatten()
    simulated = simulated_spread_of_the_mean(spreads)
    root_of_sum = float(spreads.pow(2).sum().sqrt())
    mistakes = {
        "standard deviations do not add, variances do: square, sum, then take the root.": float(
            spreads.mean()
        ),
        "the mean divides the sum by N, so its variance by N²: divide the root by N, not √N.": (
            root_of_sum / math.sqrt(len(spreads))
        ),
    }
    hints = (
        "for independent terms, what adds up: standard deviations or variances?",
        "variances of independent terms add, and Var(c X) = c² Var(X) with c = 1 / N.",
    )
    ok = _check_value(predicted_spread, simulated, name, 1e-12, 0.02, hints, mistakes)
    if ok:
        print(
            f"   (a simulation of 100,000 test evaluations with independent rows: {simulated:.4f})"
        )
    return ok


def check_log_density_normalised(
    log_density: Any,
    flow: Callable,
    name: str = "log_density",
    bound: float = 4.5,
    resolution: int = 60,
    tolerance: float = 0.02,
) -> bool:
    r"""Notebook 05, exercise 2: :math:`\log p(x)` from ``(z, delta_logp) = flow(x)``, and a
    density that integrates to one.

    First `check_log_density_from_flow` (which names a flipped or missing
    :math:`\Delta\log p` and a missing constant); then an oracle that knows no formula: the
    student's :math:`p = e^{\log p}` summed over a ``resolution`` x ``resolution`` grid on
    :math:`[-\text{bound}, \text{bound}]^2` times the cell area must be 1 within ``tolerance``
    (the flow must hold its mass in that square, as the 8gaussians flow does).
    """
    if not check_log_density_from_flow(log_density, flow, name):
        return False
    axis = torch.linspace(-bound, bound, resolution)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    with torch.no_grad():
        values = _as_float64(log_density(_ForwardOnly(flow), points))
    cell = float(axis[1] - axis[0]) ** 2
    mass = float(values.exp().sum()) * cell
    return check_true(
        abs(mass - 1) < tolerance,
        right=f"and {name} is a density: exp({name}) integrates to {mass:.3f} on the grid.",
        wrong=f"exp({name}) integrates to {mass:.3f} on a grid, not 1: it is not a density.",
    )


def uniform_code_length(dim: int, levels: int) -> float:
    r"""Bits per dimension of the uniform model over ``levels``-level images, by enumeration.

    The uniform distribution over all images is the product of ``dim`` independent uniform
    pixels, so the expected code length of an image, :math:`-\sum_x P(x) \log_2 P(x)`, is the sum
    of the pixels' entropies. Each pixel's entropy is enumerated over its ``levels`` values (no
    closed form used); the total is divided by ``dim``.

    Example:
        >>> uniform_code_length(dim=2, levels=4)  # 2 bits per pixel: 4 equally likely levels
        2.0
    """
    pixel = torch.full((levels,), 1 / levels, dtype=torch.float64)
    pixel_entropy = -(pixel * torch.log2(pixel)).sum()
    return float(pixel_entropy * dim) / dim


def check_uniform_code_length(
    uniform_cifar_bpd: Any,
    dim: int = 3 * 32 * 32,
    levels: int = 256,
    name: str = "uniform_cifar_bpd",
) -> bool:
    """Notebook 08, exercise 1: bits/dim of the uniform model over ``levels``-level images.

    The reference is `uniform_code_length`, the expected code length enumerated pixel by pixel,
    not the bits/dim formula the exercise points to. Named: an answer in nats, the total code
    length of an image (not per dimension), and the 17-level digits' value.
    """
    expected = uniform_code_length(dim, levels)
    mistakes = {
        "that is in nats; bits/dim divides by log 2.": expected * math.log(2),
        "that is the code length of a whole image; bits/dim divides it by D.": expected * dim,
        "that is the digits' value (17 levels); CIFAR-10 has 256.": uniform_code_length(1, 17),
    }
    hints = (
        "what is log p(y) of the uniform density on the unit cube, and what remains of bits/dim?",
        "each of the L levels of a pixel is equally likely: how many bits does one pixel cost?",
    )
    return _check_value(uniform_cifar_bpd, expected, name, 1e-6, 1e-4, hints, mistakes)


def check_kl_gaps_on_fresh_points(
    kl_gap_checkerboard: Any,
    kl_paired_8gaussians: Any,
    nll_samples: Mapping[str, torch.Tensor],
    test_points: Mapping[str, torch.Tensor],
    flows: Mapping[str, Any],
    settings: Mapping[str, Any],
    fresh: int = 2000,
    seed: int = 31_415_926,
) -> bool:
    r"""Notebook 05, exercise 3: the two KL estimates, then a Monte Carlo on points of its own.

    First `check_kl_gaps` (which names a flipped sign and an unpaired estimate); then an
    independent oracle: :math:`\mathrm{KL}(p_\text{data} \,\|\, p_\text{model})` estimated
    again on ``fresh`` new points of each density (seed ``seed``, not the student's), with each
    flow evaluated under ``settings``. Each of the student's estimates must agree with it within
    four standard errors of their difference (both estimates are noisy).
    """
    from ..datasets import toy

    if not check_kl_gaps(kl_gap_checkerboard, kl_paired_8gaussians, nll_samples, test_points):
        return False
    report, agree = [], True
    for name, answer in (
        ("checkerboard", kl_gap_checkerboard),
        ("8gaussians", kl_paired_8gaussians),
    ):
        points = toy.sample(name, fresh, seed=seed)
        with torch.no_grad(), flows[name].using(**settings):
            log_model = flows[name].log_prob(points).double()
        fresh_log_ratio = toy.log_prob(name, points.double()) - log_model
        student_log_ratio = (
            toy.log_prob(name, test_points[name].double()) + nll_samples[name].double()
        )
        error = math.sqrt(
            float(fresh_log_ratio.var()) / len(fresh_log_ratio)
            + float(student_log_ratio.var()) / len(student_log_ratio)
        )
        estimate = float(fresh_log_ratio.mean())
        agree &= abs(float(answer) - estimate) < 4 * error
        report.append(f"{name} {estimate:.3f} (± {error:.3f} for the difference)")
    where = f"{fresh:,} fresh points per density"
    return check_true(
        agree,
        right=f"both agree with a Monte Carlo on {where}: {'; '.join(report)}.",
        wrong=f"a Monte Carlo on {where} disagrees by over 4 standard errors: {'; '.join(report)}.",
    )
