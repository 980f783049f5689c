"""Train the discrete baselines of notebook 05's Figure 2 gallery on three toy densities.

For 8gaussians, checkerboard and 2spirals: a `CouplingFlow` (8 affine couplings, tanh MLPs
30-30: 9,152 parameters, against 9,224 for the shipped FFJORD model) and a `PlanarFlow` (128
layers, 640 parameters: matching 9,224 would take 1,845 planar layers, about 1.8 s per training
step on one CPU thread). Both: Adam with a cosine schedule (coupling: 10,000 steps from 2e-3;
planar: 1,000 steps from 5e-3), batch 512, fresh samples every step
(`ffjord_edu.datasets.toy.sample` with seed = step), seed 0, one thread; the test NLL on the
same 10,000 samples (seed 2147483647) as the shipped FFJORD models. Writes
``data/pretrained/baselines/<kind>_<density>.pt`` (state dict) and ``.json`` (metrics, command).

Every run seeds itself, so ``--kinds coupling`` and ``--kinds planar`` in two processes give the
same files as one process. Usage (from the repository root; about 20 minutes on one thread)::

    TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python scripts/train_baselines.py
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from ffjord_edu.datasets import toy
from ffjord_edu.loading import pretrained_root
from ffjord_edu.models.baselines import build_baseline, parameter_count
from ffjord_edu.training.runtime import seed_everything

DENSITIES = ("8gaussians", "checkerboard", "2spirals")
TEST_SEED = 2_147_483_647
# kind -> (architecture, iterations, learning rate)
KINDS = {
    "coupling": ({"kind": "coupling", "dim": 2, "layers": 8, "hidden": [30, 30]}, 10_000, 2e-3),
    "planar": ({"kind": "planar", "dim": 2, "layers": 128}, 1000, 5e-3),
}


def train(kind: str, density: str, iters: int) -> dict:
    architecture, default_iters, lr = KINDS[kind]
    iters = iters or default_iters
    seed_everything(0, threads=1)
    flow = build_baseline(architecture)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iters)
    start = time.perf_counter()
    for step in range(iters):
        loss = -flow.log_prob(toy.sample(density, 512, seed=step)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        test_nll = -flow.log_prob(toy.sample(density, 10_000, seed=TEST_SEED)).mean().item()
    folder = pretrained_root() / "baselines"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(flow.state_dict(), folder / f"{kind}_{density}.pt")
    metrics = {
        "name": f"baselines/{kind}_{density}",
        "command": "python scripts/train_baselines.py",
        "architecture": architecture,
        "parameters": parameter_count(flow),
        "iters": iters,
        "lr": lr,
        "test_nll": test_nll,
        "true_entropy": toy.entropy(density) if density in toy.HAS_LOG_PROB else None,
        "train_seconds": seconds,
        "load_average_after": os.getloadavg(),
        "evaluation": "10,000 samples (seed 2147483647)",
        "torch": str(torch.__version__),
    }
    (folder / f"{kind}_{density}.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{kind:8s} {density:12s} test NLL {test_nll:.4f}  {seconds:.0f} s")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=0, help="0: each kind's default")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    args = parser.parse_args()
    for kind in args.kinds:
        for density in DENSITIES:
            train(kind, density, args.iters)


if __name__ == "__main__":
    main()
