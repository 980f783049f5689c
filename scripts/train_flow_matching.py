"""Train the flow-matched toy flows of notebook 10, deterministically.

    python scripts/train_flow_matching.py                  # 8gaussians, both couplings
    python scripts/train_flow_matching.py --only 8gaussians --couplings ot

Each model trains with `ffjord_edu.training.recipes.flow_matching_toy_recipe` on one thread (the same
network as the maximum-likelihood toy models, no ODE solved in training) and is saved without
its optimiser state as data/pretrained/flow_matching/<name>.pt (independent coupling) or
data/pretrained/ot_flow_matching/<name>.pt (mini-batch optimal-transport coupling), with its
metrics in a .json beside it; the table in data/README.md is rewritten from those files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pretrained_files import provenance, rewrite_readme_table, save_model
from train_pretrained import density_table

from ffjord_edu.datasets import toy
from ffjord_edu.loading import pretrained_root
from ffjord_edu.training import train_toy
from ffjord_edu.training.recipes import flow_matching_toy_recipe, shortened
from ffjord_edu.training.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = {"independent": "flow_matching", "ot": "ot_flow_matching"}
START, END = "<!-- pretrained-fm:start -->", "<!-- pretrained-fm:end -->"


def train_one(name: str, coupling: str, out: Path, runs: Path, iters: int | None) -> dict:
    family = FAMILIES[coupling]
    recipe = flow_matching_toy_recipe(name, coupling=coupling)
    if iters is not None:
        recipe = shortened(recipe, iters)
    seed_everything(recipe.config.seed, threads=1)
    started = time.thread_time()
    model, metrics = train_toy(name, recipe.config, runs / family / name, recipe.model)
    record = {
        "name": f"{family}/{name}",
        "command": f"python scripts/train_flow_matching.py --only {name} --couplings {coupling}",
        "objective": recipe.config.objective,
        "test_nll": metrics["test_nll"],
        "true_entropy": metrics.get("true_entropy"),
        "kl_gap": metrics.get("kl_gap"),
        "iters": metrics["iters"],
        "train_seconds": metrics["history"][-1]["train_seconds"],
        "cpu_seconds_with_evaluations": time.thread_time() - started,
        "seconds_per_iter": metrics["seconds_per_iter"],
        "evaluation": "10,000 samples (seed 2147483647), dopri5 atol=rtol=1e-5, exact trace",
        **provenance(),
    }
    save_model(out / family, name, model, record)
    return record


def readme_table(out: Path) -> str:
    return density_table(
        path for family in FAMILIES.values() for path in sorted((out / family).glob("*.json"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=toy.NAMES, default=["8gaussians"])
    parser.add_argument("--couplings", nargs="+", choices=tuple(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--out", type=Path, default=pretrained_root())
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "pretrained")
    parser.add_argument("--iters", type=int, default=None, help="override (smoke tests only)")
    arguments = parser.parse_args()
    for name in arguments.only:
        for coupling in arguments.couplings:
            record = train_one(name, coupling, arguments.out, arguments.runs, arguments.iters)
            print(json.dumps(record), flush=True)
    if arguments.out.resolve() == pretrained_root().resolve():
        rewrite_readme_table(START, END, readme_table(arguments.out))


if __name__ == "__main__":
    sys.exit(main())
