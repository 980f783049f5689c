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
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from .cnf import standard_normal_log_prob
from .solvers import odeint
from .trace import hutchinson_divergence, sample_probe

__all__ = [
    "FLIPPED_LOG_DET",
    "MISSING_LOG_DET",
    "WRONG_TIME_DIRECTION",
    "ExerciseError",
    "check_close",
    "check_function",
    "check_log_density",
    "check_probe_fixed",
    "check_rademacher_probe",
    "check_time_direction",
    "check_training_step",
    "check_true",
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


class ExerciseError(AssertionError):
    """An exercise answer is wrong (raised only in strict mode)."""


def _verdict(ok: bool, message: str) -> bool:
    print(message)
    if not ok and os.environ.get("FFJORD_EDU_STRICT_CHECKS", "0") == "1":
        raise ExerciseError(message)
    return ok


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


def _compare(
    answer: Any, expected: Any, name: str, atol: float, rtol: float, hint: str
) -> tuple[bool, str]:
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


def _run_against(
    function: Callable,
    reference: Callable,
    inputs: Sequence[tuple],
    name: str,
    atol: float,
    rtol: float,
    hint: str,
    mistakes: Mapping[str, Callable],
) -> tuple[bool, str, Any, Any]:
    """Compare ``function`` with ``reference`` on each input; name a known mistake if one fits.

    Returns ``(ok, message, answer, expected)``, the last two from the first failing input.
    """
    if _not_attempted(function):
        return False, _not_solved(name, "write it in place of the `...`"), None, None
    for args in inputs:
        try:
            got = function(*args)
        except Exception as error:  # the student's code: report it, do not crash the lesson
            return False, f"❌ calling {name} raised {type(error).__name__}: {error}", None, None
        if _not_attempted(got):
            return False, _not_solved(name, "it still returns `...`; write its body"), None, None
        expected = reference(*args)
        ok, message = _compare(got, expected, f"{name}'s result", atol, rtol, hint)
        if not ok:
            for explanation, mistaken in mistakes.items():
                if _matches(got, mistaken(*args), atol, rtol):
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
    hint: str = "",
    mistakes: Mapping[str, Callable] | None = None,
) -> bool:
    """Does ``function(*args)`` match ``reference(*args)`` for every ``args`` in ``inputs``?

    Arguments:
        mistakes: known wrong answers, ``{explanation: mistaken_reference}``; when a wrong
            result equals ``mistaken_reference(*args)``, the explanation is shown instead of the
            bare difference.

    Example:
        >>> try:  # under FFJORD_EDU_STRICT_CHECKS=1 a wrong answer also raises
        ...     ok = check_function(abs, abs, [(2.0,)], "my_abs")
        ...     ok = check_function(lambda x: -x, abs, [(2.0,)], "my_abs", mistakes={"a sign slip.": lambda x: -x})
        ... except ExerciseError:
        ...     ok = False
        ✅ my_abs is right on all 1 test inputs.
        ❌ my_abs: a sign slip.
    """
    ok, message, _, _ = _run_against(
        function, reference, inputs, name, atol, rtol, hint, mistakes or {}
    )
    return _verdict(ok, message)


def check_log_density(
    log_density: Callable,
    parts: Callable,
    inputs: Sequence[tuple],
    name: str = "your log-density",
    atol: float = 1e-6,
    rtol: float = 1e-4,
    hint: str = "",
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
        log_density, reference, inputs, name, atol, rtol, hint, mistakes
    )
    if not ok and got is not None and message.startswith(f"❌ {name}'s result is off"):
        gap = _as_float64(got) - _as_float64(expected)
        if gap.numel() > 1 and float(gap.std()) < atol + rtol and abs(float(gap.mean())) > atol:
            message = (
                f"❌ {name}: off by the same constant {float(gap.mean()):+.4g} at every point: "
                f"a normalising constant is missing or doubled (a standard normal in D "
                f"dimensions needs −(D/2)·log 2π = −{0.5 * math.log(2 * math.pi):.4f}·D)."
            )
    return _verdict(ok, message)


def check_time_direction(
    function: Callable,
    solve: Callable,
    inputs: Sequence[tuple],
    name: str = "your solve",
    start: float = 1.0,
    end: float = 0.0,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    hint: str = "",
    mistakes: Mapping[str, Callable] | None = None,
) -> bool:
    """Check a function that integrates an ODE from ``start`` to ``end``; spot the reversed solve.

    ``solve(*args, t0, t1)`` is the reference solver run from ``t0`` to ``t1``: the right answer
    is ``solve(*args, start, end)``; ``solve(*args, end, start)`` (time running the wrong way,
    e.g. a density solve from 0 to 1 that treats the data point as noise) is named as such.
    Further ``mistakes`` work as in `check_function`.
    """
    known = {
        WRONG_TIME_DIRECTION.format(start=start, end=end): lambda *args: solve(*args, end, start),
        **(mistakes or {}),
    }
    ok, message, _, _ = _run_against(
        function, lambda *args: solve(*args, start, end), inputs, name, atol, rtol, hint, known
    )
    return _verdict(ok, message)


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
    """
    if _not_attempted(make_dynamics):
        return _verdict(False, _not_solved(name, "write it in place of the `...`"))
    time = torch.tensor(t, dtype=z.dtype)
    state = (z, torch.zeros(z.shape[0], dtype=z.dtype))
    try:
        with torch.random.fork_rng():  # checking must not move the notebook's random stream
            dynamics = make_dynamics(net, z)
            first = ... if _not_attempted(dynamics) else dynamics(time, state)
            if _not_attempted(first):
                return _verdict(False, _not_solved(name, "it still returns `...`; write it"))
            again = dynamics(time, state)
            other_solves = [make_dynamics(net, z)(time, state)[1] for _ in range(2)]
    except Exception as error:  # the student's code: report it, do not crash the lesson
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
