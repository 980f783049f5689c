"""NFE against the data dimension at a fixed difficulty (FFJORD §5.2, at CPU scale).

The paper argues that the number of function evaluations (NFE) a CNF needs depends on how hard
the density is to reach from the Gaussian, not on the dimension D: an isotropic Gaussian needs
zero dynamics in any D. We test that with data whose difficulty does not grow with D: the
2-D 8gaussians density in the first two coordinates, independent standard normal noise in the
other D − 2. The best model moves the first two coordinates and leaves the rest alone; its true
entropy is H(8gaussians) + (D − 2)/2 · log(2πe).

For each D in 2, 4, 8, 16, 32, 64, one CNF (3 hidden layers of 64, concat-squash, tanh,
Hutchinson's trace with Rademacher probes, dopri5 at atol = rtol = 1e-3 in training) is
trained from seed 0 for ``--iters`` Adam steps (lr 5e-3, cosine schedule, batch 256). Recorded:
the forward NFE of every training solve, and at the end the NFE of one density solve of 1,000
test points at atol = rtol = 1e-5 and the test NLL minus the true entropy (Hutchinson's trace,
unbiased), so that the models are seen to be comparably trained.

Usage (from the repository root; about 5 minutes on one thread)::

    TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nfe_vs_dim.py
    TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nfe_vs_dim.py --quick --out /tmp/n.json

It writes ``benchmarks/results/nfe_vs_dim.json`` (with the load average before and after); copy
it to ``data/nfe_vs_dim/benchmark.json`` for notebook 06.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from machine import environment

from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import toy
from ffjord_edu.training.runtime import seed_everything

DIMS = (2, 4, 8, 16, 32, 64)
TEST_SEED = 2_147_483_647


def sample(n: int, dim: int, seed: int) -> torch.Tensor:
    """8gaussians in the first two coordinates, standard normal noise in the other dim - 2."""
    noise = torch.randn(n, dim - 2, generator=torch.Generator().manual_seed(seed + 1))
    return torch.cat([toy.sample("8gaussians", n, seed=seed), noise], dim=1)


def entropy(dim: int) -> float:
    return toy.entropy("8gaussians") + (dim - 2) / 2 * math.log(2 * math.pi * math.e)


def run(dim: int, args: argparse.Namespace) -> dict[str, Any]:
    seed_everything(0, threads=1)
    flow = CNF(dim, hidden=(64, 64, 64), trace="hutchinson", atol=1e-3, rtol=1e-3)
    optimizer = torch.optim.Adam(flow.parameters(), lr=5e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.iters)
    nfe, losses, start = [], [], time.perf_counter()
    for iteration in range(args.iters):
        x = sample(256, dim, seed=iteration)
        torch.manual_seed(iteration)
        loss, _ = flow.training_loss(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        nfe.append(flow.nfe["forward"])
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    test = sample(1000, dim, seed=TEST_SEED)
    torch.manual_seed(TEST_SEED)
    with torch.no_grad(), flow.using(atol=1e-5, rtol=1e-5):
        test_nll = -flow.log_prob(test).mean().item()
        density_nfe = flow.nfe["forward"]
    row = {
        "dim": dim,
        "train_nfe": nfe,
        "train_loss": losses,
        "mean_train_nfe_last_50": statistics.fmean(nfe[-50:]),
        "density_nfe_1e-5": density_nfe,
        "test_nll_minus_entropy": test_nll - entropy(dim),
        "train_seconds": seconds,
    }
    print(
        f"D = {dim:2d}: training NFE (last 50) {row['mean_train_nfe_last_50']:5.1f}, density NFE "
        f"at 1e-5 {density_nfe:3d}, NLL - entropy {row['test_nll_minus_entropy']:.3f}, "
        f"{seconds:.0f} s"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="30 iterations, to check it runs")
    parser.add_argument("--out", default="benchmarks/results/nfe_vs_dim.json")
    args = parser.parse_args()
    if args.quick:
        args.iters = 30
    load_before = os.getloadavg()
    rows = [run(dim, args) for dim in DIMS]
    result = {
        "protocol": __doc__,
        "command": "TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nfe_vs_dim.py"
        + (" --quick" if args.quick else f" --iters {args.iters}"),
        "machine": environment(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
