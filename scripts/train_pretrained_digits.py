"""Train the pretrained multiscale digits model shipped as data/pretrained/images/digits.pt.

    python scripts/train_pretrained_digits.py

Trains the ``digits`` preset of `ffjord_edu.training.recipes` (seed 0, one thread) on the embedded
scikit-learn digits, keeps the model with the best validation bits/dim, measures its test
bits/dim (exact trace, dopri5 at atol = rtol = 1e-5, fixed dequantisation noise), and saves it
without optimiser state with its metrics (also in digits.json); the table in data/README.md is
rewritten from that file.

    python scripts/train_pretrained_digits.py --remeasure

re-measures the saved model's test numbers without training (and rewrites the files), e.g.
after a change of the evaluation. ``test_bits_per_dim_first_60`` (the first 60 test digits,
same settings) is what tests/test_multiscale.py re-measures in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import torch
from pretrained_files import provenance, rewrite_readme_table, save_model

from ffjord_edu.datasets import images
from ffjord_edu.loading import load, pretrained_root, read_checkpoint
from ffjord_edu.training import evaluate_bits_per_dim, train_images
from ffjord_edu.training.recipes import image_recipe
from ffjord_edu.training.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- pretrained-images:start -->", "<!-- pretrained-images:end -->"
COMMAND = "python scripts/train_pretrained_digits.py"


def readme_table(record: dict) -> str:
    return "\n".join(
        [
            "| file | test bits/dim | validation bits/dim | parameters | iterations "
            "| training time | command |",
            "|---|---|---|---|---|---|---|",
            f"| `pretrained/{record['name']}.pt` | {record['test_bits_per_dim']:.4f} | "
            f"{record['validation_bits_per_dim']:.4f} | {record['parameters']:,} | "
            f"{record['iters']} | {record['train_seconds']:.0f} s | `{record['command']}` |",
        ]
    )


def save(model, record: dict, out: Path) -> None:
    """Write digits.pt (model and metrics, no optimiser state) and digits.json atomically."""
    save_model(out, "digits", model, record)
    print(json.dumps({k: v for k, v in record.items() if k != "history"}), flush=True)
    if out.resolve() == (pretrained_root() / "images").resolve():
        rewrite_readme_table(START, END, readme_table(record))


def first_60(model, data: images.ImageData) -> float:
    """Test bits/dim of the first 60 test digits (exact trace, dopri5 at 1e-5)."""
    return evaluate_bits_per_dim(model.eval(), data.test[:60], "exact")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=pretrained_root() / "images")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "pretrained" / "digits")
    parser.add_argument("--iters", type=int, default=None, help="override (smoke tests only)")
    parser.add_argument("--remeasure", action="store_true", help="re-evaluate the saved model")
    parser.add_argument("--resume", action="store_true", help="continue the run in --runs")
    parser.add_argument(
        "--seed", type=int, default=None, help="override (seed-robustness runs, not shipped)"
    )
    arguments = parser.parse_args()
    if arguments.remeasure:
        torch.set_num_threads(1)
        payload = read_checkpoint(arguments.out / "digits.pt")
        model = load(arguments.out / "digits.pt")
        data = images.load("digits")
        record = {
            **payload["metrics"],
            "test_bits_per_dim": evaluate_bits_per_dim(model, data.test, "exact"),
            "test_bits_per_dim_first_60": first_60(model, data),
        }
        save(model, record, arguments.out)
        return
    recipe = image_recipe("digits")
    config = recipe.config
    if arguments.iters is not None:
        every = max(1, min(config.eval_every, arguments.iters))
        config = replace(config, iters=arguments.iters, eval_every=every, checkpoint_every=every)
    if arguments.seed is not None:
        config = replace(config, seed=arguments.seed)
    seed_everything(config.seed, threads=1)
    data = images.load("digits")
    model, metrics = train_images(data, config, arguments.runs, recipe.model, arguments.resume)
    best = next(h for h in metrics["history"] if h["iteration"] == metrics["best_iteration"])
    record = {
        "name": "images/digits",
        "command": COMMAND,
        "test_bits_per_dim": metrics["test_bits_per_dim"],
        "validation_bits_per_dim": best["validation_bits_per_dim"],
        "best_iteration": metrics["best_iteration"],
        "seed": config.seed,
        "parameters": metrics["parameters"],
        "iters": metrics["iters"],
        "train_seconds": metrics["history"][-1]["train_seconds"],
        "seconds_per_iter": metrics["seconds_per_iter"],
        "nfe_forward_per_iter": metrics["nfe_forward"],
        "test_nfe_forward": metrics["test_nfe_forward"],
        "evaluation": (
            "360 test digits, uniform dequantisation (seed 2147483647), dopri5 "
            "atol=rtol=1e-5, exact trace"
        ),
        "history": [
            {k: h[k] for k in ("iteration", "train_loss", "validation_bits_per_dim")}
            for h in metrics["history"]
        ],
        "load_average": os.getloadavg()[0],
        **provenance(),
    }
    record["test_bits_per_dim_first_60"] = first_60(model, data)
    save(model, record, arguments.out)


if __name__ == "__main__":
    sys.exit(main())
