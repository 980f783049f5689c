"""Train the shipped picture flow of notebook 11 (the word "FFJORD"), deterministically.

    python scripts/train_picture.py                  # data/pretrained/picture/ffjord.pt
    python scripts/train_picture.py --iters 50 --out /tmp/picture   # a smoke test

Seed 0, one thread, flow matching with `ffjord_edu.training.picture.picture_recipe` on
`ffjord_edu.datasets.picture.from_text("FFJORD")`; the model is saved without optimiser state
with its metrics (test NLL on 10,000 fresh samples with dopri5 at atol = rtol = 1e-5 and the exact
trace, the exact entropy, the KL gap, the training time) in a .json beside it, and the table in
data/README.md is rewritten from that file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pretrained_files import provenance, rewrite_readme_table, save_model

from ffjord_edu.datasets import picture
from ffjord_edu.loading import pretrained_root
from ffjord_edu.training.picture import (
    PictureTrainer,
    evaluate_picture,
    picture_model,
    picture_recipe,
    sampling_nfe,
)
from ffjord_edu.training.runtime import seed_everything

START, END = "<!-- pretrained-picture:start -->", "<!-- pretrained-picture:end -->"
WORD, OBJECTIVE, ITERS = "FFJORD", "flow matching", 15_000  # about 2.5 minutes on one core
COMMAND = "python scripts/train_picture.py"


def train(iters: int | None) -> tuple[object, dict]:
    seed_everything(0, threads=1)
    config = picture_recipe(OBJECTIVE, iters or ITERS)
    density = picture.from_text(WORD)
    trainer = PictureTrainer(picture_model(OBJECTIVE), density, config)
    started, cpu_started = time.perf_counter(), time.thread_time()
    trainer.run(config.iters)
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    metrics = evaluate_picture(trainer.model, density, n=10_000)
    _, nfe = sampling_nfe(trainer.model, 1000)
    record = {
        "name": "picture/ffjord",
        "command": COMMAND,
        "word": WORD,
        "objective": config.objective,
        "iters": config.iters,
        **metrics,
        "sampling_nfe": nfe,
        "train_cpu_seconds": cpu,
        "train_seconds": trainer.seconds,
        "wall_seconds": wall,
        "evaluation": "10,000 samples (seed 2147483647), dopri5 atol=rtol=1e-5, exact trace",
        **provenance(),
    }
    return trainer.model, record


def table(record: dict) -> str:
    """The data/README.md table, its first columns as in the other pretrained tables."""
    return "\n".join(
        [
            "| file | test NLL (nats) | true entropy | gap | ± (1 SE) | word | objective | "
            "iterations | sampling NFE | training time | command |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| `pretrained/picture/ffjord.pt` | {record['test_nll']:.4f} | "
            f"{record['true_entropy']:.4f} | {record['kl_gap']:.4f} | "
            f"{record['standard_error']:.4f} | {record['word']} | {record['objective']} | "
            f"{record['iters']} | {record['sampling_nfe']} | {record['train_cpu_seconds']:.0f} "
            f"({record['wall_seconds']:.0f}) | "
            f"`{record['command']}` |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=pretrained_root())
    parser.add_argument("--iters", type=int, default=None, help="override (smoke tests only)")
    arguments = parser.parse_args()
    model, record = train(arguments.iters)
    save_model(arguments.out / "picture", "ffjord", model, record)
    print(json.dumps(record), flush=True)
    if arguments.out.resolve() == pretrained_root().resolve():
        rewrite_readme_table(START, END, table(record))


if __name__ == "__main__":
    main()
