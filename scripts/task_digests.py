"""Fingerprints of short training runs of every task, to show a refactor changed no number.

    python scripts/task_digests.py > after.json

Trains each task of `ffjord_edu.training` for a few steps on one thread (a toy CNF with
Hutchinson's trace and both RNODE penalties; OT flow matching on two stacked blocks; a tabular
CNF with the bottleneck estimator, learning-rate drops and early stopping; a multiscale image CNF
with a kinetic penalty; a VAE with an FFJORD posterior) and prints, per task, a SHA-256 of the
final weights and one metric. Run it before and after a change on the same machine: equal
digests mean the same random draws in the same order and the same arithmetic, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import tempfile

import torch
from torch import nn

from ffjord_edu.datasets import images, tabular
from ffjord_edu.training import TrainConfig, train_images, train_tabular, train_toy, train_vae
from ffjord_edu.training.recipes import vae_recipe

SMALL = {"hidden": (16, 16), "method": "rk4", "step_size": 0.25}


def digest(model: nn.Module) -> str:
    """The first 16 hex digits of a SHA-256 over the state dict, key by key."""
    hashed = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        hashed.update(key.encode())
        hashed.update(value.detach().cpu().contiguous().numpy().tobytes())
    return hashed.hexdigest()[:16]


def config(iters: int, every: int, batch: int, **changes: object) -> TrainConfig:
    return TrainConfig(
        iters=iters, batch_size=batch, lr=5e-3, eval_every=every, checkpoint_every=every,
        **changes,
    )  # fmt: skip


def main() -> None:
    torch.set_num_threads(1)
    out: dict[str, tuple[str, float]] = {}
    toy_options = {**SMALL, "trace": "hutchinson", "kinetic": 0.1, "jacobian": 0.1}
    model, metrics = train_toy(
        "8gaussians", config(6, 3, 64), tempfile.mkdtemp(), toy_options, eval_samples=200
    )
    out["toy"] = (digest(model), metrics["history"][-1]["train_loss"])
    model, metrics = train_toy(
        "moons",
        config(6, 3, 64, objective="ot-fm"),
        tempfile.mkdtemp(),
        {**SMALL, "blocks": 2},
        eval_samples=200,
    )
    out["flow_matching"] = (digest(model), metrics["history"][-1]["train_loss"])
    model, metrics = train_tabular(
        tabular.load("breast_cancer"),
        config(6, 2, 64, lr_patience=1, patience=2),
        tempfile.mkdtemp(),
        {**SMALL, "trace": "bottleneck"},
    )
    out["tabular"] = (digest(model), metrics["test_nll"])
    digits = images.load("digits")
    image_options = {"scales": 2, "blocks": 1, "hidden": (8,), "method": "rk4", "step_size": 0.5}
    model, metrics = train_images(
        digits,
        TrainConfig(iters=3, batch_size=16, lr=2e-3, eval_every=3, checkpoint_every=3),
        tempfile.mkdtemp(),
        {**image_options, "kinetic": 0.01},
        eval_trace="hutchinson",
    )
    out["images"] = (digest(model), metrics["test_bits_per_dim"])
    model, metrics = train_vae(
        digits,
        TrainConfig(iters=4, batch_size=16, lr=2e-3, eval_every=2, checkpoint_every=2),
        tempfile.mkdtemp(),
        {**vae_recipe("ffjord").model, "hidden": [16]},
    )
    out["vae"] = (digest(model), metrics["history"][-1]["validation_neg_elbo"])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
