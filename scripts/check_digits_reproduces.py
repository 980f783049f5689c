"""Retrain the ``digits`` image preset and compare it bit for bit with the shipped model.

    python scripts/check_digits_reproduces.py

Trains exactly as `scripts/train_pretrained_digits.py` does (seed 0, one thread, the preset of
`ffjord_edu.training.recipes.image_recipe`), in a temporary folder, then compares every tensor
of the kept model with ``data/pretrained/images/digits.pt`` with `torch.equal`, and the test
bits/dim with the shipped record. Writes nothing; exits 1 when anything differs. It takes about
ten minutes of one core (27 minutes at load average 3): a check for refactors that must not
change a number, not a test.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import torch

from ffjord_edu.datasets import images
from ffjord_edu.resources import data_path
from ffjord_edu.training import seed_everything, train_images
from ffjord_edu.training.checkpoints import read_checkpoint
from ffjord_edu.training.recipes import image_recipe


def main() -> int:
    recipe = image_recipe("digits")
    seed_everything(recipe.config.seed, threads=1)
    data = images.load("digits")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        model, metrics = train_images(data, recipe.config, runs, recipe.model)
    shipped = read_checkpoint(data_path("pretrained/images/digits.pt"))
    state, saved = model.state_dict(), shipped["model_state"]
    same = set(state) == set(saved) and all(torch.equal(state[k], saved[k]) for k in state)
    print(
        f"{len(state)} tensors, bit for bit equal: {same}; test bits/dim "
        f"{metrics['test_bits_per_dim']!r} (shipped {shipped['metrics']['test_bits_per_dim']!r}); "
        f"best iteration {metrics['best_iteration']} (shipped "
        f"{shipped['metrics']['best_iteration']}); {time.perf_counter() - started:.0f} s, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
