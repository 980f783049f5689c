"""Train the pretrained digits VAEs shipped in data/pretrained/vae/, one per posterior.

    python scripts/train_vae.py                          # gaussian, planar and ffjord
    python scripts/train_vae.py --only ffjord
    python scripts/train_vae.py --parallel               # all three at once, one thread each
    python scripts/train_vae.py --evaluate-only          # re-measure the shipped models

Each VAE trains with `ffjord_edu.models.vae.vae_recipe` (the same iterations, batch and schedule
for every posterior) on one thread, then is evaluated on the test split of the binarised digits
(`ffjord_edu.models.vae.evaluate_vae`: dopri5 at 1e-5 with the exact trace, 16 samples for the
ELBO, 500 for the IWAE bound), saved without optimiser state as data/pretrained/vae/<name>.pt
with its metrics in <name>.json, and the table in data/README.md is rewritten from those files.
``--parallel`` runs the three in separate processes, so they share the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from pretrained_files import provenance, rewrite_readme_table, save_model, write_json

from ffjord_edu.datasets import images
from ffjord_edu.datasets.images import binary_vectors
from ffjord_edu.loading import MAKERS, load_vae, pretrained_root
from ffjord_edu.models.posteriors import POSTERIORS
from ffjord_edu.models.vae import evaluate_vae
from ffjord_edu.training import train_vae
from ffjord_edu.training.checkpoints import read_checkpoint, write_checkpoint
from ffjord_edu.training.recipes import vae_recipe
from ffjord_edu.training.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- pretrained-vae:start -->", "<!-- pretrained-vae:end -->"
ELBO_SAMPLES, IWAE_SAMPLES = 16, 500


def load_average() -> float:
    """The 1-minute load average, recorded next to every timing."""
    return os.getloadavg()[0]


def train_one(name: str, out: Path, runs: Path, iters: int | None) -> dict:
    recipe = vae_recipe(name)
    config, options = recipe.config, dict(recipe.model)
    if iters is not None:
        config = replace(config, iters=iters, eval_every=min(config.eval_every, iters))
    seed_everything(config.seed, threads=1)
    data = images.load("digits")
    load_before, started = load_average(), time.perf_counter()
    model, metrics = train_vae(data, config, runs / name, options)
    wall = time.perf_counter() - started
    load_after = load_average()
    evaluated = time.perf_counter()
    test = evaluate_vae(model, binary_vectors(data.test, data.levels), ELBO_SAMPLES, IWAE_SAMPLES)
    record = {
        "name": f"vae/{name}",
        "command": MAKERS["vae"].format(name=name),
        "posterior": name,
        "test_neg_elbo": test["neg_elbo"],
        "test_neg_elbo_se": test["neg_elbo_se"],
        "test_neg_iwae": test["neg_iwae"],
        "validation_neg_elbo": metrics["history"][-1]["validation_neg_elbo"],
        "iters": metrics["iters"],
        "batch_size": config.batch_size,
        "train_seconds": metrics["history"][-1]["train_seconds"],
        "wall_seconds": wall,
        "evaluation_seconds": time.perf_counter() - evaluated,
        "seconds_per_iter": metrics["seconds_per_iter"],
        "nfe_forward_per_iter": metrics["nfe_forward"],
        "load_average": [load_before, load_after],
        "evaluation": (
            f"digits test split (360 images), fixed binarisation; {ELBO_SAMPLES} samples per "
            f"image for the ELBO, {IWAE_SAMPLES} for the IWAE bound; FFJORD: dopri5 "
            "atol=rtol=1e-5, exact trace"
        ),
        **provenance(),
    }
    save_model(out, name, model, record)
    return record


def evaluate_again(name: str, out: Path) -> dict:
    """Re-measure a shipped model's test bounds and rewrite its json (training fields kept)."""
    torch.set_num_threads(1)
    record = json.loads((out / f"{name}.json").read_text())
    data = images.load("digits")
    model = load_vae(out / f"{name}.pt")
    evaluated = time.perf_counter()
    test = evaluate_vae(model, binary_vectors(data.test, data.levels), ELBO_SAMPLES, IWAE_SAMPLES)
    record.update(
        test_neg_elbo=test["neg_elbo"],
        test_neg_elbo_se=test["neg_elbo_se"],
        test_neg_iwae=test["neg_iwae"],
        evaluation_seconds=time.perf_counter() - evaluated,
    )
    payload = read_checkpoint(out / f"{name}.pt")
    write_checkpoint(out / f"{name}.pt", {**payload, "metrics": record})
    write_json(out / f"{name}.json", record)
    return record


def table(out: Path) -> str:
    rows = [
        "| file | test −ELBO (nats) | test −IWAE₅₀₀ | iterations | training time | load | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| `pretrained/{r['name']}.pt` | {r['test_neg_elbo']:.3f} | "
            f"{r['test_neg_iwae']:.3f} | {r['iters']} | {r['train_seconds']:.0f} s | "
            f"{r['load_average'][0]:.1f}–{r['load_average'][1]:.1f} | `{r['command']}` |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=POSTERIORS, default=list(POSTERIORS))
    parser.add_argument("--iters", type=int, default=None, help="shorten (for a quick try)")
    parser.add_argument("--runs", type=Path, default=Path("runs/vae"), help="training folders")
    parser.add_argument("--out", type=Path, default=pretrained_root() / "vae")
    parser.add_argument("--parallel", action="store_true", help="one process per posterior")
    parser.add_argument("--no-readme", action="store_true", help="leave data/README.md alone")
    parser.add_argument(
        "--evaluate-only", action="store_true", help="re-measure the shipped models, no training"
    )
    args = parser.parse_args(argv)
    if args.evaluate_only:
        for name in args.only:
            print(json.dumps(evaluate_again(name, args.out), indent=2))
    elif args.parallel and len(args.only) > 1:
        extra = ["--iters", str(args.iters)] if args.iters else []
        common = ["--runs", str(args.runs), "--out", str(args.out), "--no-readme", *extra]
        children = [
            subprocess.Popen([sys.executable, __file__, "--only", name, *common])
            for name in args.only
        ]
        if any(child.wait() for child in children):
            return 1
    else:
        for name in args.only:
            record = train_one(name, args.out, args.runs, args.iters)
            print(json.dumps(record, indent=2))
    if not args.no_readme:
        rewrite_readme_table(START, END, table(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
