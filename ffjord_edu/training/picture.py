"""Training a 2-D flow on your own picture, in short chunks that can stop at any step.

The shared loop (`ffjord_edu.training.train`) runs a fixed number of steps and writes files; the
playground needs a loop that a Stop button can interrupt between two steps and that resumes in
memory. `PictureTrainer` is that loop, and nothing more: the loss is the same
`ffjord_edu.models.flow_matching.objective_loss` (flow matching, or FFJORD's maximum likelihood plus the
RNODE penalties the `CNF` carries), the learning rate the same `TrainConfig.learning_rate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..cnf import CNF
from ..datasets.picture import PictureDensity
from ..models.flow_matching import objective_loss
from ..options import check_choice
from .loop import TrainConfig
from .runtime import step_generator, step_seed

__all__ = [
    "PICTURE_OBJECTIVES",
    "PictureTrainer",
    "evaluate_picture",
    "picture_model",
    "picture_recipe",
    "sampling_nfe",
]

# The objectives the playground offers: (TrainConfig.objective, RNODE penalty weights).
PICTURE_OBJECTIVES: dict[str, tuple[str, dict[str, float]]] = {
    "flow matching": ("fm", {}),
    "maximum likelihood": ("mle", {}),
    "maximum likelihood + RNODE": ("mle", {"kinetic": 0.05, "jacobian": 0.05}),
}
# The network of every picture flow, and how the maximum-likelihood objective solves it in
# training: fixed-step RK4 with 8 steps, as the toy recipes with thin arms (ffjord_edu.training.recipes).
PICTURE_NETWORK: dict[str, Any] = {"hidden": (128, 128, 128), "activation": "swish"}
MLE_SOLVER: dict[str, Any] = {"method": "rk4", "step_size": 0.125}


def picture_recipe(
    objective: str = "flow matching", iters: int = 2000, seed: int = 0
) -> TrainConfig:
    """The training settings of the picture flows: batch 512, Adam from lr 6e-3 with a cosine
    schedule over ``iters`` steps, the ``objective`` a name of `PICTURE_OBJECTIVES`.

    Letters are sharp, high-frequency detail for a small MLP: at lr 2e-3 a 3×128 network still
    drew a blurred box after 8,000 flow-matching steps, at 6e-3 the letters began to form."""
    check_choice("objective", objective, PICTURE_OBJECTIVES)
    return TrainConfig(
        iters=iters,
        batch_size=512,
        lr=6e-3,
        schedule="cosine",
        seed=seed,
        objective=PICTURE_OBJECTIVES[objective][0],
    )


def picture_model(objective: str = "flow matching", seed: int = 0) -> CNF:
    """A fresh 2-D `CNF` for a picture (3×128 concat-squash, swish), with the training solver of
    ``objective``: dopri5 for flow matching (used only to sample), RK4 for maximum likelihood."""
    _, penalties = PICTURE_OBJECTIVES[objective]
    torch.manual_seed(seed)
    solver = MLE_SOLVER if PICTURE_OBJECTIVES[objective][0] == "mle" else {}
    return CNF(2, **PICTURE_NETWORK, **solver, **penalties)


@dataclass
class PictureTrainer:
    """Adam on ``model`` with batches from ``density``; `run` goes on from where it stopped.

    Arguments:
        model: the flow (trained in place).
        density: the picture to learn.
        config: batch size, learning rate, schedule (its ``iters`` sets the schedule's length;
            training can go past it at the final rate), seed, objective.

    Attributes:
        history: one record per step: ``iteration``, ``loss``, ``nfe`` (function evaluations of
            the training step: the solver's for maximum likelihood, 1 for flow matching) and
            ``seconds``.
    """

    model: CNF
    density: PictureDensity
    config: TrainConfig
    history: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
        self.loss = objective_loss(self.config.objective)

    @property
    def iteration(self) -> int:
        return len(self.history)

    def step(self) -> dict[str, float]:
        """One optimiser step on a fresh batch; the batch and the noise are seeded by the step."""
        iteration = self.iteration
        generator = step_generator(self.config.seed, iteration)
        torch.manual_seed(step_seed(self.config.seed, iteration))
        x = self.density.sample(self.config.batch_size, generator=generator)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate(iteration)
        started = time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self.loss(self.model, x)
        nfe = self.model.nfe["forward"]
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss.item()} at step {iteration}; start again with a lower "
                "learning rate (or flow matching, which solves no ODE while training)"
            )
        loss.backward()
        self.optimizer.step()
        self.model.eval()
        record = {
            "iteration": iteration + 1,
            "loss": loss.item(),
            "nfe": float(nfe),
            "seconds": time.perf_counter() - started,
        }
        self.history.append(record)
        return record

    def run(
        self,
        steps: int,
        should_stop: Callable[[], bool] = lambda: False,
        callback: Callable[[dict[str, float]], None] | None = None,
    ) -> int:
        """Take up to ``steps`` steps, checking ``should_stop()`` before each; returns how many
        were taken. ``callback(record)`` follows each step (a live view)."""
        taken = 0
        while taken < steps and not should_stop():
            record = self.step()
            taken += 1
            if callback is not None:
                callback(record)
        return taken

    @property
    def seconds(self) -> float:
        """Time spent in training steps so far (live views and evaluations not counted)."""
        return sum(record["seconds"] for record in self.history)


@torch.no_grad()
def evaluate_picture(
    model: CNF,
    density: PictureDensity,
    n: int = 5000,
    seed: int = 2_147_483_647,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> dict[str, float]:
    """Test NLL on ``n`` fresh samples (dopri5, exact trace), the exact entropy and the KL gap.

    :math:`\\mathrm{KL}(p \\,\\|\\, p_\\theta) = \\mathbb{E}_p[-\\log p_\\theta] - H(p)`: the NLL
    estimates the first term on samples, the picture gives the second exactly. ``standard_error``
    is the Monte-Carlo error of the NLL (and so of the gap).
    """
    test = density.sample(n, generator=torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    with model.using(trace="exact", method="dopri5", atol=atol, rtol=rtol, step_size=None):
        nll = torch.cat([-model.log_prob(x.to(device)).cpu() for x in test.split(5000)])
    entropy = density.entropy()
    return {
        "test_nll": float(nll.mean()),
        "true_entropy": entropy,
        "kl_gap": float(nll.mean()) - entropy,
        "standard_error": float(nll.std()) / n**0.5,
    }


def sampling_nfe(model: CNF, n: int = 500, seed: int = 0) -> tuple[torch.Tensor, int]:
    """``n`` samples drawn with dopri5 at the model's tolerances, and the solve's NFE."""
    with torch.no_grad(), model.using(method="dopri5", step_size=None):
        x = model.sample(n, generator=torch.Generator().manual_seed(seed))
        return x, model.nfe["forward"]
