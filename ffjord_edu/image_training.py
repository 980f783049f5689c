"""Training the multiscale image CNF: named presets, the bits/dim evaluator, `train_images`.

The presets:

- ``digits``: the small model of the shipped checkpoint, 8×8 digits on one CPU thread: 2
  scales, 1 block per stage, concat-squash 3×3 convolutions of 32 channels, 1,000 Adam steps
  (591 s of steps on one thread of our 2-core machine at load average 2).
- ``mnist`` and ``cifar10``: FFJORD's published settings (the commands of its README:
  ``--dims 64,64,64 --strides 1,1,1,1 --num_blocks 2 --layer_type concat --multiscale True
  --rademacher True``, softplus, dopri5 at atol = rtol = 1e-5, batch 200, Adam at lr 1e-3,
  α = 1e-6): 3 scales for 28×28, 4 for 32×32. The paper reports 0.99 (MNIST) and 3.40
  (CIFAR-10) test bits/dim after days on GPUs. FFJORD also learned each block's end time
  and used 1,000 warm-up iterations; we keep T = 1 fixed.

Batches are dequantised in `next_batch` from a generator seeded by (seed, iteration), before
they are sharded over processes, so two processes see exactly the noise one process sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .datasets import images
from .models.multiscale import MultiscaleCNF
from .runtime import device
from .train import TrainConfig, _write_metrics, data_record, train

__all__ = ["PRESETS", "ImageRecipe", "evaluate_bits_per_dim", "image_recipe", "train_images"]

# A seed no training batch uses, so the evaluation's dequantisation noise is fixed.
EVAL_SEED = 2_147_483_647


@dataclass(frozen=True)
class ImageRecipe:
    """A named image preset: the `MultiscaleCNF` options, the `TrainConfig`, and how to evaluate
    (``eval_trace``: ``"exact"`` where D is small, else Hutchinson, unbiased for log p)."""

    model: dict[str, Any]
    config: TrainConfig
    eval_trace: str = "exact"
    data: str = "digits"
    notes: dict[str, Any] = field(default_factory=dict)


_PAPER_MODEL = {
    "scales": 3,
    "blocks": 2,
    "hidden": (64, 64, 64),
    "layer": "concat",
    "activation": "softplus",
    "alpha": 1e-6,
    "trace": "hutchinson",
    "noise": "rademacher",
    "method": "dopri5",
    "atol": 1e-5,
    "rtol": 1e-5,
}

PRESETS: dict[str, ImageRecipe] = {
    "digits": ImageRecipe(
        model={
            "scales": 2,
            "blocks": 1,
            "hidden": (32, 32),
            "layer": "concatsquash",
            "activation": "softplus",
            "alpha": 0.05,
            "trace": "hutchinson",
            "noise": "rademacher",
            "method": "dopri5",
            "atol": 1e-3,
            "rtol": 1e-3,
        },
        config=TrainConfig(
            iters=1000,
            batch_size=64,
            lr=2e-3,
            schedule="cosine",
            eval_every=100,
            checkpoint_every=100,
            eval_atol=1e-5,
            eval_rtol=1e-5,
        ),
    ),
    "mnist": ImageRecipe(
        model=_PAPER_MODEL,
        config=TrainConfig(
            iters=300_000, batch_size=200, lr=1e-3, eval_every=3000, checkpoint_every=1000
        ),
        eval_trace="hutchinson",
        data="mnist",
        notes={"paper_test_bits_per_dim": 0.99},
    ),
    "cifar10": ImageRecipe(
        model={**_PAPER_MODEL, "scales": 4},
        config=TrainConfig(
            iters=250_000, batch_size=200, lr=1e-3, eval_every=2500, checkpoint_every=1000
        ),
        eval_trace="hutchinson",
        data="cifar10",
        notes={"paper_test_bits_per_dim": 3.40},
    ),
}


def image_recipe(name: str) -> ImageRecipe:
    """The preset ``name`` (one of `PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown image preset '{name}'; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


@torch.no_grad()
def evaluate_bits_per_dim(
    model: MultiscaleCNF,
    pixels: torch.Tensor,
    trace: str = "exact",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    chunk: int = 500,
    seed: int = EVAL_SEED,
) -> float:
    """Mean bits/dim of ``uint8`` images under ``model``, each dequantised with fixed noise
    (``seed``), solved with dopri5 at the given tolerances and ``trace``."""
    generator = torch.Generator().manual_seed(seed)
    target = next(model.parameters()).device
    values = []
    with model.using(trace=trace, method="dopri5", atol=atol, rtol=rtol, step_size=None):
        for part in pixels.split(chunk):
            y = images.dequantize(part, model.levels, generator).to(target)
            if trace == "hutchinson":  # the probe is drawn from the global generator: fix it
                torch.manual_seed(seed)
            values.append(model.bits_per_dim(y))
    return float(torch.cat(values).mean())


def _evaluator(
    data: images.ImageData, trace: str, atol: float, rtol: float
) -> Callable[[MultiscaleCNF], dict[str, float]]:
    def evaluate(model: MultiscaleCNF) -> dict[str, float]:
        bpd = evaluate_bits_per_dim(model, data.validation, trace, atol, rtol)
        # validation_nll (nats per image) drives best-model tracking in the training loop.
        nll = data.dim * (bpd * math.log(2) - math.log(data.levels))
        return {"validation_bits_per_dim": bpd, "validation_nll": nll}

    return evaluate


def train_images(
    data: images.ImageData,
    config: TrainConfig,
    out: str | Path,
    model_options: dict[str, Any] | None = None,
    resume: bool = False,
    eval_trace: str = "exact",
    callback: Callable[[int, dict[str, float]], None] | None = None,
    allow_changes: bool = False,
) -> tuple[MultiscaleCNF, dict[str, Any]]:
    """Train a `MultiscaleCNF` on ``data`` with the shared loop; report test bits/dim.

    Batches: ``config.batch_size`` training images drawn with replacement and dequantised with
    noise seeded by (seed, iteration). Every ``eval_every`` iterations the validation bits/dim
    (fixed noise, Hutchinson's estimate with a fixed probe) is measured; the best model is kept and finally evaluated on the test split.

    Returns:
        The best model and its metrics (also in ``out/metrics.json``), with
        ``test_bits_per_dim``.
    """
    torch.manual_seed(config.seed)
    model = MultiscaleCNF(data.shape, data.levels, **(model_options or {})).to(device())
    pixels = data.train

    def next_batch(iteration: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + iteration)
        rows = torch.randint(len(pixels), (config.batch_size,), generator=generator)
        return images.dequantize(pixels[rows], data.levels, generator)

    # Validation during training uses Hutchinson's estimate (one VJP instead of D, unbiased
    # for log p, and a fixed probe); the test split gets ``eval_trace`` once at the end.
    evaluate = _evaluator(data, "hutchinson", config.eval_atol, config.eval_rtol)
    record = data_record(data.name, data.train, data.validation, data.test)
    metrics = train(
        model, next_batch, config, out, evaluate, resume, callback, record, allow_changes
    )
    model.eval()
    metrics["test_bits_per_dim"] = evaluate_bits_per_dim(
        model, data.test, eval_trace, config.eval_atol, config.eval_rtol
    )
    metrics["test_nfe_forward"] = model.nfe["forward"]
    metrics["parameters"] = sum(p.numel() for p in model.parameters())
    if distributed.is_main():
        _write_metrics(Path(out), metrics)
    return model, metrics
