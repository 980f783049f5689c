"""The readable solvers: orders, tolerances, agreement with torchdiffeq, NFE, budgets, errors."""

import math

import pytest
import torch
from torch import nn

from ffjord_edu.solvers import (
    METHODS,
    TABLEAUS,
    EvaluationCounter,
    StepBudgetExceeded,
    odeint,
)

LAMBDA = -1.3


def decay(t, y):
    return LAMBDA * y


def observed_order(method: str) -> float:
    """log2 of the error ratio when the step is halved, on y' = λy, y(0) = 1, t in [0, 1]."""
    y0 = torch.ones(1, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    errors = []
    for step in (1 / 64, 1 / 128):
        y = odeint(decay, y0, t, method=method, step_size=step, backend="edu")
        errors.append(abs(float(y[-1]) - math.exp(LAMBDA)))
    return math.log2(errors[0] / errors[1])


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
def test_fixed_step_methods_show_their_order(method):
    assert observed_order(method) == pytest.approx(TABLEAUS[method].order, abs=0.1)


def oscillator(t, y):
    """A smooth nonlinear test problem: a damped, forced pendulum."""
    position, velocity = y[..., :1], y[..., 1:]
    return torch.cat([velocity, -torch.sin(position) - 0.1 * velocity + 0.3 * torch.cos(t)], -1)


@pytest.mark.parametrize("tolerance", [1e-4, 1e-6, 1e-8])
def test_edu_dopri5_meets_its_tolerance(tolerance):
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.linspace(0, 2, 5, dtype=torch.float64)
    y = odeint(decay, y0, t, method="dopri5", atol=tolerance, rtol=tolerance, backend="edu")
    exact = torch.exp(LAMBDA * t)[:, None]
    assert float((y - exact).abs().max()) < 10 * tolerance


def test_edu_dopri5_agrees_with_torchdiffeq():
    y0 = torch.tensor([[1.0, 0.0], [0.5, -0.5]], dtype=torch.float64)
    t = torch.linspace(0, 5, 11, dtype=torch.float64)
    ours = odeint(oscillator, y0, t, atol=1e-10, rtol=1e-10, backend="edu")
    theirs = odeint(oscillator, y0, t, atol=1e-10, rtol=1e-10, backend="torchdiffeq")
    assert float((ours - theirs).abs().max()) < 1e-6


@pytest.mark.parametrize("method", ["euler", "midpoint"])
def test_fixed_step_methods_equal_torchdiffeq_on_the_same_grid(method):
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ours = odeint(oscillator, y0, t, method=method, step_size=0.125, backend="edu")
    theirs = odeint(oscillator, y0, t, method=method, step_size=0.125, backend="torchdiffeq")
    assert float((ours - theirs).abs().max()) < 1e-12


@pytest.mark.parametrize("backend", ["edu", "torchdiffeq"])
def test_tuple_states_and_backward_time(backend):
    """Integrating forward then backward returns to the start, for a tuple state."""

    def dynamics(t, state):
        z = state[0]
        return -z, z.sum(dim=1)

    z0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    state0 = (z0, torch.zeros(1, dtype=torch.float64))
    forward_t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    z, s = odeint(dynamics, state0, forward_t, atol=1e-10, rtol=1e-10, backend=backend)
    assert torch.allclose(z[-1], z0 * math.exp(-1), atol=1e-8)
    assert torch.allclose(s[-1], z0.sum() * (1 - math.exp(-1)), atol=1e-8)
    back = odeint(
        dynamics, (z[-1], s[-1]), forward_t.flip(0), atol=1e-10, rtol=1e-10, backend=backend
    )
    assert torch.allclose(back[0][-1], z0, atol=1e-8)
    assert torch.allclose(back[1][-1], torch.zeros(1, dtype=torch.float64), atol=1e-8)


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
def test_fixed_step_nfe_is_stages_times_steps(method):
    counter = EvaluationCounter()
    odeint(
        decay,
        torch.ones(1),
        torch.tensor([0.0, 1.0]),
        method=method,
        step_size=0.1,
        backend="edu",
        counter=counter,
    )
    assert counter.forward == 10 * len(TABLEAUS[method].c)
    assert counter.backward == 0


class LinearField(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([[-0.5, 1.0], [-1.0, -0.2]], dtype=torch.float64))

    def forward(self, t, z):
        return torch.tanh(z @ self.weight.T)


def test_adjoint_counts_backward_evaluations_and_matches_direct_gradients():
    z0 = torch.tensor([[0.3, -0.7], [1.0, 0.5]], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    gradients, counters = [], []
    for adjoint in (False, True):
        field, counter = LinearField(), EvaluationCounter()
        z = odeint(field, z0, t, atol=1e-9, rtol=1e-9, adjoint=adjoint, counter=counter)
        assert counter.forward > 0
        z[-1].pow(2).sum().backward()
        gradients.append(field.weight.grad.clone())
        counters.append(counter)
    assert counters[0].backward == 0, "backprop through the solver evaluates nothing new"
    assert counters[1].backward > 0, "the adjoint solves an ODE backwards"
    assert torch.allclose(gradients[0], gradients[1], atol=1e-6)


@pytest.mark.parametrize("backend", ["edu", "torchdiffeq"])
def test_step_budget_raises_instead_of_hanging(backend):
    def stiff(t, y):
        return -1e6 * (y - torch.cos(t))

    counter = EvaluationCounter()
    with pytest.raises(StepBudgetExceeded, match="max_steps=20"):
        odeint(
            stiff,
            torch.ones(1, dtype=torch.float64),
            torch.tensor([0.0, 10.0]),
            atol=1e-9,
            rtol=1e-9,
            backend=backend,
            max_steps=20,
            counter=counter,
        )
    assert issubclass(StepBudgetExceeded, RuntimeError)
    assert counter.forward >= 20, "the evaluations of a solve that gave up are still counted"


def test_fixed_step_budget():
    with pytest.raises(StepBudgetExceeded, match="max_steps=5"):
        odeint(
            decay,
            torch.ones(1),
            torch.tensor([0.0, 1.0]),
            method="euler",
            step_size=0.01,
            backend="edu",
            max_steps=5,
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"method": "rk45"}, "unknown ODE solver 'rk45'; choose one of: " + ", ".join(METHODS)),
        ({"backend": "scipy"}, "unknown backend 'scipy'; choose one of: torchdiffeq, edu"),
        ({"atol": 0.0}, "tolerances must be positive"),
        ({"rtol": -1e-5}, "tolerances must be positive"),
        ({"method": "rk4", "step_size": 0.0}, "step_size must be positive"),
        ({"backend": "edu", "adjoint": True}, "no adjoint"),
        ({"adjoint": True}, "nn.Module"),
    ],
)
def test_bad_arguments_get_clear_errors(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        odeint(decay, torch.ones(1), torch.tensor([0.0, 1.0]), **arguments)


@pytest.mark.parametrize("times", [[0.0, 1.0, 0.5], [0.0], [0.0, 0.0]])
def test_times_must_be_monotonic(times):
    with pytest.raises(ValueError, match="t must"):
        odeint(decay, torch.ones(1), torch.tensor(times))
