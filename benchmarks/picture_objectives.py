"""Time and KL gap for notebook 11's default word ("FFJORD") with each training objective.

    OMP_NUM_THREADS=1 python benchmarks/picture_objectives.py            # about 4 CPU minutes
    python benchmarks/picture_objectives.py --cpu-seconds 10 --out /tmp/x.json   # a smoke run

Each objective (flow matching; maximum likelihood as in FFJORD, RK4 with 8 steps) trains the
playground's flow (`ffjord_edu.training.picture`, seed 0, one thread, the recipe's cosine
schedule stretched over the iterations that fit) for the same CPU-time budget, measured with
`time.thread_time` so that other jobs on a shared machine do not shrink it; at each checkpoint
the test NLL on 5,000 fresh samples of the word (dopri5, exact trace) gives the KL gap against
the word's exact entropy. Evaluations are not counted in the budget. Writes
``benchmarks/results/picture_objectives.json`` and prints the table of `docs/benchmarks.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from machine import environment

from ffjord_edu.datasets import picture
from ffjord_edu.training.picture import (
    PictureTrainer,
    evaluate_picture,
    picture_model,
    picture_recipe,
    sampling_nfe,
)
from ffjord_edu.training.runtime import seed_everything

RESULTS = Path(__file__).resolve().parent / "results" / "picture_objectives.json"
OBJECTIVES = ("flow matching", "maximum likelihood")
# Iterations the cosine schedule spans, chosen so each objective's schedule ends near the budget
# (per-step CPU cost measured on the 2-core machine: 6–9 ms for flow matching, 0.3–0.4 s for MLE).
SCHEDULE_ITERS = {"flow matching": 15_000, "maximum likelihood": 300}


def out_of_time(started: float, budget: float):
    """``should_stop`` for `PictureTrainer.run`: true once ``budget`` CPU seconds have passed."""
    return lambda: time.thread_time() - started >= budget


def run(objective: str, cpu_seconds: float, checkpoints: int) -> dict:
    seed_everything(0, threads=1)
    density = picture.from_text("FFJORD")
    trainer = PictureTrainer(
        picture_model(objective),
        density,
        picture_recipe(objective, iters=SCHEDULE_ITERS[objective]),
    )
    history, spent = [], 0.0
    for k in range(1, checkpoints + 1):
        started = time.thread_time()
        trainer.run(10**9, should_stop=out_of_time(started, cpu_seconds * k / checkpoints - spent))
        spent += time.thread_time() - started
        metrics = evaluate_picture(trainer.model, density, n=5000)
        history.append({"cpu_seconds": spent, "iterations": trainer.iteration, **metrics})
        print(objective, json.dumps(history[-1]), flush=True)
    _, nfe = sampling_nfe(trainer.model, 1000)
    return {"history": history, "sampling_nfe": nfe, "wall_train_seconds": trainer.seconds}


def table(results: dict) -> str:
    rows = [
        "| objective | CPU s | iterations | test NLL (nats) | KL gap ± SE | sampling NFE |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for objective, result in results["runs"].items():
        for record in result["history"]:
            rows.append(
                f"| {objective} | {record['cpu_seconds']:.0f} | {record['iterations']} | "
                f"{record['test_nll']:.3f} | {record['kl_gap']:.3f} ± "
                f"{record['standard_error']:.3f} | "
                f"{result['sampling_nfe'] if record is result['history'][-1] else ''} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-seconds", type=float, default=110.0, help="per objective")
    parser.add_argument("--checkpoints", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    wall = time.perf_counter()
    runs = {o: run(o, arguments.cpu_seconds, arguments.checkpoints) for o in OBJECTIVES}
    results = {
        "started": started,
        "wall_seconds": time.perf_counter() - wall,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "entropy": picture.from_text("FFJORD").entropy(),
        "cpu_seconds_per_objective": arguments.cpu_seconds,
        "machine": environment(),
        "runs": runs,
    }
    results["table"] = table(results)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n")
    print(results["table"])


if __name__ == "__main__":
    main()
