"""The CNF against closed forms: linear dynamics, invertibility, normalisation, conventions."""

import math

import pytest
import torch
from torch import nn

from ffjord_edu.cnf import CNF, standard_normal_log_prob

TIGHT = {"atol": 1e-9, "rtol": 1e-9}


class LinearDynamics(nn.Module):
    """f(t, z) = A z, whose flow is z(t) = exp(tA) z(0)."""

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        self.matrix = nn.Parameter(matrix)

    def forward(self, t, z):
        return z @ self.matrix.T


MATRIX = torch.tensor([[0.3, -0.8], [0.5, -0.1]], dtype=torch.float64)


def linear_flow(T: float = 1.0, **settings) -> CNF:
    flow = CNF(2, hidden=(4,), T=T, **{**TIGHT, **settings}).double()
    flow.blocks[0].net = LinearDynamics(MATRIX.clone())
    return flow


def closed_form_log_prob(x: torch.Tensor, T: float) -> torch.Tensor:
    """x = exp(TA) z with z ~ N(0, I): log p(x) = log N(exp(-TA) x) - T tr(A)."""
    z = x @ torch.linalg.matrix_exp(-T * MATRIX).T
    return standard_normal_log_prob(z) - T * MATRIX.trace()


@pytest.mark.parametrize("backend", ["torchdiffeq", "edu"])
@pytest.mark.parametrize("T", [0.5, 1.0, 2.0])
def test_linear_dynamics_match_the_closed_form_density(T, backend):
    flow = linear_flow(T, backend=backend)
    x = torch.randn(16, 2, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(flow.log_prob(x), closed_form_log_prob(x, T), atol=1e-4, rtol=0)


def test_delta_logp_sign_convention():
    """log p(x) = log N(z) - Δlogp with Δlogp = ∫ Tr(∂f/∂z) dt = T tr(A) for linear dynamics."""
    flow = linear_flow(T=2.0)
    with torch.no_grad():
        _, delta_logp = flow(torch.randn(5, 2, dtype=torch.float64))
    assert torch.allclose(
        delta_logp, torch.full((5,), 2.0 * float(MATRIX.trace()), dtype=torch.float64), atol=1e-6
    )


def test_trajectory_follows_the_matrix_exponential():
    flow = linear_flow()
    z0 = torch.randn(3, 2, dtype=torch.float64)
    times = [0.0, 0.25, 0.5, 1.0]
    with torch.no_grad():
        path = flow.trajectory(z0, times)
    for frame, t in zip(path, times):
        assert torch.allclose(frame, z0 @ torch.linalg.matrix_exp(t * MATRIX).T, atol=1e-6)
    with torch.no_grad():
        back = flow.trajectory(path[-1], times[::-1])
    assert torch.allclose(back[-1], z0, atol=1e-6)


def random_flow(blocks: int = 1, **settings) -> CNF:
    torch.manual_seed(3)
    flow = CNF(2, hidden=(32, 32), blocks=blocks, **settings).double()
    with torch.no_grad():  # a visibly non-trivial map, not the near-identity of a fresh init
        for parameter in flow.parameters():
            parameter.mul_(2.0)
    return flow


@pytest.mark.parametrize("blocks", [1, 2])
def test_inverse_undoes_forward(blocks):
    flow = random_flow(blocks, **TIGHT)
    x = 2 * torch.randn(64, 2, dtype=torch.float64)
    with torch.no_grad():
        z, _ = flow(x)
        assert float((z - x).abs().max()) > 0.1, "the map should move points"
        assert torch.allclose(flow.inverse(z), x, atol=1e-4, rtol=0)
        assert torch.allclose(
            flow.trajectory(z, [0.0, 0.3 * blocks, 1.0 * blocks])[-1], x, atol=1e-4, rtol=0
        )


def test_density_integrates_to_one():
    flow = random_flow(atol=1e-6, rtol=1e-6)
    edge, n = 7.0, 161
    axis = torch.linspace(-edge, edge, n, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        density = flow.log_prob(grid).exp()
    cell = (axis[1] - axis[0]) ** 2
    assert float(density.sum() * cell) == pytest.approx(1.0, abs=0.01)


def test_samples_have_the_right_shape_and_count_nfe():
    flow = random_flow()
    with torch.no_grad():
        samples = flow.sample(7)
    assert samples.shape == (7, 2) and samples.dtype == torch.float64
    assert flow.nfe["forward"] > 0 and flow.nfe["backward"] == 0


@pytest.mark.parametrize("trace", ["exact", "hutchinson", "bottleneck"])
@pytest.mark.parametrize("adjoint", [False, True])
def test_every_parameter_gets_a_gradient(trace, adjoint):
    flow = random_flow(trace=trace, adjoint=adjoint, atol=1e-4, rtol=1e-4)
    loss = -flow.log_prob(torch.randn(8, 2, dtype=torch.float64)).mean()
    loss.backward()
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert (flow.nfe["backward"] > 0) == adjoint


def test_hutchinson_log_prob_is_unbiased():
    flow = random_flow(trace="hutchinson", atol=1e-6, rtol=1e-6)
    x = torch.randn(1, 2, dtype=torch.float64).expand(4000, 2)
    with torch.no_grad():
        estimates = flow.log_prob(x)
        with flow.using(trace="exact"):
            exact = flow.log_prob(x[:1])
    standard_error = float(estimates.std()) / len(estimates) ** 0.5
    assert abs(float(estimates.mean() - exact)) < 4 * standard_error + 1e-6


def test_probe_is_fixed_during_a_solve():
    flow = random_flow(trace="hutchinson")
    block = flow.blocks[0]
    z = torch.randn(5, 2, dtype=torch.float64)
    block.start_solve(z, flow.settings)
    t = torch.tensor(0.5, dtype=torch.float64)
    first, second = block(t, (z, torch.zeros(5))), block(t, (z, torch.zeros(5)))
    assert torch.equal(first[1], second[1])


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_bottleneck_log_prob_is_unbiased(noise):
    torch.manual_seed(4)
    flow = CNF(4, hidden=(16, 2, 16), trace="bottleneck", noise=noise, atol=1e-6, rtol=1e-6)
    flow = flow.double()
    x = torch.randn(1, 4, dtype=torch.float64).expand(3000, 4)
    with torch.no_grad():
        estimates = flow.log_prob(x)
        assert flow.blocks[0].hidden_probe.shape == (3000, 2)  # the probe lives in the bottleneck
        with flow.using(trace="exact"):
            exact = flow.log_prob(x[:1])
    standard_error = float(estimates.std()) / len(estimates) ** 0.5
    assert abs(float(estimates.mean() - exact)) < 4 * standard_error + 1e-6


def test_bottleneck_probe_is_fixed_during_a_solve_and_redrawn_for_the_next():
    flow = CNF(3, hidden=(8, 2, 8), trace="bottleneck").double()
    block = flow.blocks[0]
    z = torch.randn(5, 3, dtype=torch.float64)
    t = torch.tensor(0.5, dtype=torch.float64)
    block.start_solve(z, flow.settings)
    first, second = block(t, (z, torch.zeros(5))), block(t, (z, torch.zeros(5)))
    assert torch.equal(first[1], second[1])
    probe = block.hidden_probe.clone()
    block.start_solve(z, flow.settings)
    block(t, (z, torch.zeros(5)))
    assert not torch.equal(block.hidden_probe, probe)


def test_bottleneck_needs_a_network_with_hidden_layers():
    flow = CNF(2, hidden=(), trace="bottleneck")
    with pytest.raises(ValueError, match="needs a hidden layer"):
        flow.log_prob(torch.zeros(3, 2))
    flow = linear_flow(trace="bottleneck")
    with pytest.raises(ValueError, match="LinearDynamics does not: use trace='hutchinson'"):
        flow.log_prob(torch.zeros(3, 2, dtype=torch.float64))


def test_the_bottleneck_option_leaves_existing_flows_as_they_were():
    # state_dict keys and config of a default CNF are those of the shipped checkpoints
    flow = CNF(2, hidden=(8,))
    assert list(flow.state_dict()) == [
        "blocks.0.net.layers.0.linear.weight",
        "blocks.0.net.layers.0.linear.bias",
        "blocks.0.net.layers.0.gate.weight",
        "blocks.0.net.layers.0.gate.bias",
        "blocks.0.net.layers.0.shift.weight",
        "blocks.0.net.layers.1.linear.weight",
        "blocks.0.net.layers.1.linear.bias",
        "blocks.0.net.layers.1.gate.weight",
        "blocks.0.net.layers.1.gate.bias",
        "blocks.0.net.layers.1.shift.weight",
    ]
    assert set(flow.config) == {
        *("dim", "hidden", "T", "blocks", "layer", "activation", "trace", "noise", "method"),
        *("atol", "rtol", "step_size", "backend", "adjoint", "kinetic", "jacobian"),
    }
    # a Hutchinson solve draws exactly one probe of the data's shape from the global generator
    flow = CNF(3, hidden=(8, 2, 8), trace="hutchinson")
    torch.manual_seed(11)
    flow.blocks[0].start_solve(torch.zeros(4, 3), flow.settings)
    torch.manual_seed(11)
    assert torch.equal(flow.blocks[0].probe, 2.0 * torch.randint(0, 2, (4, 3)) - 1)
    assert flow.blocks[0].hidden_probe is None


def test_config_round_trip():
    flow = random_flow(blocks=2, trace="hutchinson", noise="gaussian")
    clone = CNF.from_config(flow.config).double()
    clone.load_state_dict(flow.state_dict())
    x = torch.randn(3, 2, dtype=torch.float64)
    with torch.no_grad(), flow.using(trace="exact"), clone.using(trace="exact"):
        assert torch.allclose(flow.log_prob(x), clone.log_prob(x))
    assert clone.config == flow.config


def test_using_restores_the_settings():
    flow = random_flow()
    with flow.using(trace="hutchinson", atol=1e-3):
        assert flow.settings.trace == "hutchinson" and flow.settings.atol == 1e-3
    assert flow.settings.trace == "exact" and flow.settings.atol == 1e-5


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.tensor([[0.0, math.nan]]), "NaN or infinite values in 1 rows"),
        (torch.tensor([[0.0, 1.0], [math.inf, 0.0]]), r"first rows: \[1\]"),
        (torch.zeros(4, 3), r"shape \(4, 3\), but this CNF models 2-dimensional data"),
        (torch.zeros(4), r"pass a batch of shape \(batch, 2\)"),
        (torch.zeros(0, 2), "empty batch"),
    ],
)
def test_bad_data_gets_a_clear_error(x, message):
    flow = CNF(2, hidden=(4,))
    with pytest.raises(ValueError, match=message):
        flow.log_prob(x)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"trace": "hutch"}, "unknown trace estimator 'hutch'; choose one of: exact, hutchinson"),
        ({"noise": "normal"}, "unknown probe noise 'normal'; choose one of: rademacher, gaussian"),
        (
            {"method": "rk45"},
            "unknown ODE solver 'rk45'; choose one of: euler, midpoint, rk4, dopri5",
        ),
        ({"atol": 0.0}, "tolerances must be positive"),
        ({"rtol": -1.0}, "tolerances must be positive"),
        ({"T": 0.0}, "T must be positive"),
        ({"blocks": 0}, "blocks must be at least 1"),
        ({"layer": "conv"}, "unknown layer 'conv'"),
        ({"activation": "relu6"}, "unknown activation 'relu6'"),
    ],
)
def test_bad_settings_get_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        CNF(2, **settings)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0])
def test_density_at_intermediate_times(t):
    """p_t is the push-forward of N(0, I) by exp(tA): log p_t(x) = log N(exp(-tA) x) - t tr A."""
    flow = linear_flow()
    x = torch.randn(7, 2, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(flow.log_prob(x, time=t), closed_form_log_prob(x, t), atol=1e-6)


def test_stacked_blocks_split_time_at_block_boundaries():
    """Three blocks of T = 0.3 (boundaries not exact in binary) carry the linear flow exactly."""
    flow = CNF(2, hidden=(4,), T=0.3, blocks=3, **TIGHT).double()
    for block in flow.blocks:
        block.net = LinearDynamics(MATRIX.clone())
    x = torch.randn(4, 2, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(flow.log_prob(x), closed_form_log_prob(x, 0.9), atol=1e-6)
        path = flow.trajectory(x, [0.9, 0.6, 0.45, 0.0])
        assert torch.allclose(path[2], x @ torch.linalg.matrix_exp(-0.45 * MATRIX).T, atol=1e-6)
    assert all(counter.forward > 0 for counter in flow.counters)
    with pytest.raises(ValueError, match=r"times must lie in \[0, 0.9\]"):
        flow.log_prob(x, time=1.0)


def test_sampling_works_with_a_parameter_free_field():
    class Rotation(nn.Module):
        def forward(self, t, z):
            return torch.stack([-z[:, 1], z[:, 0]], dim=1)

    flow = CNF(2, hidden=(4,)).double()
    flow.blocks[0].net = Rotation()
    with torch.no_grad():
        assert flow.sample(5).dtype == torch.float64
