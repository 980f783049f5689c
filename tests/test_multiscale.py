"""The multiscale image CNF: squeeze, the chain of scales, exact inverse, log-determinant
against autograd, bits/dim, checkpoints, and data-parallel training (two gloo processes)."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import ffjord_edu
from ffjord_edu import load
from ffjord_edu.cnf import standard_normal_log_prob
from ffjord_edu.datasets import images
from ffjord_edu.loading import pretrained_root
from ffjord_edu.models.conv_nets import CONV_LAYERS, ConvODEnet
from ffjord_edu.models.multiscale import MultiscaleCNF, plan, squeeze, unsqueeze
from ffjord_edu.training import evaluate_bits_per_dim
from ffjord_edu.training.checkpoints import read_checkpoint, write_checkpoint


def small(**options) -> MultiscaleCNF:
    torch.manual_seed(0)
    settings = {"hidden": (6,), "blocks": 1, "method": "rk4", "step_size": 0.25, "trace": "exact"}
    return MultiscaleCNF((1, 4, 4), levels=17, scales=2, **{**settings, **options}).double()


def test_squeeze_is_a_permutation_and_unsqueeze_its_inverse():
    x = torch.randn(2, 3, 6, 4)
    s = squeeze(x)
    assert s.shape == (2, 12, 3, 2)
    assert torch.equal(torch.sort(s.flatten()).values, torch.sort(x.flatten()).values)
    assert torch.equal(unsqueeze(s), x)
    # Channel 4c + 2i + j holds pixel (2h + i, 2w + j) of input channel c.
    assert s[1, 4 * 2 + 2 * 1 + 0, 2, 1] == x[1, 2, 5, 2]
    with pytest.raises(ValueError, match="sides must divide"):
        squeeze(torch.zeros(1, 1, 3, 4))


def test_plan_of_the_paper_models():
    ops = [op for op, _ in plan((1, 28, 28), scales=3, blocks=2)]
    assert ops.count("cnf") == 10 and ops.count("squeeze") == 2 and ops.count("factor") == 2
    assert plan((3, 32, 32), scales=4, blocks=2)[-1] == ("cnf", (24, 4, 4))
    with pytest.raises(ValueError, match="allows fewer scales"):
        plan((1, 8, 8), scales=5, blocks=1)


@pytest.mark.parametrize("layer", list(CONV_LAYERS))
def test_conv_nets_keep_the_shape_and_see_time(layer):
    torch.manual_seed(0)
    net = ConvODEnet(2, hidden=(5, 5), layer=layer)
    z = torch.randn(3, 2, 4, 4)
    assert net(torch.tensor(0.2), z).shape == z.shape
    moved = (net(torch.tensor(0.2), z) - net(torch.tensor(0.9), z)).abs().max()
    assert (float(moved.detach()) > 1e-6) == (layer != "ignore")


def test_decode_inverts_encode_and_latents_split_by_scale():
    model = small()
    y = images.dequantize(torch.randint(0, 17, (3, 1, 4, 4)), 17).double()
    z, _ = model.encode(y)
    assert z.shape == (3, 16) and model.latent_scales() == [8, 8]
    assert torch.allclose(model.decode(z), y, atol=1e-6)


def test_log_det_matches_the_full_jacobian():
    model = small()
    y = images.dequantize(torch.randint(0, 17, (1, 1, 4, 4)), 17).double()
    jacobian = torch.autograd.functional.jacobian(
        lambda v: model.encode(v.reshape(1, 1, 4, 4))[0].flatten(), y.flatten()
    )
    _, log_det = model.encode(y)
    assert float(log_det.detach()) == pytest.approx(
        float(torch.linalg.slogdet(jacobian)[1]), abs=1e-6
    )
    expected = standard_normal_log_prob(model.encode(y)[0]) + log_det
    assert torch.allclose(model.log_prob(y), expected)


def test_hutchinson_is_unbiased_for_the_log_density():
    model = small()
    y = images.dequantize(torch.randint(0, 17, (1, 1, 4, 4)), 17).double()
    exact = float(model.log_prob(y))
    with model.using(trace="hutchinson"):
        torch.manual_seed(1)
        estimates = torch.stack([model.log_prob(y) for _ in range(400)])
    standard_error = float(estimates.std()) / math.sqrt(len(estimates))
    assert abs(float(estimates.mean()) - exact) < 4 * standard_error + 1e-9


def test_bits_per_dim_and_training_loss_agree():
    model = small()
    y = images.dequantize(torch.randint(0, 17, (4, 1, 4, 4)), 17).double()
    bpd = model.bits_per_dim(y)
    manual = -(model.log_prob(y) - 16 * math.log(17)) / (16 * math.log(2))
    assert torch.allclose(bpd, manual)
    loss, _ = model.training_loss(y)
    assert float(loss) == pytest.approx(float(bpd.mean()))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_samples_temperature_and_pixels():
    model = small()
    y = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert y.shape == (5, 1, 4, 4) and float(y.min()) >= 0 and float(y.max()) <= 1
    still = model.sample(2, temperature=0.0)
    assert torch.allclose(still[0], still[1]) and torch.allclose(
        still, model.decode(torch.zeros(1, 16).double())
    )
    pixels = model.to_pixels(torch.tensor([0.0, 0.5, 1.0]))
    assert pixels.tolist() == [0, 8, 16] and pixels.dtype == torch.uint8


def test_bad_inputs_name_the_fix():
    model = small()
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 4, 4\)"):
        model.log_prob(torch.rand(2, 16).double())
    with pytest.raises(ValueError, match="dequantise"):
        model.log_prob(torch.full((1, 1, 4, 4), 3.0).double())
    with pytest.raises(ValueError, match="alpha"):
        MultiscaleCNF((1, 4, 4), alpha=0.5)


def test_checkpoint_round_trip(tmp_path):
    model = small()
    write_checkpoint(
        tmp_path / "m.pt", {"model_config": model.config, "model_state": model.state_dict()}
    )
    again = load(tmp_path / "m.pt").double()
    assert isinstance(again, MultiscaleCNF) and again.config == model.config
    y = images.dequantize(torch.randint(0, 17, (2, 1, 4, 4)), 17).double()
    assert torch.allclose(again.log_prob(y), model.log_prob(y))


ARGUMENTS = [
    "train",
    "images",
    "--data",
    "digits",
    "--iters",
    "3",
    "--batch-size",
    "8",
    "--hidden",
    "4",
    "--blocks",
    "1",
    "--trace",
    "exact",
    "--method",
    "rk4",
    "--step-size",
    "0.5",
    "--atol",
    "1e-3",
    "--rtol",
    "1e-3",
    "--eval-every",
    "3",
    "--eval-trace",
    "hutchinson",
    "--lr",
    "1e-2",
]


def run(out, processes: int) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    launcher = [sys.executable, "-m"]
    if processes > 1:
        launcher += ["torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m"]
    command = [*launcher, "ffjord_edu", *ARGUMENTS, "--out", str(out)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_two_gloo_processes_train_like_one(tmp_path):
    one, two = run(tmp_path / "one", 1), run(tmp_path / "two", 2)
    # The same global batch (and dequantisation noise), split in two: the same mean loss ...
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=1e-5)
    # ... and, with averaged gradients, the same parameters after every step.
    first, second = load(tmp_path / "one"), load(tmp_path / "two")
    for (name, a), b in zip(first.named_parameters(), second.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    assert two["test_bits_per_dim"] == pytest.approx(one["test_bits_per_dim"], abs=1e-4)


def test_pretrained_digits_model_matches_its_record():
    model = ffjord_edu.load_pretrained("images/digits")
    record = read_checkpoint(pretrained_root() / "images" / "digits.pt")["metrics"]
    readme = (pretrained_root().parent / "README.md").read_text()
    assert f"| {record['test_bits_per_dim']:.4f} |" in readme
    assert record["test_bits_per_dim"] < math.log2(17) - 1  # far better than uniform
    torch.set_num_threads(1)
    again = evaluate_bits_per_dim(model, images.load("digits").test[:60], "exact")
    assert again == pytest.approx(record["test_bits_per_dim_first_60"], abs=1e-3)
