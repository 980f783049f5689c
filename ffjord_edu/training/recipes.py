"""Named training recipes: the settings that make the shipped models, in one place.

One `Recipe` type for every task: the toy and tabular CNFs, the image presets of the multiscale
CNF (`IMAGE_PRESETS`) and the VAE (`vae_recipe`).

The toy recipe trains with fixed-step RK4 (4 or 8 steps, no step-size control) and a
cosine learning-rate schedule; every reported likelihood is still measured with adaptive
Dormand–Prince at atol = rtol = 1e-5 and the exact trace. `docs/benchmarks.md` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..datasets import tabular, toy
from ..models.flow_matching import COUPLINGS
from ..models.posteriors import POSTERIORS
from ..options import check_choice
from .loop import TrainConfig

__all__ = [
    "IMAGE_PRESETS",
    "PAPER_TABULAR",
    "TABULAR_PRESETS",
    "VAE_DATA",
    "Recipe",
    "flow_matching_toy_recipe",
    "image_recipe",
    "shortened",
    "tabular_recipe",
    "toy_recipe",
    "vae_recipe",
]


@dataclass(frozen=True)
class Recipe:
    """How to train one model: the `TrainConfig`, and the model's options.

    Attributes:
        config: the training run.
        model: keyword arguments of the model's constructor.
        data: the data set it is meant for (``None``: the caller's).
        eval_trace: the trace of the final test (``"exact"`` where D is small, else Hutchinson,
            unbiased for log p).
        notes: what the recipe reproduces, e.g. the paper's number.
    """

    config: TrainConfig
    model: dict[str, Any] = field(default_factory=dict)
    data: str | None = None
    eval_trace: str = "exact"
    notes: dict[str, Any] = field(default_factory=dict)


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
    toy.check_name(name)
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
    return replace(recipe, config=config)


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


TABULAR_PRESETS: tuple[str, ...] = ("laptop", "paper")
# The VAE's budget per data set: iterations, batch size, learning rate, evaluation interval,
# and the widths of the encoder's and decoder's hidden layers.
VAE_BUDGETS: dict[str, tuple[int, int, float, int, list[int]]] = {
    "digits": (3000, 128, 2e-3, 500, [128, 128]),
    "mnist": (10_000, 100, 1e-3, 1000, [512, 256]),
}
VAE_DATA: tuple[str, ...] = tuple(VAE_BUDGETS)


def tabular_recipe(name: str, dim: int, preset: str = "laptop", seed: int = 0) -> Recipe:
    """Training recipe for a tabular set of dimension ``dim``.

    ``"paper"`` holds FFJORD's published settings for the five benchmarks (a GPU's work:
    hours to days). ``"laptop"`` is a small, fast recipe for the embedded default and for
    trying any set on a CPU: one block of 3×64 tanh, RK4 with 4 steps, early stopping.
    """
    check_choice("preset", preset, TABULAR_PRESETS)
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
    tabular.check_name(name)  # the laptop recipe
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


def flow_matching_toy_recipe(name: str, seed: int = 0, coupling: str = "independent") -> Recipe:
    """The flow matching recipe of the toy densities (notebook 10): the toy models' network,
    trained simulation-free (`ffjord_edu.models.flow_matching`) for 5000 iterations at batch 512 with
    Adam at 2e-3 and a cosine schedule; ``coupling`` ``"ot"`` pairs each batch by optimal
    transport. The flow keeps dopri5 at atol = rtol = 1e-5 for sampling and likelihoods.
    """
    toy.check_name(name)
    check_choice("coupling", coupling, COUPLINGS)
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


# --- Images -------------------------------------------------------------------------------------
# The presets:
#
# - ``digits``: the small model of the shipped checkpoint, 8×8 digits on one CPU thread: 2
#   scales, 1 block per stage, concat-squash 3×3 convolutions of 32 channels, 1,000 Adam steps
#   (591 s of steps on one thread of our 2-core machine at load average 2).
# - ``mnist`` and ``cifar10``: FFJORD's published settings (the commands of its README:
#   ``--dims 64,64,64 --strides 1,1,1,1 --num_blocks 2 --layer_type concat --multiscale True
#   --rademacher True``, softplus, dopri5 at atol = rtol = 1e-5, batch 200, Adam at lr 1e-3,
#   α = 1e-6): 3 scales for 28×28, 4 for 32×32. The paper reports 0.99 (MNIST) and 3.40
#   (CIFAR-10) test bits/dim after days on GPUs. FFJORD also learned each block's end time
#   and used 1,000 warm-up iterations; we keep T = 1 fixed.

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

IMAGE_PRESETS: dict[str, Recipe] = {
    "digits": Recipe(
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
    "mnist": Recipe(
        model=_PAPER_MODEL,
        config=TrainConfig(
            iters=300_000, batch_size=200, lr=1e-3, eval_every=3000, checkpoint_every=1000
        ),
        eval_trace="hutchinson",
        data="mnist",
        notes={"paper_test_bits_per_dim": 0.99},
    ),
    "cifar10": Recipe(
        model={**_PAPER_MODEL, "scales": 4},
        config=TrainConfig(
            iters=250_000, batch_size=200, lr=1e-3, eval_every=2500, checkpoint_every=1000
        ),
        eval_trace="hutchinson",
        data="cifar10",
        notes={"paper_test_bits_per_dim": 3.40},
    ),
}


def image_recipe(name: str) -> Recipe:
    """The preset ``name`` (one of `IMAGE_PRESETS`)."""
    check_choice("image preset", name, IMAGE_PRESETS)
    return IMAGE_PRESETS[name]


def vae_recipe(posterior: str, data: str = "digits") -> Recipe:
    """The shipped models' settings: the same budget for every posterior.

    Digits: a 2-D latent, encoder 64-128-128, 4 planar maps or 4 RK4 steps (16 function
    evaluations with Hutchinson's trace), 3,000 Adam steps of batch 128 with a cosine schedule
    from lr 2e-3. MNIST: the paper's sizes are far larger; this
    laptop recipe keeps a 2-D latent to stay viewable.
    """
    check_choice("posterior", posterior, POSTERIORS)
    check_choice("data set for a VAE recipe", data, VAE_DATA)
    iters, batch_size, lr, every, hidden = VAE_BUDGETS[data]
    config = TrainConfig(
        iters=iters,
        batch_size=batch_size,
        lr=lr,
        schedule="cosine",
        eval_every=every,
        checkpoint_every=every,
    )
    options = {"data_dim": 64 if data == "digits" else 784, "latent_dim": 2, "hidden": hidden}
    return Recipe(config, {**options, "posterior": posterior, "flow_steps": 4}, data=data)
