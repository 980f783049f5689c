"""Data-parallel training: two gloo processes under torchrun take the steps one process takes."""

import os
import subprocess
import sys

import pytest
import torch

from ffjord_edu import CNF, load
from ffjord_edu.training.distributed import shard, world

ARGUMENTS = [
    "train",
    "toy",
    "--data",
    "8gaussians",
    "--iters",
    "4",
    "--batch-size",
    "64",
    "--hidden",
    "16,16",
    "--method",
    "rk4",
    "--step-size",
    "0.25",
    "--eval-every",
    "4",
    "--eval-samples",
    "200",
    "--lr",
    "1e-2",
]


def run(out, processes: int) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    if processes == 1:
        command = [sys.executable, "-m", "ffjord_edu", *ARGUMENTS, "--out", str(out)]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "ffjord_edu",
            *ARGUMENTS,
            "--out",
            str(out),
        ]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_processes_train_like_one(tmp_path):
    run(tmp_path / "one", 1)
    run(tmp_path / "two", 2)
    one, two = load(tmp_path / "one"), load(tmp_path / "two")
    for (name, a), b in zip(one.named_parameters(), two.parameters()):
        assert torch.allclose(a, b, atol=1e-5), name
    torch.manual_seed(0)  # the initial weights train_toy starts from
    initial = CNF(2, hidden=(16, 16))
    moved = (
        one.blocks[0].net.layers[0].linear.weight - initial.blocks[0].net.layers[0].linear.weight
    )
    assert float(moved.detach().abs().max()) > 1e-3, "training moved the weights"


def test_alone_the_batch_is_whole():
    assert world() == (0, 1)
    batch = torch.arange(10.0)
    assert torch.equal(shard(batch), batch)


def test_uneven_batches_are_refused(monkeypatch):
    monkeypatch.setattr("ffjord_edu.training.distributed.world", lambda: (0, 3))
    with pytest.raises(ValueError, match="divisible by 3"):
        shard(torch.zeros(64, 2))
