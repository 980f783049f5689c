"""Named training recipes: the settings that make the shipped models, in one place.

The toy recipe trains with fixed-step RK4 (4 or 8 steps, no step-size control) and a
cosine learning-rate schedule; every reported likelihood is still measured with adaptive
Dormand–Prince at atol = rtol = 1e-5 and the exact trace. `docs/benchmarks.md` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .datasets import tabular, toy
from .train import TrainConfig

__all__ = [
    "PAPER_TABULAR",
    "Recipe",
    "flow_matching_toy_recipe",
    "shortened",
    "tabular_recipe",
    "toy_recipe",
]


@dataclass(frozen=True)
class Recipe:
    """A `TrainConfig` and the `CNF` options to train with it."""

    config: TrainConfig
    model: dict[str, Any] = field(default_factory=dict)


FAST_TOY_MODEL: dict[str, Any] = {"hidden": (64, 64, 64), "method": "rk4", "step_size": 0.25}
# RK4 steps per density. A flow trained with too few fixed steps learns to exploit RK4's error:
# with 4 steps the training loss of pinwheel and checkerboard kept falling while their dopri5
# test NLL rose (checkerboard: RK4 3.10, dopri5 4.86 nats), so every density with thin arms or
# sharp edges takes 8 steps, and rings, whose thin annuli still did that with 8 (RK4 2.14,
# dopri5 3.23 nats), takes 16; 8gaussians reaches its target with 4.
TOY_STEP_SIZES: dict[str, float] = {
    "8gaussians": 0.25,
    "pinwheel": 0.125,
    "checkerboard": 0.125,
    "2spirals": 0.125,
    "moons": 0.125,
    "circles": 0.125,
    "rings": 0.0625,
    "swissroll": 0.125,
}
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
    return Recipe(config, {**FAST_TOY_MODEL, "step_size": TOY_STEP_SIZES[name]})


def shortened(recipe: Recipe, iters: int) -> Recipe:
    """The same recipe run for ``iters`` iterations (fast mode, smoke tests)."""
    config = replace(recipe.config, iters=iters, eval_every=iters, checkpoint_every=iters)
    return Recipe(config, recipe.model)


# FFJORD's tabular settings (Grathwohl et al. 2019, appendix): nonlinearity, hidden layers,
# hidden width as a multiple of D, stacked flow steps, batch size. Solved with dopri5 at
# atol 1e-8, rtol 1e-6.
PAPER_TABULAR: dict[str, tuple[str, int, int, int, int]] = {
    "power": ("tanh", 3, 10, 5, 10_000),
    "gas": ("tanh", 3, 20, 5, 1_000),
    "hepmass": ("softplus", 2, 10, 10, 10_000),
    "miniboone": ("softplus", 2, 20, 1, 1_000),
    "bsds300": ("softplus", 3, 20, 2, 10_000),
}


def tabular_recipe(name: str, dim: int, preset: str = "laptop", seed: int = 0) -> Recipe:
    """Training recipe for a tabular set of dimension ``dim``.

    ``"paper"`` holds FFJORD's published settings for the five benchmarks (a GPU's work:
    hours to days). ``"laptop"`` is a small, fast recipe for the embedded default and for
    trying any set on a CPU: one block of 3×64 tanh, RK4 with 4 steps, early stopping.
    """
    if preset == "paper":
        if name not in PAPER_TABULAR:
            raise ValueError(
                f"the paper preset exists for {', '.join(PAPER_TABULAR)}, not for '{name}'; "
                "use --preset laptop"
            )
        activation, layers, width, blocks, batch = PAPER_TABULAR[name]
        config = TrainConfig(
            iters=1_000_000,
            batch_size=batch,
            lr=1e-3,
            seed=seed,
            eval_every=1_000,
            checkpoint_every=1_000,
            patience=30,
            lr_patience=10,
            eval_atol=1e-8,
            eval_rtol=1e-6,
        )
        model = {
            "hidden": (width * dim,) * layers,
            "activation": activation,
            "blocks": blocks,
            "trace": "hutchinson",
            "method": "dopri5",
            "atol": 1e-8,
            "rtol": 1e-6,
        }
        return Recipe(config, model)
    if preset == "laptop":
        if name not in tabular.NAMES:
            raise ValueError(
                f"unknown tabular dataset '{name}'; choose one of: {', '.join(tabular.NAMES)}"
            )
        config = TrainConfig(
            iters=3_000,
            batch_size=256,
            lr=3e-3,
            seed=seed,
            eval_every=100,
            checkpoint_every=100,
            patience=8,
            lr_patience=4,
        )
        return Recipe(config, dict(FAST_TOY_MODEL))
    raise ValueError(f"unknown preset '{preset}'; choose one of: laptop, paper")


def flow_matching_toy_recipe(name: str, seed: int = 0, coupling: str = "independent") -> Recipe:
    """The flow matching recipe of the toy densities (notebook 10): the toy models' network,
    trained simulation-free (`ffjord_edu.flow_matching`) for 5000 iterations at batch 512 with
    Adam at 2e-3 and a cosine schedule; ``coupling`` ``"ot"`` pairs each batch by optimal
    transport. The flow keeps dopri5 at atol = rtol = 1e-5 for sampling and likelihoods.
    """
    if name not in toy.NAMES:
        raise ValueError(f"unknown toy dataset '{name}'; choose one of: {', '.join(toy.NAMES)}")
    if coupling not in ("independent", "ot"):
        raise ValueError(f"unknown coupling '{coupling}'; choose one of: independent, ot")
    iters = 5000
    config = TrainConfig(
        iters=iters,
        batch_size=512,
        lr=2e-3,
        schedule="cosine",
        seed=seed,
        eval_every=iters // 10,
        checkpoint_every=iters // 10,
        objective="fm" if coupling == "independent" else "ot-fm",
    )
    return Recipe(config, {"hidden": (64, 64, 64)})
