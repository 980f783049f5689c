"""Flow matching: the loss has the right minimiser, OT coupling lowers the cost, training works."""

import itertools
import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from ffjord_edu import load_pretrained
from ffjord_edu.__main__ import main
from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import toy
from ffjord_edu.loading import pretrained_root
from ffjord_edu.models.flow_matching import (
    couple,
    excess_path_length,
    flow_matching_loss,
    objective_loss,
    ot_assignment,
    straight_path,
    straightness_gap,
    target_velocity,
    trajectory_velocities,
    transport_cost,
    velocity,
)
from ffjord_edu.nets import LAYERS, ODEnet
from ffjord_edu.training import TrainConfig, evaluate_nll, train_toy

MEAN, SCALE = torch.tensor([2.0, -1.0], dtype=torch.float64), 0.5


def marginal_gain(t: torch.Tensor) -> torch.Tensor:
    """c(t) with u_t(x) = m + c(t) (x - t m): the marginal velocity from N(0, I) to N(m, s^2 I)
    under the straight path with independent coupling, Cov(x1 - x0, x_t) / Var(x_t)."""
    return (t * SCALE**2 - (1 - t)) / ((1 - t) ** 2 + (t * SCALE) ** 2)


class AffineField(nn.Module):
    """v(t, x) = a m + b c(t) (x - t m); the marginal velocity is a = b = 1."""

    def __init__(self, a: float = 1.0, b: float = 1.0) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, 1).to(x.dtype)
        return self.a * MEAN + self.b * marginal_gain(t) * (x - t * MEAN)


def gaussian_flow(a: float = 1.0, b: float = 1.0) -> CNF:
    flow = CNF(2, hidden=(4,), atol=1e-9, rtol=1e-9).double()
    flow.blocks[0].net = AffineField(a, b)
    return flow


def test_the_loss_is_minimised_by_the_marginal_velocity_gaussian_to_gaussian():
    # Independent coupling from N(0, I) to N(m, s^2 I): the CFM loss is quadratic in (a, b);
    # with the same noise at every evaluation its minimiser must be the closed form a = b = 1.
    flow = gaussian_flow(a=0.3, b=-0.5)
    generator = torch.Generator().manual_seed(0)
    x1 = MEAN + SCALE * torch.randn(200_000, 2, generator=generator, dtype=torch.float64)
    optimizer = torch.optim.LBFGS(
        flow.parameters(), lr=1, max_iter=100, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        torch.manual_seed(1)  # common random numbers: a deterministic quadratic
        loss, _ = flow_matching_loss(flow, x1)
        loss.backward()
        return loss

    optimizer.step(closure)
    net = flow.blocks[0].net
    assert float(net.a.detach()) == pytest.approx(1.0, abs=0.01)
    assert float(net.b.detach()) == pytest.approx(1.0, abs=0.01)


def test_the_marginal_velocity_carries_the_base_to_the_target_density():
    # The continuity equation: the closed-form minimiser, run through the CNF's instantaneous
    # change of variables, gives exactly log N(x; m, s^2 I).
    flow = gaussian_flow()
    x = MEAN + SCALE * torch.randn(50, 2, dtype=torch.float64)
    expected = (
        -0.5 * ((x - MEAN) / SCALE).pow(2).sum(1) - 2 * math.log(SCALE) - math.log(2 * math.pi)
    )
    with torch.no_grad():
        assert torch.allclose(flow.log_prob(x), expected, atol=1e-6)
        samples = flow.sample(20_000)
    assert torch.allclose(samples.mean(0), MEAN, atol=0.02)
    assert torch.allclose(samples.std(0), torch.full((2,), SCALE, dtype=torch.float64), atol=0.02)


def test_the_target_velocity_is_the_time_derivative_of_the_path():
    x0, x1, t = torch.randn(7, 3), torch.randn(7, 3), torch.rand(7)
    h = 1e-3
    numeric = (straight_path(x0, x1, t + h) - straight_path(x0, x1, t - h)) / (2 * h)
    assert torch.allclose(numeric, target_velocity(x0, x1), atol=1e-3)
    assert torch.equal(straight_path(x0, x1, torch.zeros(7)), x0)
    assert torch.allclose(straight_path(x0, x1, torch.ones(())), x1)


@pytest.mark.parametrize("size", [2, 5, 6])
def test_ot_assignment_is_the_cheapest_permutation(size):
    generator = torch.Generator().manual_seed(size)
    x0, x1 = torch.randn(size, 2, generator=generator), torch.randn(size, 2, generator=generator)
    sigma = ot_assignment(x0, x1)
    assert sorted(sigma.tolist()) == list(range(size))  # a permutation
    best = min(transport_cost(x0[list(p)], x1) for p in itertools.permutations(range(size)))
    assert float(transport_cost(x0[sigma], x1)) == pytest.approx(float(best), rel=1e-6)


def test_ot_coupling_never_increases_the_cost_and_sorts_in_one_dimension():
    generator = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(256, 2, generator=generator), torch.randn(256, 2, generator=generator)
    assert transport_cost(couple(x0, x1, "ot"), x1) <= transport_cost(x0, x1)
    assert torch.equal(couple(x0, x1, "independent"), x0)
    # In 1-D the optimal map for the squared distance is monotone: sorted to sorted.
    a, b = torch.randn(50, 1, generator=generator), torch.randn(50, 1, generator=generator)
    paired = a[ot_assignment(a, b)]
    assert torch.equal(paired[b[:, 0].argsort(), 0], a[:, 0].sort().values)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        ot_assignment(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="unknown coupling 'sinkhorn'"):
        couple(torch.zeros(3, 2), torch.zeros(3, 2), "sinkhorn")
    with pytest.raises(ValueError, match="unknown objective 'kl'"):
        objective_loss("kl")
    with pytest.raises(ValueError, match="unknown objective 'kl'"):
        TrainConfig(objective="kl")
    with pytest.raises(ValueError, match="this CNF models 2-dimensional data"):
        flow_matching_loss(CNF(2, hidden=(4,)), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="at least 2 times"):
        excess_path_length(torch.zeros(1, 3, 2))


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_networks_take_one_time_per_row(layer):
    net = ODEnet(2, hidden=(8,), layer=layer)
    t, z = torch.rand(5), torch.randn(5, 2)
    rowwise = torch.cat([net(t[i], z[i : i + 1]) for i in range(5)])
    assert torch.allclose(net(t, z), rowwise, atol=1e-6)


def test_velocity_routes_global_time_to_the_right_block():
    flow = CNF(2, hidden=(8,), blocks=2, T=0.5)
    t, z = torch.tensor([0.1, 0.7, 0.2, 0.9]), torch.randn(4, 2)
    expected = torch.stack(
        [
            flow.blocks[int(s // 0.5)].net(s - 0.5 * int(s // 0.5), z[i : i + 1])[0]
            for i, s in enumerate(t)
        ]
    )
    assert torch.allclose(velocity(flow, t, z), expected, atol=1e-6)


def test_excess_path_length_is_zero_for_straight_lines_and_positive_for_bent_ones():
    s = torch.linspace(0, 1, 11).reshape(-1, 1, 1)
    start, end = torch.randn(1, 4, 2), torch.randn(1, 4, 2)
    line = start + (s**2) * (end - start)  # straight, at a varying speed
    assert float(excess_path_length(line)) == pytest.approx(0.0, abs=1e-5)
    bent = line + torch.sin(math.pi * s) * torch.tensor([1.0, 0.0])
    assert float(excess_path_length(bent)) > 0.1


@pytest.mark.parametrize("rate", [-1.3, 0.7])
def test_straightness_gap_matches_the_closed_form_of_a_linear_flow(rate):
    # dz/dt = a z: z(t) = e^{at} z0, chord (e^a - 1) z0, velocity a e^{at} z0, so the gap is
    # E|z0|^2 * int_0^1 (e^a - 1 - a e^{at})^2 dt = E|z0|^2 * (a (e^{2a} - 1) / 2 - (e^a - 1)^2).
    times = torch.linspace(0, 1, 4001, dtype=torch.float64)
    z0 = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    paths = torch.exp(rate * times)[:, None, None] * z0
    closed_form = z0.pow(2).sum(1).mean() * (
        rate * (math.exp(2 * rate) - 1) / 2 - (math.exp(rate) - 1) ** 2
    )
    gap = straightness_gap(paths, rate * paths, times)
    assert float(gap) == pytest.approx(float(closed_form), rel=1e-6)
    # the same paths on another time interval, [2, 4], with the velocity rescaled: same gap
    assert float(straightness_gap(paths, rate * paths / 2, 2 + 2 * times)) == pytest.approx(
        float(closed_form), rel=1e-6
    )


def test_straightness_gap_sees_speed_where_excess_path_length_does_not():
    s = torch.linspace(0, 1, 2001, dtype=torch.float64).reshape(-1, 1, 1)
    start, end = (
        torch.randn(1, 4, 2, dtype=torch.float64),
        torch.randn(1, 4, 2, dtype=torch.float64),
    )
    constant = start + s * (end - start)
    assert float(straightness_gap(constant, (end - start).expand_as(constant), s.flatten())) == (
        pytest.approx(0.0, abs=1e-12)
    )
    varying = start + s**2 * (end - start)  # straight, speed 2s: gap |end - start|^2 / 3
    gap = straightness_gap(varying, 2 * s * (end - start), s.flatten())
    assert float(excess_path_length(varying)) == pytest.approx(0.0, abs=1e-9)
    assert float(gap) == pytest.approx(float((end - start).pow(2).sum(2).mean() / 3), rel=1e-5)
    with pytest.raises(ValueError, match="increasing"):
        straightness_gap(varying, 2 * s * (end - start), s.flatten().flip(0))


def test_trajectory_velocities_are_the_network_at_each_point():
    flow = CNF(2, hidden=(8,), blocks=2, T=0.5)
    times = torch.linspace(0, 1, 5)
    with torch.no_grad():
        paths = flow.trajectory(torch.randn(3, 2), times)
        velocities = trajectory_velocities(flow, paths, times)
    for s, z, v in zip(times.tolist(), paths, velocities):
        block = min(int(s // 0.5), 1)
        with torch.no_grad():
            expected = flow.blocks[block].net(torch.tensor(s - 0.5 * block), z)
        assert torch.allclose(v, expected, atol=1e-6)


@pytest.mark.parametrize("objective", ["fm", "ot-fm"])
def test_flow_matching_trains_through_the_shared_loop(tmp_path, objective):
    losses = []
    config = TrainConfig(
        iters=300,
        batch_size=256,
        lr=5e-3,
        eval_every=300,
        checkpoint_every=100,
        objective=objective,
    )
    model, metrics = train_toy(
        "8gaussians",
        config,
        tmp_path,
        {"hidden": (32, 32)},
        eval_samples=500,
        callback=lambda i, record: losses.append(record["loss"]),
    )
    assert sum(losses[-30:]) / 30 < sum(losses[:30]) / 30 - 1.0
    assert metrics["nfe_forward"] == 1 and metrics["config"]["objective"] == objective
    assert metrics["test_nll"] < 4.5  # through the CNF's log_prob; N(0, I) scores about 6.8
    assert model.sample(10).shape == (10, 2)


def test_flow_matching_resumes_exactly(tmp_path):
    config = TrainConfig(
        iters=20, batch_size=64, eval_every=10, checkpoint_every=10, objective="ot-fm"
    )
    straight, _ = train_toy(
        "8gaussians", config, tmp_path / "a", {"hidden": (8,)}, eval_samples=100
    )
    short = TrainConfig(**{**config.__dict__, "iters": 10})
    train_toy("8gaussians", short, tmp_path / "b", {"hidden": (8,)}, eval_samples=100)
    resumed, _ = train_toy(
        "8gaussians", config, tmp_path / "b", {"hidden": (8,)}, resume=True, eval_samples=100
    )
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_the_command_line_trains_with_flow_matching(tmp_path, capsys):
    argv = ["train", "toy", "--data", "8gaussians", "--objective", "fm", "--out", str(tmp_path)]
    argv += ["--iters", "20", "--batch-size", "64", "--hidden", "8", "--eval-every", "20"]
    argv += ["--eval-samples", "100"]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["objective"] == "fm" and "flow_matching" in metrics["history"][-1]


README = Path(__file__).resolve().parents[1] / "data" / "README.md"
ROW = re.compile(
    r"^\| `pretrained/(?P<name>(ot_)?flow_matching/\w+)\.pt` \| (?P<nll>[-\d.]+) \|", re.M
)
SHIPPED = {m["name"]: float(m["nll"]) for m in ROW.finditer(README.read_text())}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_flow_matching_models_have_the_recorded_nll(name):
    flow = load_pretrained(name)
    assert not flow.training
    assert (pretrained_root() / f"{name}.pt").stat().st_size < 1_000_000
    test = toy.sample(name.split("/")[1], 10_000, seed=2_147_483_647)
    torch.set_num_threads(1)
    assert evaluate_nll(flow, test) == pytest.approx(SHIPPED[name], abs=2e-3)


def test_both_couplings_of_8gaussians_are_shipped():
    assert {"flow_matching/8gaussians", "ot_flow_matching/8gaussians"} <= set(SHIPPED)
