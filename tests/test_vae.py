"""The VAE with Gaussian, planar and amortised FFJORD posteriors: estimators against closed forms,
log-determinants against autograd Jacobians, amortisation, training, loading and the CLI."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ffjord_edu import load_pretrained
from ffjord_edu.__main__ import main
from ffjord_edu.datasets import images
from ffjord_edu.datasets.images import binary_vectors
from ffjord_edu.loading import load_vae, pretrained_root
from ffjord_edu.models.linear_gaussian import LinearGaussian
from ffjord_edu.models.posteriors import (
    AmortizedODEnet,
    FFJORDPosterior,
    GaussianPosterior,
    planar_step,
)
from ffjord_edu.models.vae import (
    VAE,
    elbo_from_weights,
    evaluate_vae,
    iwae_from_weights,
    log_importance_weights,
)
from ffjord_edu.training import TrainConfig, train_vae

README = Path(__file__).resolve().parents[1] / "data" / "README.md"


@pytest.fixture(autouse=True)
def _double_precision():
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def linear_gaussian_setup(dim_x=3, dim_z=2):
    generator = torch.Generator().manual_seed(1)
    model = LinearGaussian(
        torch.randn(dim_x, dim_z, generator=generator),
        torch.randn(dim_x, generator=generator),
        0.7,
    )
    x = torch.randn(2, dim_x, generator=generator) * 2
    return model, x


def fixed_gaussian(mean: torch.Tensor, std: torch.Tensor) -> tuple[GaussianPosterior, torch.Tensor]:
    """A posterior whose (zero) features map to the given mean and std, one row per data point."""
    posterior = GaussianPosterior(features=mean.shape[0], latent_dim=mean.shape[1])
    with torch.no_grad():
        posterior.mean.weight.copy_(mean.T)
        posterior.mean.bias.zero_()
        posterior.log_std.weight.copy_(std.log().T)
        posterior.log_std.bias.zero_()
    return posterior, torch.eye(mean.shape[0])  # features: one-hot rows select each data point


def test_monte_carlo_elbo_is_unbiased_for_the_linear_gaussian_model():
    model, x = linear_gaussian_setup()
    mean, std = torch.tensor([[0.3, -0.5], [1.0, 0.2]]), torch.tensor([[0.6, 1.3], [0.4, 0.9]])
    posterior, features = fixed_gaussian(mean, std)
    samples = 20_000
    weights = log_importance_weights(
        posterior, features, lambda z: model.log_joint(x.repeat(samples, 1), z), samples
    )
    estimate = elbo_from_weights(weights)
    standard_error = weights.std(dim=0) / math.sqrt(samples)
    exact = model.elbo(x, mean, std)
    assert ((estimate - exact).abs() < 4 * standard_error).all(), (estimate, exact)
    assert (exact < model.log_evidence(x)).all()  # a mismatched q leaves a positive KL gap


def test_the_exact_posterior_makes_every_weight_equal_to_the_evidence():
    # Orthogonal columns of W make the exact posterior's covariance diagonal, so q can be exact.
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    model = LinearGaussian(weight, torch.tensor([0.5, -1.0, 0.0]), 0.8)
    x = torch.tensor([[1.0, 0.3, -0.2], [-2.0, 1.5, 0.7]])
    mean, covariance = model.posterior(x)
    std = covariance.diagonal().sqrt().expand_as(mean)
    posterior, features = fixed_gaussian(mean, std)
    weights = log_importance_weights(
        posterior, features, lambda z: model.log_joint(x.repeat(100, 1), z), 100
    )
    torch.testing.assert_close(weights, model.log_evidence(x).expand(100, 2))
    torch.testing.assert_close(model.elbo(x, mean, std), model.log_evidence(x))


def test_iwae_bound_rises_with_k_to_the_exact_evidence():
    model, x = linear_gaussian_setup()
    mean, std = torch.tensor([[0.0, 0.0], [0.5, 0.5]]), torch.full((2, 2), 0.8)
    posterior, features = fixed_gaussian(mean, std)
    repeats = 200

    def bound(k: int) -> torch.Tensor:  # the expected IWAE bound, averaged over repeats
        weights = log_importance_weights(
            posterior, features, lambda z: model.log_joint(x.repeat(k * repeats, 1), z),
            k * repeats,
        )  # fmt: skip
        return iwae_from_weights(weights.reshape(k, repeats, 2)).mean(dim=0)

    elbo, evidence = model.elbo(x, mean, std), model.log_evidence(x)
    k1, k10, k2000 = bound(1), bound(10), bound(2000)
    assert ((k1 - elbo).abs() < 0.35).all()  # K = 1 is the ELBO (noisy: 200 samples)
    assert (k1 < k10).all() and (k10 < k2000).all()
    assert ((k2000 - evidence).abs() < 0.03).all(), (k2000, evidence)
    assert (evidence - elbo > 0.5).all()  # the gap that the bound closed was real


def test_iwae_is_log_mean_exp():
    weights = torch.tensor([[1000.0, -3.0], [1000.0 + math.log(3), -3.0]])
    expected = torch.tensor([1000.0 + math.log(2), -3.0])
    torch.testing.assert_close(iwae_from_weights(weights), expected)


def flow_jacobian_log_det(posterior: FFJORDPosterior, z0: torch.Tensor, theta: torch.Tensor):
    """log|det ∂z_T/∂z_0| of the flow map, row by row, from torch.autograd.functional.jacobian."""
    values = []
    for row in range(z0.shape[0]):

        def flow_map(z, row=row):
            return posterior.flow(z[None], theta[row : row + 1])[0][0]

        jacobian = torch.autograd.functional.jacobian(flow_map, z0[row])
        values.append(torch.linalg.slogdet(jacobian).logabsdet)
    return torch.stack(values)


def random_ffjord(dim: int, **settings) -> tuple[FFJORDPosterior, torch.Tensor, torch.Tensor]:
    posterior = FFJORDPosterior(4, dim, hidden=(16, 16), rank=2, **settings)
    with torch.no_grad():  # stronger weights than at initialisation: flows that bend volume
        for parameter in posterior.dynamics.net.parameters():
            parameter.mul_(3)
    theta = 0.5 * torch.randn(3, posterior.dynamics.net.parameter_count)
    return posterior, 1.5 * torch.randn(3, dim), theta


@pytest.mark.parametrize("dim", [2, 3])
def test_exact_trace_log_det_is_the_log_det_of_the_flow_map(dim):
    posterior, z0, theta = random_ffjord(
        dim, trace="exact", method="dopri5", atol=1e-8, rtol=1e-8, step_size=None
    )
    _, log_det = posterior.flow(z0, theta)
    torch.testing.assert_close(
        log_det, flow_jacobian_log_det(posterior, z0, theta), atol=1e-5, rtol=1e-5
    )
    assert log_det.abs().max() > 1e-2  # volume really changes: 10^3 times the tolerance


@pytest.mark.parametrize("dim", [2, 3])
def test_exact_divergence_of_the_amortized_net_is_the_jacobian_trace(dim):
    posterior, z, theta = random_ffjord(dim)
    net = posterior.dynamics.net
    net.condition(theta)
    t = torch.tensor(0.3)
    posterior.dynamics.start_solve(z, posterior.settings)
    posterior.dynamics.trace = "exact"
    _, minus_divergence = posterior.dynamics(t, (z.clone(), torch.zeros(3)))
    for row in range(3):
        net.condition(theta[row : row + 1])
        jacobian = torch.autograd.functional.jacobian(lambda v: net(t, v[None])[0], z[row])
        torch.testing.assert_close(-minus_divergence[row], jacobian.trace())


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_log_det_averages_to_the_exact_one(noise):
    posterior, z0, theta = random_ffjord(3, trace="exact", method="rk4", step_size=0.125)
    with torch.no_grad():
        _, exact = posterior.flow(z0, theta)
        repeats = 4000  # one probe per copy: the rows of one solve are independent estimates
        with posterior.using(trace="hutchinson", noise=noise):
            _, estimates = posterior.flow(z0.repeat(repeats, 1), theta.repeat(repeats, 1))
    estimates = estimates.reshape(repeats, 3)
    standard_error = estimates.std(dim=0) / math.sqrt(repeats)
    assert ((estimates.mean(dim=0) - exact).abs() < 4 * standard_error).all()
    assert (standard_error > 0).all()


def test_each_data_point_gets_its_own_flow():
    posterior, z0, theta = random_ffjord(2, method="rk4", step_size=0.25, trace="exact")
    together, log_det = posterior.flow(z0, theta)
    for row in range(3):
        alone, alone_log_det = posterior.flow(z0[row : row + 1], theta[row : row + 1])
        torch.testing.assert_close(alone[0], together[row])
        torch.testing.assert_close(alone_log_det[0], log_det[row])
    moved, _ = posterior.flow(z0, theta.flip(0))  # another data point's weights: another map
    assert (moved - together).abs().max() > 1e-3


@pytest.mark.parametrize("posterior", ["gaussian", "planar", "ffjord"])
def test_every_parameter_and_every_amortised_weight_gets_a_gradient(posterior):
    torch.set_default_dtype(torch.float32)
    vae = VAE(hidden=(16,), posterior=posterior, ode_hidden=(8,), flow_steps=2)
    vae.training_loss(binary_vectors(random_images(8), 17))[0].backward()
    for name, parameter in vae.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    if posterior == "ffjord":  # each output of the hyper layer (each U, V, c entry) learns
        assert (vae.posterior.hyper.weight.grad.abs().sum(dim=1) > 0).all()


def test_amortized_net_refuses_mismatched_weights():
    net = AmortizedODEnet(2, hidden=(8,))
    with pytest.raises(RuntimeError, match="condition"):
        net(torch.tensor(0.0), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=f"expected \\(batch, {net.parameter_count}\\)"):
        net.condition(torch.zeros(3, 5))


def test_planar_log_det_matches_the_jacobian():
    generator = torch.Generator().manual_seed(3)
    z, u, w = (torch.randn(5, 3, generator=generator) for _ in range(3))
    u = -3 * u  # pushes many rows into the region where u needs the invertibility fix
    b = torch.randn(5, generator=generator)
    _, log_det = planar_step(z, u, w, b)
    for row in range(5):
        one = slice(row, row + 1)

        def step(v, one=one):
            return planar_step(v[None], u[one], w[one], b[one])[0][0]

        jacobian = torch.autograd.functional.jacobian(step, z[row])
        assert torch.linalg.det(jacobian) > 0  # the constraint keeps the map invertible
        torch.testing.assert_close(log_det[row], torch.linalg.slogdet(jacobian).logabsdet)


def random_images(n: int) -> torch.Tensor:
    return torch.randint(0, 17, (n, 1, 8, 8), dtype=torch.uint8)


def tiny_data() -> images.ImageData:
    return images.ImageData("digits", random_images(64), random_images(16), random_images(16), 17)


def test_vae_shapes_and_errors():
    torch.set_default_dtype(torch.float32)
    vae = VAE(hidden=(16,), posterior="ffjord", ode_hidden=(8,), flow_steps=2)
    x = binary_vectors(random_images(5), 17)
    assert vae.elbo(x, samples=3).shape == (5,)
    assert vae.posterior_samples(x, 7).shape == (5, 7, 2)
    assert vae.nfe["forward"] == 8  # two RK4 steps
    assert vae.sample(4).shape == (4, 64)
    assert (vae.iwae(x, 10, chunk=4) >= vae.elbo(x, 10) - 5.0).all()
    with pytest.raises(ValueError, match="64"):
        vae.elbo(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="gaussian, planar, ffjord"):
        VAE(posterior="iaf")


@pytest.mark.parametrize("posterior", ["gaussian", "planar", "ffjord"])
def test_train_vae_learns_and_round_trips(tmp_path, posterior):
    torch.set_default_dtype(torch.float32)
    data = tiny_data()
    config = TrainConfig(iters=30, batch_size=32, lr=5e-3, eval_every=15, checkpoint_every=30)
    options = {"latent_dim": 2, "hidden": [32], "posterior": posterior, "flow_steps": 2}
    model, metrics = train_vae(data, config, tmp_path, options)
    history = metrics["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert json.loads((tmp_path / "metrics.json").read_text())["iters"] == 30
    loaded = load_vae(tmp_path)
    test = binary_vectors(data.test, 17)
    assert evaluate_vae(loaded, test, 4, 0) == evaluate_vae(model, test, 4, 0)


def test_cli_trains_a_vae(tmp_path, capsys):
    torch.set_default_dtype(torch.float32)
    arguments = ["train", "vae", "--posterior", "planar", "--iters", "3", "--out", str(tmp_path)]
    assert main([*arguments, "--eval-every", "3", "--iwae-samples", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"test_neg_elbo", "test_neg_iwae", "validation_neg_elbo"} <= set(summary)
    assert load_vae(tmp_path).config["posterior"] == "planar"


def write_fake_mnist(root: Path, n_train: int = 40, n_test: int = 10) -> None:
    """Random digits in the idx format of the MNIST release: 0, 0, 0x08, ndim, sizes, bytes."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">i4").tobytes()
        (root / name).write_bytes(header + array.astype(np.uint8).tobytes())


def test_cli_trains_a_vae_on_mnist_from_a_local_root(tmp_path, capsys):
    torch.set_default_dtype(torch.float32)
    write_fake_mnist(tmp_path)
    out = tmp_path / "run"
    arguments = ["train", "vae", "--posterior", "ffjord", "--data", "mnist", "--root"]
    options = ["--iters", "2", "--batch-size", "8", "--hidden", "32", "--eval-every", "2"]
    assert (
        main([*arguments, str(tmp_path), *options, "--out", str(out), "--iwae-samples", "3"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["test_neg_elbo"] > 0
    assert load_vae(out).config["data_dim"] == 784


def test_loading_a_cnf_checkpoint_as_a_vae_fails_clearly():
    with pytest.raises(ValueError, match="not a VAE"):
        load_vae(pretrained_root() / "toy" / "moons.pt")


ROW = re.compile(r"^\| `pretrained/vae/(?P<name>\w+)\.pt` \| (?P<elbo>[\d.]+) \|", re.MULTILINE)


def recorded() -> dict[str, float]:
    return {m["name"]: float(m["elbo"]) for m in ROW.finditer(README.read_text())}


def test_every_posterior_is_shipped():
    assert sorted(recorded()) == ["ffjord", "gaussian", "planar"]


@pytest.mark.parametrize("name", ["gaussian", "planar", "ffjord"])
def test_pretrained_vae_test_elbo_matches_the_readme(name):
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    model = load_pretrained(f"vae/{name}")
    assert not model.training
    assert (pretrained_root() / "vae" / f"{name}.pt").stat().st_size < 1_000_000
    data = images.load("digits")
    metrics = evaluate_vae(model, binary_vectors(data.test, data.levels), 16, iwae_samples=0)
    assert metrics["neg_elbo"] == pytest.approx(recorded()[name], abs=2e-3)
