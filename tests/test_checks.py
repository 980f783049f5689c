"""Exercise checkers: helpful messages, never a traceback; strict mode raises."""

import math

import pytest
import torch

import ffjord_edu
from ffjord_edu.checks import (
    FLIPPED_LOG_DET,
    ExerciseError,
    check_close,
    check_function,
    check_log_density,
    check_probe_fixed,
    check_rademacher_probe,
    check_time_direction,
    check_training_step,
    check_true,
)
from ffjord_edu.cnf import standard_normal_log_prob
from ffjord_edu.nets import ODEnet
from ffjord_edu.solvers import odeint
from ffjord_edu.trace import hutchinson_divergence, sample_probe


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("FFJORD_EDU_STRICT_CHECKS", raising=False)


@pytest.mark.parametrize(
    ("answer", "ok", "message"),
    [
        (0.75, True, "✅ the sum is right."),
        (0.7, False, "❌ the sum is off: got 0.7, expected 0.75. Hint: add both"),
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
    assert "square's result is off: got 6, expected 9" in capsys.readouterr().out
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
    assert "square's result is off: got 5, expected 16" in capsys.readouterr().out


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
