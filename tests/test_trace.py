"""Trace estimators: exact against the full Jacobian, Hutchinson's mean and variance."""

import pytest
import torch
from torch.autograd.functional import jacobian

from ffjord_edu.nets import ODEnet
from ffjord_edu.trace import (
    NOISES,
    bottleneck_divergence,
    exact_divergence,
    hutchinson_divergence,
    sample_probe,
)


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


# A network with a 3-wide bottleneck in D = 12: f = g(h(z)) with h(z) in R^3.
BOTTLENECK_DIM, BOTTLENECK_HIDDEN = 12, (16, 3, 16)


def bottleneck_setup() -> tuple[ODEnet, torch.Tensor, torch.Tensor]:
    """The network, the time, and one point z (shape (1, D)). (Seed 3 would give a network where
    the trick does not help: it lowers the variance for most networks, not for all.)"""
    torch.manual_seed(0)
    net = ODEnet(BOTTLENECK_DIM, hidden=BOTTLENECK_HIDDEN, activation="softplus").double()
    return net, torch.tensor(0.3, dtype=torch.float64), torch.randn(1, BOTTLENECK_DIM).double()


def factor_jacobians(net: ODEnet, t: torch.Tensor, z: torch.Tensor) -> tuple:
    """J_h (H x D), J_g (D x H) and J = J_g J_h at the point z, from autograd."""
    split = net.bottleneck
    first, second = net.layers[: split + 1], net.layers[split + 1 :]

    def h(point):
        for layer in first:
            point = net.activation(layer(t, point))
        return point

    def g(hidden):
        for i, layer in enumerate(second):
            hidden = layer(t, hidden)
            if i < len(second) - 1:
                hidden = net.activation(hidden)
        return hidden

    hidden = h(z)
    j_h = jacobian(lambda p: h(p[None])[0], z[0])
    j_g = jacobian(lambda q: g(q[None])[0], hidden[0])
    return j_h, j_g, jacobian(lambda p: net(t, p[None])[0], z[0])


def bottleneck_samples(noise: str, n: int, seed: int = 0) -> torch.Tensor:
    """n independent bottleneck estimates at the same point, one probe per row."""
    net, t, z = bottleneck_setup()
    torch.manual_seed(seed)
    rows = z.expand(n, -1).clone().requires_grad_(True)
    h, f = net.forward_with_bottleneck(t, rows)
    return bottleneck_divergence(f, h, rows, sample_probe(h, noise), create_graph=False).detach()


def test_forward_with_bottleneck_splits_the_network_at_its_narrowest_layer():
    net, t, z = bottleneck_setup()
    h, f = net.forward_with_bottleneck(t, z)
    assert net.bottleneck == 1 and h.shape == (1, 3)
    assert torch.equal(f, net(t, z))
    j_h, j_g, j = factor_jacobians(net, t, z)
    assert torch.allclose(j_g @ j_h, j, atol=1e-12)  # the chain rule: f = g ∘ h


def test_bottleneck_trace_is_exact_when_averaged_over_every_sign_pattern():
    # E over Rademacher probes = the average over all 2^H sign patterns: Tr(J_h J_g) = Tr(J)
    net, t, z = bottleneck_setup()
    signs = torch.cartesian_prod(*[torch.tensor([-1.0, 1.0], dtype=torch.float64)] * 3)
    rows = z.expand(len(signs), -1).clone().requires_grad_(True)
    h, f = net.forward_with_bottleneck(t, rows)
    estimates = bottleneck_divergence(f, h, rows, signs, create_graph=False)
    one = z.clone().requires_grad_(True)
    exact = exact_divergence(net(t, one), one, create_graph=False)
    assert float(estimates.mean()) == pytest.approx(float(exact), abs=1e-12)


@pytest.mark.parametrize("noise", NOISES)
def test_bottleneck_estimate_is_unbiased(noise):
    net, t, z = bottleneck_setup()
    estimates = bottleneck_samples(noise, 20_000)
    rows = z.clone().requires_grad_(True)
    exact = float(exact_divergence(net(t, rows), rows, create_graph=False))
    standard_error = float(estimates.std()) / len(estimates) ** 0.5
    assert abs(float(estimates.mean()) - exact) < 4 * standard_error


@pytest.mark.parametrize("noise", NOISES)
def test_bottleneck_variance_matches_the_closed_form_and_beats_plain_hutchinson(noise):
    net, t, z = bottleneck_setup()
    j_h, j_g, _ = factor_jacobians(net, t, z)
    small, large = j_h @ j_g, j_g @ j_h  # H x H and D x D, the same trace
    assert float(small.trace()) == pytest.approx(float(large.trace()), abs=1e-12)
    predicted = closed_form_variance(0.5 * (small + small.T), noise)
    plain = closed_form_variance(0.5 * (large + large.T), noise)
    assert float(bottleneck_samples(noise, 200_000).var()) == pytest.approx(predicted, rel=0.03)
    measured_plain = float(hutchinson_samples_at(net, t, z, noise, 200_000).var())
    assert measured_plain == pytest.approx(plain, rel=0.03)
    assert predicted < 0.5 * plain  # the bottleneck trick pays off on this network


def test_gaussian_variances_differ_by_the_frobenius_norms_of_the_two_products():
    # ‖sym(A)‖_F² = (‖A‖_F² + Tr(A²)) / 2 and Tr((J_g J_h)²) = Tr((J_h J_g)²), so the Gaussian
    # variances differ by ‖J_g J_h‖_F² − ‖J_h J_g‖_F² exactly.
    j_h, j_g, _ = factor_jacobians(*bottleneck_setup())
    small, large = j_h @ j_g, j_g @ j_h
    difference = closed_form_variance(0.5 * (large + large.T), "gaussian") - closed_form_variance(
        0.5 * (small + small.T), "gaussian"
    )
    assert difference == pytest.approx(float(large.pow(2).sum() - small.pow(2).sum()), rel=1e-10)


def hutchinson_samples_at(net, t, z, noise: str, n: int) -> torch.Tensor:
    """n plain Hutchinson estimates at the point z, one D-dimensional probe per row."""
    torch.manual_seed(1)
    rows = z.expand(n, -1).clone().requires_grad_(True)
    return hutchinson_divergence(
        net(t, rows), rows, sample_probe(rows, noise), create_graph=False
    ).detach()


def test_bottleneck_divergence_is_differentiable_in_the_parameters():
    # the same parameters get a gradient as through the exact trace (all but the last layer's
    # constant shifts, which have no divergence)
    net, t, z = bottleneck_setup()
    with_gradient = {}
    for estimator in ("exact", "bottleneck"):
        net.zero_grad(set_to_none=True)
        rows = z.expand(4, -1).clone().requires_grad_(True)
        h, f = net.forward_with_bottleneck(t, rows)
        if estimator == "exact":
            divergence = exact_divergence(f, rows)
        else:
            divergence = bottleneck_divergence(f, h, rows, sample_probe(h))
        divergence.sum().backward()
        with_gradient[estimator] = {n for n, p in net.named_parameters() if p.grad is not None}
    assert with_gradient["bottleneck"] == with_gradient["exact"]
    assert "layers.0.linear.weight" in with_gradient["bottleneck"]


def test_a_network_without_hidden_layers_has_no_bottleneck():
    net = ODEnet(3, hidden=())
    with pytest.raises(ValueError, match="needs a hidden layer"):
        net.forward_with_bottleneck(torch.tensor(0.0), torch.zeros(2, 3))
