"""Named training recipes: the settings that make the shipped models, in one place.

The toy recipe trains with fixed-step RK4 (a handful of steps, no step-size control) and a
cosine learning-rate schedule; every reported likelihood is still measured with adaptive
Dormand–Prince at atol = rtol = 1e-5 and the exact trace. `docs/benchmarks.md` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .datasets import toy
from .train import TrainConfig

__all__ = ["Recipe", "toy_recipe"]


@dataclass(frozen=True)
class Recipe:
    """A `TrainConfig` and the `CNF` options to train with it."""

    config: TrainConfig
    model: dict[str, Any] = field(default_factory=dict)


FAST_TOY_MODEL: dict[str, Any] = {"hidden": (64, 64, 64), "method": "rk4", "step_size": 0.25}
# Iterations per density: sharp edges (checkerboard) and thin arms need longer.
TOY_ITERATIONS: dict[str, int] = {
    "8gaussians": 1500,
    "pinwheel": 2000,
    "checkerboard": 5000,
    "2spirals": 3000,
    "moons": 2000,
    "circles": 2000,
    "rings": 3000,
    "swissroll": 3000,
}


def toy_recipe(name: str, seed: int = 0) -> Recipe:
    """The recipe of the pretrained model of toy density ``name``."""
    if name not in toy.NAMES:
        raise ValueError(f"unknown toy dataset '{name}'; choose one of: {', '.join(toy.NAMES)}")
    iters = TOY_ITERATIONS[name]
    config = TrainConfig(
        iters=iters,
        batch_size=512,
        lr=5e-3,
        schedule="cosine",
        seed=seed,
        eval_every=max(iters // 10, 1),
        checkpoint_every=max(iters // 10, 1),
    )
    return Recipe(config, dict(FAST_TOY_MODEL))


def shortened(recipe: Recipe, iters: int) -> Recipe:
    """The same recipe run for ``iters`` iterations (fast mode, smoke tests)."""
    config = replace(recipe.config, iters=iters, eval_every=iters, checkpoint_every=iters)
    return Recipe(config, recipe.model)
