"""FFJORD's bottleneck trick in training: plain Hutchinson against the bottleneck estimate.

One network, one initialisation, the same batches: a CNF on the 64-pixel digits, flattened to
D = 64 (dequantised, logit transform with alpha = 0.05), whose `ODEnet` has hidden widths
(128, 8, 128), so the bottleneck has H = 8. It is trained twice, once with ``trace="hutchinson"``
(the probe in the 64 data dimensions) and once with ``trace="bottleneck"`` (the probe in the 8
units of the narrow layer), both with Gaussian probes (the paper, §5.1, saw the trick speed up
training with Gaussian probes and not with Rademacher ones). Everything else is identical:
dopri5 at atol = rtol = 1e-3 in training, Adam at 2e-3, batch 64, seed 0, one torch thread.
The two runs train in lockstep (one step of each in turn), so a busy stretch of the shared
machine slows both alike.

Measured per run:

- the noise of the training loss: the standard deviation of the loss estimate on one fixed batch
  over 16 probe draws (same model, no training in between), at initialisation and at the end;
  and the spread of the training curve around its moving average (window 25), second half;
- NFE: the forward NFE of every training solve (mean over training and over the last 50);
- validation bits/dim (180 digits, exact trace, dopri5 at 1e-5, fixed dequantisation noise)
  every ``--eval-every`` iterations, and the training seconds (evaluations excluded) at which
  each run first reaches the target: the plain run's final validation bits/dim.

Usage (from the repository root; about 5 minutes on one thread)::

    TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bottleneck.py
    TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bottleneck.py --quick --out /tmp/b.json

It writes ``benchmarks/results/bottleneck.json`` with the load average before and after.
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
from ffjord_edu.datasets import images
from ffjord_edu.models.pixels import bits_per_dim, logit_transform
from ffjord_edu.training.runtime import seed_everything

HIDDEN = (128, 8, 128)
ALPHA = 0.05
EVAL_SEED = 2_147_483_647
ESTIMATORS = ("hutchinson", "bottleneck")


def to_logit(pixels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Dequantise 8x8 digits, flatten to 64 values and apply the logit transform: (w, log-det)."""
    y = images.dequantize(pixels, 17, generator=generator).reshape(len(pixels), -1)
    return logit_transform(y, ALPHA)


def flow_bits_per_dim(flow: CNF, w: torch.Tensor, log_det: torch.Tensor) -> float:
    """Bits/dim of the dequantised pixels: log p(y) = log p(w) + log|det dw/dy|."""
    return float(bits_per_dim(flow.log_prob(w) + log_det, 64, 17).mean())


def validation_bits(flow: CNF, data: images.ImageData) -> float:
    w, log_det = to_logit(data.validation, torch.Generator().manual_seed(EVAL_SEED))
    with torch.no_grad(), flow.using(trace="exact", atol=1e-5, rtol=1e-5):
        return flow_bits_per_dim(flow, w, log_det)


def loss_spread(flow: CNF, w: torch.Tensor, log_det: torch.Tensor, draws: int) -> float:
    """Standard deviation of the training-loss estimate on one batch over ``draws`` probes."""
    torch.manual_seed(12345)
    with torch.no_grad():
        values = [flow_bits_per_dim(flow, w, log_det) for _ in range(draws)]
    return statistics.stdev(values)


def curve_noise(losses: list[float], window: int = 25) -> float:
    """Spread of the second half of the loss curve around its centred moving average."""
    half = window // 2
    residuals = [
        losses[i] - statistics.fmean(losses[i - half : i + half + 1])
        for i in range(max(half, len(losses) // 2), len(losses) - half)
    ]
    return statistics.pstdev(residuals) if residuals else float("nan")


def new_run(estimator: str, data: images.ImageData, draws: int) -> dict[str, Any]:
    """The flow (seed 0: both runs start from the same weights), its optimiser and its record."""
    seed_everything(0, threads=1)
    flow = CNF(64, hidden=HIDDEN, trace=estimator, noise="gaussian", atol=1e-3, rtol=1e-3)
    fixed = to_logit(data.train[:64], torch.Generator().manual_seed(7))
    return {
        "flow": flow,
        "optimizer": torch.optim.Adam(flow.parameters(), lr=2e-3),
        "fixed": fixed,
        "estimator": estimator,
        "loss_spread_at_init": loss_spread(flow, *fixed, draws),
        "losses": [],
        "nfe": [],
        "seconds": [],
        "validation": [],
        "train_seconds": 0.0,
    }


def step(record: dict[str, Any], iteration: int, data: images.ImageData) -> None:
    """One Adam step on the batch of ``iteration`` (the same rows and noise for both runs)."""
    generator = torch.Generator().manual_seed(iteration)
    rows = torch.randint(0, len(data.train), (64,), generator=generator)
    w, log_det = to_logit(data.train[rows], generator)
    flow, optimizer = record["flow"], record["optimizer"]
    torch.manual_seed(iteration)  # this step's probes
    start = time.perf_counter()
    loss = -(flow.log_prob(w) + log_det).mean() / (64 * math.log(2))  # bits/dim
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    record["train_seconds"] += time.perf_counter() - start
    record["losses"].append(loss.item())
    record["nfe"].append(flow.nfe["forward"])
    record["seconds"].append(record["train_seconds"])


def train_side_by_side(data: images.ImageData, args: argparse.Namespace) -> dict[str, Any]:
    """Both runs in lockstep, alternating steps, so a busy stretch of the machine hits both."""
    runs = {estimator: new_run(estimator, data, args.draws) for estimator in ESTIMATORS}
    for iteration in range(1, args.iters + 1):
        for name, record in runs.items():
            step(record, iteration, data)
            if iteration % args.eval_every == 0 or iteration == args.iters:
                bits = validation_bits(record["flow"], data)
                record["validation"].append([iteration, record["train_seconds"], bits])
                print(
                    f"{name:10s} it {iteration:4d} {record['train_seconds']:6.1f} s {bits:.4f} b/d"
                )
    for record in runs.values():
        flow = record.pop("flow")
        del record["optimizer"]
        record["loss_spread_at_end"] = loss_spread(flow, *record.pop("fixed"), args.draws)
        record["curve_noise"] = curve_noise(record["losses"])
        record["mean_nfe"] = statistics.fmean(record["nfe"])
        record["mean_nfe_last_50"] = statistics.fmean(record["nfe"][-50:])
    return runs


def seconds_to(record: dict[str, Any], target: float) -> float | None:
    return next((s for _, s, bits in record["validation"] if bits <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=800)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--draws", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="20 iterations, to check it runs")
    parser.add_argument("--out", default="benchmarks/results/bottleneck.json")
    args = parser.parse_args()
    if args.quick:
        args.iters, args.eval_every, args.draws = 20, 10, 4
    load_before = os.getloadavg()
    data = images.load("digits")
    runs = train_side_by_side(data, args)
    target = runs["hutchinson"]["validation"][-1][2]
    summary = {
        name: {
            "loss_spread_at_init": r["loss_spread_at_init"],
            "loss_spread_at_end": r["loss_spread_at_end"],
            "curve_noise": r["curve_noise"],
            "mean_nfe": r["mean_nfe"],
            "mean_nfe_last_50": r["mean_nfe_last_50"],
            "final_validation_bits": r["validation"][-1][2],
            "train_seconds": r["train_seconds"],
            "seconds_to_target": seconds_to(r, target),
        }
        for name, r in runs.items()
    }
    result = {
        "protocol": __doc__,
        "command": "TQDM_DISABLE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bottleneck.py"
        + (" --quick" if args.quick else ""),
        "machine": environment(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "target_bits": target,
        "summary": summary,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"target_bits": target, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
