"""The discrete baselines: exact log-determinants, invertibility, normalised densities."""

import json
from collections.abc import Callable

import pytest
import torch
from torch.autograd.functional import jacobian

from ffjord_edu import load_pretrained
from ffjord_edu.datasets import toy
from ffjord_edu.loading import load_baseline, pretrained_root
from ffjord_edu.models.baselines import (
    CouplingFlow,
    PlanarFlow,
    build_baseline,
    parameter_count,
)


def randomised(make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """``make()``, seeded, made a visibly non-trivial map (not a fresh coupling flow's identity).

    Built inside the test, not at collection, so no other test's random draws change it.
    """
    torch.manual_seed(0)
    flow = make()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return flow.double()


@pytest.mark.parametrize(
    "flow",
    [
        lambda: CouplingFlow(2, 4, (16,)),
        lambda: CouplingFlow(5, 3, (8, 8)),
        lambda: PlanarFlow(2, 6),
    ],
    ids=["coupling-2d", "coupling-5d", "planar"],
)
def test_log_det_is_the_autograd_jacobian(flow):
    flow = randomised(flow)
    x = torch.randn(4, flow.dim, dtype=torch.float64)
    with torch.no_grad():
        _, log_det = flow(x)
    for row, value in zip(x, log_det):
        full = jacobian(lambda v: flow(v[None])[0][0], row)
        assert float(value) == pytest.approx(float(torch.linalg.slogdet(full)[1]), abs=1e-9)


def test_coupling_flow_inverts_and_samples():
    flow = randomised(lambda: CouplingFlow(2, 6, (16, 16)))
    x = torch.randn(8, 2, dtype=torch.float64)
    assert torch.allclose(flow.inverse(flow(x)[0]), x, atol=1e-10)
    assert flow.sample(5, generator=torch.Generator().manual_seed(1)).shape == (5, 2)


@pytest.mark.parametrize(
    "flow",
    [lambda: CouplingFlow(2, 4, (16,)), lambda: PlanarFlow(2, 8)],
    ids=["coupling", "planar"],
)
def test_densities_integrate_to_one(flow):
    flow = randomised(flow)
    grid = torch.linspace(-12, 12, 801, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        mass = flow.log_prob(points).exp().sum() * (grid[1] - grid[0]) ** 2
    assert float(mass) == pytest.approx(1.0, abs=2e-3)


def test_parameter_counts_and_clear_errors():
    assert parameter_count(CouplingFlow(2, 8, (32, 32))) == 8 * (
        2 * 32 + 32 + 32 * 32 + 32 + 32 * 4 + 4
    )
    assert parameter_count(PlanarFlow(2, 10)) == 50
    with pytest.raises(ValueError, match="dim >= 2"):
        CouplingFlow(1)
    with pytest.raises(ValueError, match="this CNF models 2-dimensional data"):
        PlanarFlow(2, 3).log_prob(torch.zeros(3, 3))


def test_build_and_load_a_baseline(tmp_path):
    model = build_baseline({"kind": "coupling", "dim": 2, "layers": 2, "hidden": [4]})
    torch.save(model.state_dict(), tmp_path / "m.pt")
    architecture = {"kind": "coupling", "dim": 2, "layers": 2, "hidden": [4]}
    (tmp_path / "m.json").write_text(json.dumps({"architecture": architecture}))
    loaded = load_baseline(tmp_path / "m.pt")
    x = torch.randn(3, 2)
    assert not loaded.training
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))
    with pytest.raises(ValueError, match="unknown baseline kind 'glow'"):
        build_baseline({"kind": "glow"})


@pytest.mark.parametrize("kind", ["coupling", "planar"])
@pytest.mark.parametrize("density", ["8gaussians", "checkerboard", "2spirals"])
def test_shipped_baselines_reproduce_their_recorded_nll(kind, density):
    name = f"baselines/{kind}_{density}"
    model = load_pretrained(name)
    record = json.loads((pretrained_root() / f"{name}.json").read_text())
    with torch.no_grad():
        nll = -model.log_prob(toy.sample(density, 10_000, seed=2_147_483_647)).mean().item()
    assert nll == pytest.approx(record["test_nll"], abs=1e-4)
    assert record["parameters"] == parameter_count(model)
