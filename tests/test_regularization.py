"""Kinetic and Jacobian penalties against closed forms for linear dynamics."""

import math

import pytest
import torch
from torch import nn

from ffjord_edu.cnf import CNF


class Scaled(nn.Module):
    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        self.matrix = nn.Parameter(matrix)

    def forward(self, t, z):
        return z @ self.matrix.T


def flow_with(matrix: torch.Tensor, **settings) -> CNF:
    flow = CNF(2, hidden=(4,), atol=1e-9, rtol=1e-9, **settings).double()
    flow.blocks[0].net = Scaled(matrix)
    return flow


def test_kinetic_energy_matches_the_closed_form():
    """f = a z: z(t) = exp(a(t-1)) x, so ∫₀¹ |f|² dt = a² |x|² (1 - exp(-2a)) / (2a)."""
    a = 0.7
    flow = flow_with(a * torch.eye(2, dtype=torch.float64), kinetic=1.0)
    x = torch.randn(6, 2, dtype=torch.float64)
    flow.log_prob(x)
    expected = a**2 * x.pow(2).sum(1) * (1 - math.exp(-2 * a)) / (2 * a)
    assert torch.allclose(flow.penalties["kinetic"], expected, atol=1e-7)


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_jacobian_penalty_estimates_the_frobenius_norm(trace):
    """f = A z has J = A everywhere: ∫₀¹ ‖J‖_F² dt = ‖A‖_F², estimated without bias."""
    matrix = torch.tensor([[0.3, -0.8], [0.5, -0.1]], dtype=torch.float64)
    flow = flow_with(matrix, jacobian=1.0, trace=trace, noise="gaussian")
    torch.manual_seed(0)
    flow.log_prob(torch.randn(20_000, 2, dtype=torch.float64))
    estimates = flow.penalties["jacobian"].detach()
    standard_error = float(estimates.std()) / len(estimates) ** 0.5
    assert abs(float(estimates.mean()) - float(matrix.pow(2).sum())) < 4 * standard_error


def test_training_loss_adds_the_weighted_penalties():
    flow = flow_with(0.5 * torch.eye(2, dtype=torch.float64), kinetic=0.1, jacobian=0.2)
    x = torch.randn(8, 2, dtype=torch.float64)
    torch.manual_seed(1)
    loss, parts = flow.training_loss(x)
    assert loss.item() == pytest.approx(
        parts["nll"] + 0.1 * parts["kinetic"] + 0.2 * parts["jacobian"]
    )
    loss.backward()
    assert flow.blocks[0].net.matrix.grad is not None


def test_penalties_are_skipped_when_not_training():
    flow = flow_with(torch.eye(2, dtype=torch.float64), kinetic=1.0)
    with torch.no_grad():
        flow.log_prob(torch.randn(3, 2, dtype=torch.float64))
    assert flow.penalties == {}


def test_negative_weights_are_refused():
    with pytest.raises(ValueError, match="regularisation weights must be >= 0"):
        CNF(2, kinetic=-0.1)
