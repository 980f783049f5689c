"""Exercise checkers: helpful messages, never a traceback; strict mode raises."""

import math

import pytest
import torch

import ffjord_edu
from ffjord_edu.cnf import standard_normal_log_prob
from ffjord_edu.course import checks
from ffjord_edu.course.checks import (
    FLIPPED_LOG_DET,
    NO_ENABLE_GRAD,
    REVEAL_AFTER,
    ExerciseError,
    check_bottleneck_variance,
    check_close,
    check_doubling_time,
    check_function,
    check_log_density,
    check_prediction,
    check_probe_fixed,
    check_probes_needed,
    check_rademacher_probe,
    check_second_order,
    check_swirl_divergence,
    check_time_direction,
    check_training_step,
    check_true,
    second_order_oracle,
    show_answer,
)
from ffjord_edu.nets import ODEnet
from ffjord_edu.solvers import odeint
from ffjord_edu.trace import hutchinson_divergence, sample_probe


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    """Wrong answers print and return False; every test starts with no wrong tries recorded."""
    monkeypatch.delenv("FFJORD_EDU_STRICT_CHECKS", raising=False)
    monkeypatch.setattr(checks, "_wrong_tries", {})
    monkeypatch.setattr(checks, "_expected", {})


@pytest.mark.parametrize(
    ("answer", "ok", "message"),
    [
        (0.75, True, "✅ the sum is right."),
        (0.7, False, "❌ the sum is off: got 0.7. Hint: add both"),
        (..., False, "✋ the sum is not solved yet: it is still `...`"),
        (None, False, "forget to `return`"),
        ("three quarters", False, "should be a number or a tensor, got str"),
        (torch.ones(2), False, "has shape (2,), expected ()"),
    ],
)
def test_check_close_messages(answer, ok, message, capsys):
    assert check_close(answer, 0.75, name="the sum", hint="add both") is ok
    assert message in capsys.readouterr().out


def test_tensors_report_the_largest_error(capsys):
    assert not check_close(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]))
    assert "off by up to 0.5" in capsys.readouterr().out


def test_check_function(capsys):
    def square(x):
        return x * x

    assert check_function(square, lambda x: x**2, [(2.0,), (torch.arange(3.0),)], "square")
    assert "right on all 2 test inputs" in capsys.readouterr().out
    assert not check_function(lambda x: x + x, square, [(3.0,)], "square")
    assert "square's result is off: got 6." in capsys.readouterr().out
    assert not check_function(lambda x: 1 / 0, square, [(3.0,)], "square")
    assert "raised ZeroDivisionError" in capsys.readouterr().out
    assert not check_function(..., square, [(3.0,)], "square")
    assert "✋ square is not solved yet" in capsys.readouterr().out
    assert not check_function(lambda x: ..., square, [(3.0,)], "square")
    assert "not solved yet: it still returns `...`" in capsys.readouterr().out


def test_check_true(capsys):
    assert check_true(2 > 1, "bigger", "smaller")
    assert not check_true(..., "bigger", "smaller")
    assert "✋" in capsys.readouterr().out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "1")
    assert check_close(1.0, 1.0)
    with pytest.raises(ExerciseError, match="is off"):
        check_close(2.0, 1.0)


def test_named_mistakes_replace_the_bare_difference(capsys):
    mistakes = {"you took the square root.": lambda x: x**0.5}
    assert not check_function(
        lambda x: x**0.5, lambda x: x**2, [(4.0,)], "square", mistakes=mistakes
    )
    assert "❌ square: you took the square root." in capsys.readouterr().out
    assert not check_function(
        lambda x: x + 1, lambda x: x**2, [(4.0,)], "square", mistakes=mistakes
    )
    assert "square's result is off: got 5." in capsys.readouterr().out


# The affine flow x = 2 z + 1 of a standard normal: log p(x) = log N((x - 1) / 2) - log 2.
SCALE = 2.0
points = torch.linspace(-3.0, 4.0, 9, dtype=torch.float64)[:, None]


def affine_parts(x):
    return standard_normal_log_prob((x - 1) / SCALE), torch.full((len(x),), math.log(SCALE))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda x: affine_parts(x)[0] - affine_parts(x)[1], "✅ log_p is right"),
        (lambda x: affine_parts(x)[0] + affine_parts(x)[1], FLIPPED_LOG_DET),
        (lambda x: affine_parts(x)[0], "the log-determinant term is missing"),
        (
            lambda x: -0.5 * ((x - 1) / SCALE).pow(2).sum(1) - math.log(SCALE),
            "off by the same constant +0.9189 at every point",
        ),
        (lambda x: affine_parts(2 * x)[0], "log_p's result is off"),
    ],
    ids=["right", "flipped-sign", "no-log-det", "no-constant", "other"],
)
def test_log_density_names_the_mistake(answer, message, capsys):
    assert check_log_density(answer, affine_parts, [(points,)], "log_p") is message.startswith("✅")
    assert message in capsys.readouterr().out


def test_log_density_mistake_on_a_cnf(capsys):
    """The classic slip on a real flow: log N(z) + delta_logp instead of minus."""
    torch.manual_seed(0)
    flow = ffjord_edu.CNF(2, hidden=(16,)).double()
    x = torch.randn(5, 2, dtype=torch.float64)

    def parts(x):
        with torch.no_grad():
            z, delta_logp = flow(x)
        return standard_normal_log_prob(z), delta_logp

    assert not check_log_density(lambda x: sum(parts(x)), parts, [(x,)], "log_density")
    assert f"❌ log_density: {FLIPPED_LOG_DET}" in capsys.readouterr().out


def rotate_and_grow(t, z):
    # A time-dependent field: turning faster as t grows, so negating it is not reversing time.
    return (1 + 2 * t) * torch.stack([-z[:, 1], z[:, 0]], dim=1) + 0.3 * z


def solve(x, t0, t1):
    times = torch.tensor([t0, t1], dtype=x.dtype)
    return ffjord_edu.odeint(rotate_and_grow, x, times, atol=1e-10, rtol=1e-10)[-1]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda x: solve(x, 1.0, 0.0), "✅ pull_back is right"),
        (lambda x: solve(x, 0.0, 1.0), "time runs the wrong way"),
        (lambda x: x, "pull_back's result is off"),
    ],
    ids=["right", "forward-in-time", "other"],
)
def test_time_direction_names_the_reversed_solve(answer, message, capsys):
    x = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], dtype=torch.float64)
    assert check_time_direction(answer, solve, [(x,)], "pull_back") is message.startswith("✅")
    out = capsys.readouterr().out
    assert message in out
    if "wrong way" in message:
        assert "integrate from 1.0 down to 0.0" in out


def fresh_rademacher(like):
    return sample_probe(like, "rademacher")


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (fresh_rademacher, "✅ probe draws fresh"),
        (lambda like: torch.randint(0, 2, like.shape).to(like.dtype), "0 and 1"),
        (lambda like: torch.randn_like(like), "other values than ±1"),
        (lambda like: fresh_rademacher(like).float(), "dtype torch.float32"),
        (lambda like: fresh_rademacher(like[:1]), "must be shaped like its input"),
        (lambda like: torch.ones_like(like), "of its entries are +1"),
        (
            lambda like: sample_probe(like, generator=torch.Generator().manual_seed(0)),
            "two calls return the same probe",
        ),
        (
            lambda like: fresh_rademacher(like[:, :1]).expand_as(like).clone(),
            "entries are correlated",
        ),
        (lambda like: ..., "not solved yet"),
    ],
    ids=["right", "bits", "gaussian", "dtype", "shape", "constant", "reseeded", "copied", "stub"],
)
def test_rademacher_probe_mistakes(sample, message, capsys):
    assert check_rademacher_probe(sample, "probe") is message.startswith("✅")
    assert message in capsys.readouterr().out


def make_dynamics(net, z, redraw=False, sign=-1.0, seed=None):
    """Augmented Hutchinson dynamics; the keyword arguments inject the classic mistakes."""
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    probe = sample_probe(z, "rademacher", generator)

    def dynamics(t, state):
        z = state[0].detach().requires_grad_(True)
        with torch.enable_grad():
            velocity = net(t, z)
            epsilon = sample_probe(z, "rademacher") if redraw else probe
            divergence = hutchinson_divergence(velocity, z, epsilon, create_graph=False)
        return velocity.detach(), sign * divergence.detach()

    return dynamics


def exact_dynamics(net, z):
    def dynamics(t, state):
        z = state[0].detach().requires_grad_(True)
        with torch.enable_grad():
            velocity = net(t, z)
            divergence = ffjord_edu.trace.exact_divergence(velocity, z, create_graph=False)
        return velocity.detach(), -divergence.detach()

    return dynamics


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (make_dynamics, "✅ dynamics holds one Rademacher probe"),
        (lambda n, z: make_dynamics(n, z, redraw=True), "the probe is redrawn at every evaluation"),
        (lambda n, z: make_dynamics(n, z, sign=1.0), "the minus sign is missing"),
        (lambda n, z: make_dynamics(n, z, seed=0), "every solve used the same probe"),
        (exact_dynamics, "that is the exact trace"),
        (lambda n, z: lambda t, s: (n(t, s[0]), torch.zeros(len(z))), "for any ±1 probe"),
        (lambda n, z: lambda t, s: (s[0], torch.zeros(len(z))), "must be the velocity"),
        (lambda n, z: lambda t, s: ..., "not solved yet"),
    ],
    ids=["right", "redrawn", "sign", "reseeded", "exact", "zero", "velocity", "stub"],
)
def test_probe_fixed_mistakes(make, message, capsys):
    torch.manual_seed(1)
    net = ODEnet(2, hidden=(16,)).double()
    z = torch.randn(16, 2, dtype=torch.float64)
    assert check_probe_fixed(make, net, z, name="dynamics") is message.startswith("✅")
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_log_density, check_time_direction])
def test_stubs_are_not_solved_yet(checker, capsys):
    assert not checker(..., lambda *a: None, [(1.0,)], "it")
    assert "✋ it is not solved yet" in capsys.readouterr().out


def test_hints_escalate_and_the_value_waits(capsys):
    hints = ("a nudge.", "the formula.")
    for _ in range(REVEAL_AFTER):
        assert not check_close(0.7, 0.75, name="the sum", hint=hints)
    first, second, third = capsys.readouterr().out.splitlines()
    assert first == "❌ the sum is off: got 0.7. Hint: a nudge."
    assert (
        "Hint: the formula." in second
        and 'ffjord_edu.course.checks.show_answer("the sum")' in second
    )
    assert "0.75" not in first + second
    assert "Hint: the formula." in third and "The expected value: 0.75." in third
    show_answer("the sum")
    assert capsys.readouterr().out == "the sum: the expected value is 0.75.\n"


def test_a_right_answer_never_shows_hints(capsys):
    assert check_close(0.75, 0.75, name="the sum", hint="a nudge.")
    assert capsys.readouterr().out == "✅ the sum is right.\n"


def test_a_mistake_is_named_when_the_answer_is_far_closer_to_it(capsys):
    mistakes = {"you doubled it.": lambda x: 2 * x}
    # 8.001 is 1e-3 from the mistake 8 (outside the comparison's tolerance) and 4 from the truth
    assert not check_function(lambda x: 2 * x + 1e-3, lambda x: x, [(4.0,)], "f", mistakes=mistakes)
    assert "❌ f: you doubled it." in capsys.readouterr().out
    # 6 is 2 from the mistake and 2 from the truth: no name, the bare difference
    assert not check_function(lambda x: 1.5 * x, lambda x: x, [(4.0,)], "f", mistakes=mistakes)
    assert "f's result is off: got 6." in capsys.readouterr().out


def test_a_reversed_solve_at_the_default_tolerance_is_named(capsys):
    """The student solves at odeint's default tolerance, the reference at 1e-10."""
    x = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], dtype=torch.float64)

    def loose_reversed(x):
        return ffjord_edu.odeint(rotate_and_grow, x, torch.tensor([0.0, 1.0]).double())[-1]

    # atol=1e-8: the loose solve is 1e-5 from the tight reversed one, outside the tolerance
    assert not check_time_direction(loose_reversed, solve, [(x,)], "pull_back", atol=1e-8, rtol=0)
    assert "time runs the wrong way" in capsys.readouterr().out


# Notebook 03's exercises, with the notebook's swirl field.


class Swirl(torch.nn.Module):
    def forward(self, t, z):
        r2 = z.pow(2).sum(dim=1, keepdim=True)
        perpendicular = torch.cat([-z[:, 1:], z[:, :1]], dim=1)
        swirl = 3 * (1 + t) * torch.exp(-r2 / 4) * perpendicular
        shear = torch.cat([1.5 * torch.tanh(z[:, 1:]), torch.zeros_like(z[:, :1])], dim=1)
        return swirl + torch.exp(-r2 / 2) * z + shear


MEASURED_C = float(second_order_oracle(torch.eye(2, dtype=torch.float64)))


def test_the_second_order_oracle_matches_a_measurement():
    j = torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    eps = 1e-4
    identity = torch.eye(5, dtype=torch.float64)
    log_det = torch.linalg.slogdet(identity + eps * j).logabsdet
    measured = (log_det - eps * torch.trace(j)) / eps**2
    assert abs(float(measured - second_order_oracle(j))) < 1e-3 * abs(float(measured))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda j: -0.5 * torch.trace(j @ j), "✅ second_order is right"),
        (MEASURED_C, "must be a function, `def second_order(J):`, not a float"),
        (lambda j: torch.tensor(MEASURED_C), "returns the same number for every matrix"),
        (lambda j: -0.5 * j.pow(2).sum(), "that is −½ Tr(JᵀJ)"),
        (lambda j: -0.5 * torch.trace(j) ** 2, "that is −½ (Tr J)²"),
        (lambda j: torch.trace(j @ j), "the factor is off"),
        (lambda j: 0.5 * torch.trace(j @ j), "the sign is flipped"),
        (..., "not solved yet"),
    ],
    ids=[
        "right",
        "copied-number",
        "constant",
        "frobenius",
        "trace-squared",
        "factor",
        "sign",
        "stub",
    ],
)
def test_second_order_wants_a_formula(answer, message, capsys):
    assert check_second_order(answer) is message.startswith("✅")
    assert message in capsys.readouterr().out


def swirl_divergence_formula(t, z):
    r2 = z.pow(2).sum(dim=1)
    return torch.exp(-r2 / 2) * (2 - r2)


def swirl_divergence_by_autograd(t, z):
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        return ffjord_edu.trace.exact_divergence(Swirl()(t, z), z, create_graph=False)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (swirl_divergence_formula, "✅ swirl_divergence is right"),
        (swirl_divergence_by_autograd, "uses autograd"),
        (lambda t, z: 2 * torch.exp(-z.pow(2).sum(dim=1) / 2), "the r·g′(r) term"),
        (lambda t, z: -swirl_divergence_formula(t, z), "the sign is flipped"),
    ],
    ids=["right", "autograd", "no-r-term", "sign"],
)
def test_swirl_divergence_wants_a_formula(answer, message, capsys):
    assert check_swirl_divergence(answer, Swirl()) is message.startswith("✅")
    assert message in capsys.readouterr().out


A_SPIRAL = torch.tensor([[-0.6, -1.0], [0.8, -0.2]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (math.log(2) / 0.8, "✅ t_double is right"),
        (torch.tensor(math.log(2) / 0.8), "✅ t_double is right"),
        (-math.log(2) / 0.8, "a negative time"),
        (1 / 0.8, "gains log 2, not 1"),
        (1.0, "t_double is off: got 1."),
    ],
    ids=["right", "tensor", "sign", "no-log2", "other"],
)
def test_doubling_time(answer, message, capsys):
    assert check_doubling_time(answer, A_SPIRAL) is message.startswith("✅")
    out = capsys.readouterr().out
    assert message in out
    assert "0.866" not in out  # the right value, log 2 / 0.8, stays hidden on a first try


def without_enable_grad(net, z):
    """04 ex. 5 written as if gradients were always on: it breaks under torch.no_grad()."""
    probe = sample_probe(z, "rademacher")

    def dynamics(t, state):
        z = state[0].detach().requires_grad_(True)
        velocity = net(t, z)
        divergence = hutchinson_divergence(velocity, z, probe, create_graph=False)
        return velocity.detach(), -divergence.detach()

    return dynamics


def test_probe_fixed_runs_the_dynamics_without_gradients(capsys):
    torch.manual_seed(1)
    net = ODEnet(2, hidden=(16,)).double()
    z = torch.randn(16, 2, dtype=torch.float64)
    assert not check_probe_fixed(without_enable_grad, net, z, name="dynamics")
    out = capsys.readouterr().out
    assert f"❌ dynamics: {NO_ENABLE_GRAD}" in out and "torch.enable_grad()" in out
    assert check_probe_fixed(make_dynamics, net, z, name="dynamics")


def test_probes_needed_names_the_variances(capsys):
    a = torch.eye(6, dtype=torch.float64) + torch.randn(
        6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    ) / math.sqrt(6)
    s = (a + a.T) / 2
    target = (0.01 * float(torch.trace(a))) ** 2
    rademacher = 2 * float(s.pow(2).sum() - s.diagonal().pow(2).sum())
    assert check_probes_needed(math.ceil(rademacher / target), a)
    assert not check_probes_needed(math.ceil(2 * float(s.pow(2).sum()) / target), a)
    assert "count for Gaussian probes" in capsys.readouterr().out
    assert not check_probes_needed(math.floor(rademacher / target), a)
    assert "round up" in capsys.readouterr().out


def algorithm_1_step(
    flow,
    optimizer,
    x,
    sign=1.0,
    delta_sign=1.0,
    redraw=False,
    times=(1.0, 0.0),
    step=True,
    zero_grad=True,
):
    """Algorithm 1 by hand (the notebook 05 solution), with switches for the usual mistakes."""
    net, settings = flow.blocks[0].net, flow.settings
    probe = None if redraw else sample_probe(x, settings.noise)

    def dynamics(t, state):
        with torch.enable_grad():
            z = state[0]
            if not z.requires_grad:
                z = z.requires_grad_(True)
            f = net(t, z)
            eps = sample_probe(z, settings.noise) if redraw else probe
            return f, -hutchinson_divergence(f, z, eps)

    zeros = torch.zeros(x.shape[0], dtype=x.dtype)
    z, delta_logp = odeint(
        dynamics, (x, zeros), torch.tensor(times, dtype=x.dtype), **settings.solver_options
    )
    log_p = standard_normal_log_prob(z[-1]) - delta_sign * delta_logp[-1]
    loss = -sign * log_p.mean()
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return loss.item()


def training_step_flow():
    torch.manual_seed(0)
    return ffjord_edu.CNF(2, hidden=(16, 16), trace="hutchinson", method="rk4", step_size=0.25)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ({}, "✅ training_step matches CNF.training_loss and its Adam step on 2 batches."),
        ({"sign": -1.0}, "the loss has the wrong sign"),
        ({"delta_sign": -1.0}, "the sign of Δlogp is flipped"),
        ({"redraw": True}, "the probe is redrawn at every evaluation"),
        ({"times": (0.0, 1.0)}, "the density solve runs from t = 0 to t = 1"),
        ({"step": False}, "the parameters did not move"),
        ({"zero_grad": False}, "gradients piled up over steps"),
    ],
)
def test_training_step_names_the_mistake(mistake, message, capsys):
    batches = [toy_batch(seed) for seed in (1, 2)]
    ok = check_training_step(
        lambda flow, optimizer, x: algorithm_1_step(flow, optimizer, x, **mistake),
        training_step_flow(),
        batches,
    )
    assert ok == (not mistake)
    assert message in capsys.readouterr().out


def test_training_step_not_solved_and_errors(capsys):
    flow, batches = training_step_flow(), [toy_batch(1)]
    assert not check_training_step(..., flow, batches)
    assert "✋ training_step is not solved yet" in capsys.readouterr().out
    assert not check_training_step(lambda flow, optimizer, x: ..., flow, batches)
    assert "it still returns `...`" in capsys.readouterr().out
    assert not check_training_step(lambda flow, optimizer, x: 1 / 0, flow, batches)
    assert "raised ZeroDivisionError" in capsys.readouterr().out


def toy_batch(seed: int) -> torch.Tensor:
    return ffjord_edu.datasets.toy.sample("8gaussians", 32, seed=seed)


def test_bottleneck_variance_check_accepts_the_formula_and_names_plain_hutchinson(capsys):
    generator = torch.Generator().manual_seed(0)
    J_h = torch.randn(3, 7, generator=generator, dtype=torch.float64)
    J_g = torch.randn(7, 3, generator=generator, dtype=torch.float64)

    def gaussian_variance(product):
        return 2 * float(((product + product.T) / 2).pow(2).sum())

    def right(J_h, J_g):
        return gaussian_variance(J_h @ J_g)  # the H x H product

    def plain_hutchinson(J_h, J_g):
        return gaussian_variance(J_g @ J_h)  # the D x D one

    assert check_bottleneck_variance(right, J_h, J_g)
    assert not check_bottleneck_variance(plain_hutchinson, J_h, J_g)
    assert "plain Hutchinson" in capsys.readouterr().out


PREDICTION_CHOICES = {"a": "the spread halves", "b": "the spread stays", "c": "it doubles"}


@pytest.mark.parametrize(
    ("predicted", "ok", "message"),
    [
        (..., False, '✋ guess: commit to a prediction first: set it to one of "a", "b", "c"'),
        (" B ", True, "✅ guess: you predicted (b) the spread stays, and the run agrees."),
        ("a", False, "❌ guess: you predicted (a) the spread halves, but the run shows (b)"),
        ("d", False, '❌ guess is \'d\': choose one of "a", "b", "c".'),
    ],
)
def test_check_prediction_reveals_only_after_a_commitment(predicted, ok, message, capsys):
    assert check_prediction(predicted, PREDICTION_CHOICES, outcome="b", name="guess") is ok
    printed = capsys.readouterr().out
    assert printed.startswith(message)
    if predicted is ...:
        assert "stays" not in printed  # the truth waits for the commitment


def test_check_prediction_refuses_an_outcome_that_is_no_choice():
    with pytest.raises(ValueError, match="outcome 'z' is not one of the choices"):
        check_prediction("a", PREDICTION_CHOICES, outcome="z")
