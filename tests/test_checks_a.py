"""Checkers added for #17 (helper a): their oracles do not use the formula the exercise asks for."""

import pytest
import torch

import ffjord_edu
from ffjord_edu.cnf import standard_normal_log_prob
from ffjord_edu.course import checks
from ffjord_edu.course.checks import FLIPPED_LOG_DET, MISSING_LOG_DET, check_density_by_flow_map
from ffjord_edu.trace import exact_divergence


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    """Wrong answers print and return False; every test starts with no wrong tries recorded."""
    monkeypatch.delenv("FFJORD_EDU_STRICT_CHECKS", raising=False)
    monkeypatch.setattr(checks, "_wrong_tries", {})
    monkeypatch.setattr(checks, "_expected", {})


def swirl(t, z):
    """Notebook 03's field: a swirl that speeds up with t, a push outwards and a shear."""
    r2 = z.pow(2).sum(dim=1, keepdim=True)
    perpendicular = torch.cat([-z[:, 1:], z[:, :1]], dim=1)
    push = torch.exp(-r2 / 2) * z
    shear = torch.cat([1.5 * torch.tanh(z[:, 1:]), torch.zeros_like(z[:, :1])], dim=1)
    return 3 * (1 + t) * torch.exp(-r2 / 4) * perpendicular + push + shear


def augmented_solve(x, times, sign=-1.0):
    """log N(z) + sign · ℓ of the augmented state (x, 0) solved over `times` (default tolerance)."""

    def dynamics(t, state):
        with torch.enable_grad():
            z = state[0].detach().requires_grad_(True)
            velocity = swirl(t, z)
            divergence = exact_divergence(velocity, z, create_graph=False)
        return velocity.detach(), -divergence.detach()

    state = (x, torch.zeros(len(x), dtype=x.dtype))
    z, ell = ffjord_edu.odeint(dynamics, state, torch.tensor(times, dtype=x.dtype))
    return standard_normal_log_prob(z[-1]) + sign * ell[-1]


def test_the_flow_map_road_equals_the_trace_road():
    """Liouville: log N(Φ(x)) + log|det ∂Φ/∂x| = log N(z(0)) − Δlog p, to the solver's accuracy."""
    x = torch.tensor([[0.5, 0.2], [-1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    by_flow_map = sum(checks._flow_map_parts(swirl, x, 1.0, 0.0))
    by_trace = augmented_solve(x, [1.0, 0.0])
    assert torch.allclose(by_flow_map, by_trace, atol=1e-4, rtol=0)
    # at the fixed point 0 the divergence is 2 for all t: log p_1(0) = log N(0) - 2
    assert float(by_flow_map[2]) == pytest.approx(
        float(standard_normal_log_prob(x[2:])) - 2, abs=1e-6
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda x: augmented_solve(x, [1.0, 0.0]), "✅ log_p1_swirl is right"),
        (lambda x: augmented_solve(x, [0.0, 1.0]), "time runs the wrong way"),
        (lambda x: augmented_solve(x, [1.0, 0.0], sign=1.0), FLIPPED_LOG_DET),
        (lambda x: augmented_solve(x, [1.0, 0.0], sign=0.0), MISSING_LOG_DET),
        (lambda x: torch.zeros(len(x), dtype=x.dtype), "log_p1_swirl's result is off"),
    ],
    ids=["right", "wrong-direction", "flipped-sign", "no-log-det", "other"],
)
def test_density_by_flow_map_names_the_slips(answer, message, capsys):
    assert check_density_by_flow_map(answer, swirl) is message.startswith("✅")
    assert message in capsys.readouterr().out
