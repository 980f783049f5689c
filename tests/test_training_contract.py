"""The contracts the layout rests on: one density solve, one time-to-block rule, one training
contract (`Trainable`), one seed rule, one loader registry."""

import math

import pytest
import torch
from torch import nn

from ffjord_edu import CNF
from ffjord_edu.cnf import block_of, solve_density, time_span
from ffjord_edu.loading import MODEL_KINDS, load, model_kind
from ffjord_edu.models.flow_matching import velocity
from ffjord_edu.models.multiscale import MultiscaleCNF
from ffjord_edu.models.pixels import logit_transform
from ffjord_edu.models.posteriors import FFJORDPosterior, GaussianPosterior
from ffjord_edu.models.vae import VAE
from ffjord_edu.solvers import StepBudgetExceeded
from ffjord_edu.training import Trainable, TrainConfig, step_generator, step_seed, train
from ffjord_edu.training.checkpoints import write_checkpoint

SMALL = {"hidden": (8,), "method": "rk4", "step_size": 0.25}


def test_block_of_gives_each_boundary_to_the_block_being_entered():
    times = torch.tensor([0.0, 0.5, 1.0, 1.0 - 1e-12, 2.0, 3.0])
    assert block_of(times, T=1.0, blocks=3).tolist() == [0, 0, 1, 1, 2, 2]
    assert block_of(times, T=1.0, blocks=3, backward=True).tolist() == [0, 0, 0, 0, 1, 2]


def test_flow_matching_velocity_routes_times_like_the_solver():
    """At t = T exactly, the velocity is the second block's, as a forward solve would use."""
    torch.manual_seed(0)
    flow = CNF(2, blocks=2, **SMALL)
    z = torch.randn(3, 2)
    at_boundary = velocity(flow, torch.full((3,), 1.0), z)
    second_block = flow.blocks[1].net(torch.zeros(3), z)
    assert torch.allclose(at_boundary, second_block)


def test_solve_density_draws_a_fresh_probe_per_solve_and_returns_the_penalties():
    torch.manual_seed(0)
    flow = CNF(2, trace="hutchinson", kinetic=1.0, **SMALL)
    x = torch.randn(5, 2)
    times = time_span(1.0, 0.0, x)
    z, delta_logp, penalties = solve_density(flow.blocks[0], x, times, flow.settings, ("kinetic",))
    first_probe = flow.blocks[0].probe.clone()
    solve_density(flow.blocks[0], x, times, flow.settings, ())
    assert not torch.equal(flow.blocks[0].probe, first_probe)  # 2^10 ways, one is the same
    assert z.shape == (5, 2) and delta_logp.shape == (5,) and set(penalties) == {"kinetic"}
    assert bool((penalties["kinetic"] > 0).all())  # +∫‖f‖² dt from a solve run 1 → 0


class LinearField(nn.Module):
    """f(t, z) = a z, whose divergence is a times the state's size: Δlog p = a D T exactly."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def condition(self, theta: torch.Tensor) -> None:
        """An amortised posterior conditions its network; this field has nothing to condition."""

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.a * z


def test_one_density_solve_serves_the_cnf_the_multiscale_model_and_the_posterior():
    """All three get their log-determinant from `solve_density`; with f = a z (exact trace,
    RK4, whose steps integrate a constant divergence exactly) each must find a·D·T."""
    a = 0.3
    flow = CNF(2, trace="exact", **SMALL)
    flow.blocks[0].net = LinearField(a)
    with torch.no_grad():
        _, delta_logp = flow(torch.randn(4, 2))
    assert torch.allclose(delta_logp, torch.full((4,), 2 * a))

    images = MultiscaleCNF(
        (1, 4, 4), scales=2, blocks=1, trace="exact", method="rk4", step_size=0.25
    )
    for block in images.blocks:
        block.net = LinearField(a)
    y = torch.rand(2, 1, 4, 4)
    with torch.no_grad():
        _, log_det = images.encode(y)
    logit_log_det = logit_transform(y, images.alpha)[1]
    # blocks on states of 16 (1×4×4), 16 (4×2×2) and 8 (2×2×2) numbers
    assert torch.allclose(log_det, logit_log_det - a * (16 + 16 + 8), atol=1e-5)

    posterior = FFJORDPosterior(3, 2, hidden=(4,), trace="exact", method="rk4")
    posterior.dynamics.net = LinearField(a)
    features = torch.randn(4, 3)
    torch.manual_seed(1)
    _, log_q = posterior(features)
    torch.manual_seed(1)
    _, log_q0 = posterior.base(features)
    assert torch.allclose(log_q, log_q0 - 2 * a, atol=1e-5)


def test_every_model_the_loop_trains_is_trainable_and_others_are_refused(tmp_path):
    vae = VAE(data_dim=4, latent_dim=2, hidden=[4])
    for model in (CNF(2, **SMALL), MultiscaleCNF((1, 4, 4), hidden=(4,)), vae):
        assert isinstance(model, Trainable)
    assert vae.nfe == {"forward": 0, "backward": 0}  # a Gaussian posterior solves no ODE
    with GaussianPosterior(3, 2).using(trace="exact") as same:
        assert isinstance(same, GaussianPosterior)
    with pytest.raises(TypeError, match="needs a model with config, nfe and training_loss"):
        train(nn.Linear(2, 2), lambda i: torch.zeros(4, 2), TrainConfig(iters=1), tmp_path, dict)


def test_the_seed_rule_is_one_formula():
    assert step_seed(3, 7) == 3 * 1_000_003 + 7
    assert torch.equal(
        torch.rand(4, generator=step_generator(3, 7)),
        torch.rand(4, generator=torch.Generator().manual_seed(3 * 1_000_003 + 7)),
    )


def test_a_time_budget_stops_the_run_with_a_last_evaluation(tmp_path):
    torch.manual_seed(0)
    flow = CNF(2, **SMALL)
    evaluations = []

    def evaluate(model):
        evaluations.append(1)
        return {"validation_nll": 0.0}

    config = TrainConfig(iters=10**6, batch_size=16, eval_every=10**6, checkpoint_every=10**6)
    metrics = train(flow, lambda i: torch.randn(16, 2), config, tmp_path, evaluate, time_budget=0.0)
    assert metrics["iters"] == 1 and len(evaluations) == 1
    assert (tmp_path / "checkpoint.pt").is_file()


def test_one_loader_registry_builds_every_kind(tmp_path):
    assert set(MODEL_KINDS) == {"cnf", "multiscale", "vae"}
    for model in (CNF(2, **SMALL), MultiscaleCNF((1, 4, 4), hidden=(4,)), VAE(data_dim=4)):
        path = tmp_path / f"{model_kind(model.config)}.pt"
        write_checkpoint(path, {"model_config": model.config, "model_state": model.state_dict()})
        loaded = load(path)
        assert type(loaded) is type(model) and not loaded.training
        assert all(
            torch.equal(a, b)
            for a, b in zip(loaded.state_dict().values(), model.state_dict().values())
        )
    with pytest.raises(ValueError, match="holds a CNF, not a VAE"):
        load(tmp_path / "cnf.pt", kind="vae")
    with torch.no_grad():
        assert math.isfinite(float(load(tmp_path / "cnf.pt").log_prob(torch.zeros(1, 2))))


def test_max_steps_reaches_the_solver_and_the_config_names_it_only_when_changed():
    flow = CNF(2, max_steps=3, **{**SMALL, "step_size": 0.1})
    assert flow.config["max_steps"] == 3 and CNF.from_config(flow.config).settings.max_steps == 3
    assert "max_steps" not in CNF(2, **SMALL).config  # as the shipped checkpoints' configs
    with pytest.raises(StepBudgetExceeded, match="more than max_steps=3"):
        flow.log_prob(torch.zeros(1, 2))


def test_a_time_budget_is_refused_across_processes(tmp_path, monkeypatch):
    monkeypatch.setattr("ffjord_edu.training.distributed.world", lambda: (0, 2))
    with pytest.raises(ValueError, match="time_budget stops one process, not several"):
        train(CNF(2, **SMALL), lambda i: torch.zeros(4, 2), TrainConfig(iters=1), tmp_path, dict,
              time_budget=1.0)  # fmt: skip
