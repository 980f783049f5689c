"""Trace estimators: exact against the full Jacobian, Hutchinson's mean and variance."""

import pytest
import torch
from torch.autograd.functional import jacobian

from ffjord_edu.nets import ODEnet
from ffjord_edu.trace import NOISES, exact_divergence, hutchinson_divergence, sample_probe


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_exact_divergence_is_the_jacobian_trace(dim):
    torch.manual_seed(dim)
    net = ODEnet(dim, hidden=(16, 16)).double()
    t = torch.tensor(0.4, dtype=torch.float64)
    z = torch.randn(4, dim, dtype=torch.float64, requires_grad=True)
    divergence = exact_divergence(net(t, z), z).detach()
    for i in range(4):
        full = jacobian(lambda row: net(t, row[None])[0], z[i].detach())
        assert float(divergence[i]) == pytest.approx(float(full.trace()), abs=1e-12)


def linear_map(dim: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    return torch.randn(dim, dim, generator=generator, dtype=torch.float64)


def hutchinson_samples(matrix: torch.Tensor, noise: str, n: int) -> torch.Tensor:
    """n independent estimates of Tr(A) for f(z) = A z, one probe per row."""
    torch.manual_seed(0)
    z = torch.zeros(n, matrix.shape[0], dtype=torch.float64, requires_grad=True)
    f = z @ matrix.T
    return hutchinson_divergence(f, z, sample_probe(z, noise), create_graph=False)


@pytest.mark.parametrize("noise", NOISES)
def test_hutchinson_is_unbiased(noise):
    matrix = linear_map()
    estimates = hutchinson_samples(matrix, noise, 20_000)
    standard_error = float(estimates.std()) / len(estimates) ** 0.5
    assert abs(float(estimates.mean()) - float(matrix.trace())) < 4 * standard_error


def closed_form_variance(matrix: torch.Tensor, noise: str) -> float:
    """Var[ε^T A ε] for symmetric A: 2‖A‖_F² (Gaussian), 2(‖A‖_F² − Σ a_ii²) (Rademacher)."""
    frobenius = float(matrix.pow(2).sum())
    if noise == "gaussian":
        return 2 * frobenius
    return 2 * (frobenius - float(matrix.diagonal().pow(2).sum()))  # ε_i² = 1: no diagonal noise


@pytest.mark.parametrize("noise", NOISES)
def test_hutchinson_variance_matches_the_closed_form(noise):
    general = linear_map()
    symmetric = 0.5 * (general + general.T)
    estimates = hutchinson_samples(symmetric, noise, 200_000)
    assert float(estimates.var()) == pytest.approx(closed_form_variance(symmetric, noise), rel=0.03)
    # ε^T A ε only sees the symmetric part of A, so a general A has the same variance.
    estimates = hutchinson_samples(general, noise, 200_000)
    assert float(estimates.var()) == pytest.approx(closed_form_variance(symmetric, noise), rel=0.03)


@pytest.mark.parametrize("noise", NOISES)
def test_probes_have_zero_mean_and_identity_covariance(noise):
    torch.manual_seed(1)
    probes = sample_probe(torch.empty(100_000, 3), noise)
    assert probes.shape == (100_000, 3)
    assert float(probes.mean(0).abs().max()) < 0.02
    assert torch.allclose(probes.T @ probes / len(probes), torch.eye(3), atol=0.02)
    if noise == "rademacher":
        assert set(probes.unique().tolist()) == {-1.0, 1.0}


def test_rademacher_probes_are_exact_for_diagonal_maps():
    diagonal = torch.diag(torch.tensor([1.0, -2.0, 3.5], dtype=torch.float64))
    assert torch.allclose(
        hutchinson_samples(diagonal, "rademacher", 10), torch.full((10,), 2.5, dtype=torch.float64)
    )


def test_unknown_noise_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="unknown probe noise 'uniform'; choose one of: rademacher, gaussian"
    ):
        sample_probe(torch.zeros(2, 2), "uniform")


@pytest.mark.parametrize("estimator", ["exact", "hutchinson"])
def test_divergence_is_differentiable_in_the_parameters(estimator):
    net = ODEnet(2, hidden=(8,))
    z = torch.randn(6, 2, requires_grad=True)
    f = net(torch.tensor(0.0), z)
    if estimator == "exact":
        divergence = exact_divergence(f, z)
    else:
        divergence = hutchinson_divergence(f, z, sample_probe(z))
    divergence.sum().backward()
    assert all(p.grad is not None for p in net.layers[0].parameters())
