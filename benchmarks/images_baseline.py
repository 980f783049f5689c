"""The digits benchmark: the pretrained multiscale CNF against a RealNVP of similar size and
the same training wall-clock time, in test bits/dim on the same split.

    python benchmarks/images_baseline.py            # reads data/pretrained/images/digits.json

The baseline is zuko's ``RealNVP`` (affine coupling layers with alternating masks, MLP
conditioners; a benchmark-only dependency) on the flattened 8×8 digits, with the very same data
pipeline as the CNF: uniform dequantisation ``y = (x + u)/17`` (noise seeded by iteration),
the logit transform with α = 0.05 *and its log-determinant*, and

    bits/dim = −(log p(y) − D log 17) / (D log 2),  D = 64,

on the 360 test digits with the evaluation's fixed dequantisation noise. It trains with Adam
(batch 64, the CNF's) for ``--seconds`` of optimiser steps (default: the CNF's recorded
``train_seconds``); run it on the machine, and at the load, the CNF trained on (the load
average is recorded at every check). Every ``--check-every`` seconds it measures the validation
bits/dim and, when that is a new best, the test bits/dim of that model (what early stopping
would keep); the RealNVP takes about 200 steps a second on an idle core and overfits within
seconds, so check often. The comparison takes the baseline's best model at the CNF's training
time (evaluation time excluded for both). Writes benchmarks/results/images_baseline.json."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import zuko

from ffjord_edu.datasets import images
from ffjord_edu.models.pixels import bits_per_dim, logit_transform
from ffjord_edu.training import EVAL_SEED
from ffjord_edu.training.recipes import image_recipe
from ffjord_edu.training.runtime import step_generator

ROOT = Path(__file__).resolve().parents[1]
LEVELS, DIM = 17, 64


def baseline_bits_per_dim(flow: zuko.flows.Flow, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """The baseline's bits/dim of dequantised images ``y``, logit log-det included."""
    w, log_det = logit_transform(y, alpha)
    log_prob = flow().log_prob(w.flatten(1)) + log_det
    return bits_per_dim(log_prob, DIM, LEVELS)


@torch.no_grad()
def evaluate(flow: zuko.flows.Flow, pixels: torch.Tensor, alpha: float) -> float:
    """Mean bits/dim with the noise `ffjord_edu.training.evaluate_bits_per_dim` uses."""
    generator = torch.Generator().manual_seed(EVAL_SEED)
    values = [
        baseline_bits_per_dim(flow, images.dequantize(part, LEVELS, generator), alpha)
        for part in pixels.split(500)
    ]
    return float(torch.cat(values).mean())


def train_baseline(arguments: argparse.Namespace) -> dict:
    """Train the RealNVP for ``arguments.seconds`` of optimiser steps; every ``check_every``
    seconds evaluate validation bits/dim, and the test bits/dim of the best model so far."""
    torch.set_num_threads(1)
    torch.manual_seed(arguments.seed)
    recipe = image_recipe("digits")
    alpha, batch_size = recipe.model["alpha"], recipe.config.batch_size
    data = images.load("digits")
    flow = zuko.flows.RealNVP(
        DIM, transforms=arguments.transforms, hidden_features=(arguments.hidden,) * 2
    )
    optimizer = torch.optim.Adam(flow.parameters(), lr=arguments.lr)
    load_before = os.getloadavg()[0]
    spent, iteration, best, best_test, history = 0.0, 0, math.inf, math.inf, []
    next_check = arguments.check_every
    while spent < arguments.seconds:
        generator = step_generator(arguments.seed, iteration)
        rows = torch.randint(len(data.train), (batch_size,), generator=generator)
        started = time.perf_counter()
        y = images.dequantize(data.train[rows], LEVELS, generator)
        loss = baseline_bits_per_dim(flow, y, alpha).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        spent += time.perf_counter() - started
        iteration += 1
        if spent >= next_check or spent >= arguments.seconds:
            validation = evaluate(flow, data.validation, alpha)
            if validation < best:  # the model early stopping would keep: test it now
                best, best_test = validation, evaluate(flow, data.test, alpha)
            history.append(
                {
                    "iteration": iteration,
                    "seconds": spent,
                    "validation_bits_per_dim": validation,
                    "best_validation_bits_per_dim": best,
                    "test_bits_per_dim_of_best": best_test,
                    "load_average": os.getloadavg()[0],
                }
            )
            print(json.dumps(history[-1]), flush=True)
            next_check += arguments.check_every
    return {
        "model": f"zuko.flows.RealNVP({DIM}, transforms={arguments.transforms}, "
        f"hidden_features=({arguments.hidden}, {arguments.hidden}))",
        "parameters": sum(p.numel() for p in flow.parameters()),
        "seed": arguments.seed,
        "batch_size": batch_size,
        "lr": arguments.lr,
        "alpha": alpha,
        "history": history,
        "load_average_at_start": load_before,
        "torch": str(torch.__version__),
        "zuko": zuko.__version__,
        "machine": f"{platform.processor() or platform.machine()}, 1 thread",
    }


def compare(result: dict, cnf: dict) -> dict:
    """The baseline at the CNF's training time: its best-validation model at the last check
    within ``cnf["train_seconds"]``, beside the CNF's numbers."""
    within = [h for h in result["history"] if h["seconds"] <= cnf["train_seconds"] * 1.02]
    at = within[-1] if within else result["history"][0]
    keys = ("test_bits_per_dim", "validation_bits_per_dim", "parameters", "iters")
    return {
        "cnf": {k: cnf[k] for k in (*keys, "train_seconds", "load_average")},
        "baseline_at_cnf_time": {
            "seconds": at["seconds"],
            "iterations": at["iteration"],
            "test_bits_per_dim": at["test_bits_per_dim_of_best"],
            "best_validation_bits_per_dim": at["best_validation_bits_per_dim"],
        },
        "baseline_best_overall": min(
            result["history"], key=lambda h: h["best_validation_bits_per_dim"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnf", type=Path, default=ROOT / "data/pretrained/images/digits.json")
    parser.add_argument(
        "--seconds", type=float, default=None, help="training time (default: the CNF's)"
    )
    parser.add_argument("--check-every", type=float, default=1.0, help="seconds between checks")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batches")
    parser.add_argument("--transforms", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/images_baseline.json"
    )
    parser.add_argument(
        "--compare-only", action="store_true", help="re-read --out and the CNF, no training"
    )
    arguments = parser.parse_args()
    if arguments.compare_only:
        result = json.loads(arguments.out.read_text())
    else:
        if arguments.seconds is None and not arguments.cnf.is_file():
            parser.error(
                f"--cnf {arguments.cnf} does not exist, so there is no CNF training time to "
                "match; pass --seconds, or make the CNF with scripts/train_pretrained_digits.py"
            )
        if arguments.seconds is None:
            arguments.seconds = json.loads(arguments.cnf.read_text())["train_seconds"]
        result = train_baseline(arguments)
    if arguments.cnf.is_file():
        result["comparison"] = compare(result, json.loads(arguments.cnf.read_text()))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("comparison"), indent=2))


if __name__ == "__main__":
    sys.exit(main())
