"""Train the pretrained toy flows shipped in data/pretrained/toy/, deterministically.

    python scripts/train_pretrained.py                 # all eight densities
    python scripts/train_pretrained.py --only checkerboard 8gaussians

Each model trains with `ffjord_edu.training.recipes.toy_recipe` on one thread, then is saved without
its optimiser state as data/pretrained/toy/<name>.pt, with its metrics in <name>.json; the
table in data/README.md is rewritten from those files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from pretrained_files import provenance, rewrite_readme_table, save_model

from ffjord_edu.datasets import toy
from ffjord_edu.loading import MAKERS, pretrained_root
from ffjord_edu.training import train_toy
from ffjord_edu.training.recipes import shortened, toy_recipe
from ffjord_edu.training.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- pretrained-toy:start -->", "<!-- pretrained-toy:end -->"


def train_one(name: str, out: Path, runs: Path, iters: int | None) -> dict:
    recipe = toy_recipe(name)
    if iters is not None:
        recipe = shortened(recipe, iters)
    seed_everything(recipe.config.seed, threads=1)
    model, metrics = train_toy(name, recipe.config, runs / name, recipe.model)
    record = {
        "name": f"toy/{name}",
        "command": MAKERS["toy"].format(name=name),
        "test_nll": metrics["test_nll"],
        "true_entropy": metrics.get("true_entropy"),
        "kl_gap": metrics.get("kl_gap"),
        "iters": metrics["iters"],
        "train_seconds": metrics["history"][-1]["train_seconds"],
        "seconds_per_iter": metrics["seconds_per_iter"],
        "nfe_forward_per_iter": metrics["nfe_forward"],
        "evaluation": "10,000 samples (seed 2147483647), dopri5 atol=rtol=1e-5, exact trace",
        **provenance(),
    }
    save_model(out, name, model, record)
    return record


def density_table(records: Iterable[Path]) -> str:
    """The data/README.md table of 2-D density models (also `train_flow_matching.py`'s):
    one row per metrics json, in the order given."""
    rows = [
        "| file | test NLL (nats) | true entropy | gap | iterations | training time | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in records:
        r = json.loads(path.read_text())
        entropy = f"{r['true_entropy']:.4f}" if r["true_entropy"] is not None else "—"
        gap = f"{r['kl_gap']:.4f}" if r["kl_gap"] is not None else "—"
        rows.append(
            f"| `pretrained/{r['name']}.pt` | {r['test_nll']:.4f} | {entropy} | {gap} | "
            f"{r['iters']} | {r['train_seconds']:.0f} s | `{r['command']}` |"
        )
    return "\n".join(rows)


def readme_table(out: Path) -> str:
    return density_table(sorted(out.glob("*.json")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=toy.NAMES, default=list(toy.NAMES))
    parser.add_argument("--out", type=Path, default=pretrained_root() / "toy")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "pretrained" / "toy")
    parser.add_argument("--iters", type=int, default=None, help="override (smoke tests only)")
    arguments = parser.parse_args()
    for name in arguments.only:
        record = train_one(name, arguments.out, arguments.runs, arguments.iters)
        print(json.dumps(record), flush=True)
    if arguments.out.resolve() == (pretrained_root() / "toy").resolve():
        rewrite_readme_table(START, END, readme_table(arguments.out))


if __name__ == "__main__":
    sys.exit(main())
