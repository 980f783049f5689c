"""Training tasks: what a model trains on and how it is judged, and the one runner for all.

A `Task` holds the untrained model's constructor, the batch of each step, the evaluation during
training, what identifies the data, and a final test. `run_task` does what every task needs:
seed, build, `ffjord_edu.training.train`, test the kept model, write the metrics. The four
tasks of the package are built here: `train_toy` and `train_tabular` (a `CNF`), `train_images`
(a `MultiscaleCNF`) and `train_vae` (a `VAE`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..cnf import CNF
from ..datasets import images, tabular, toy
from ..models.multiscale import MultiscaleCNF
from ..models.vae import VAE
from .loop import TrainConfig, data_record, train, write_metrics
from .runtime import device, step_generator, step_seed

__all__ = [
    "EVAL_SEED",
    "Task",
    "bits_per_dim_evaluator",
    "evaluate_bits_per_dim",
    "evaluate_nll",
    "rows_of_step",
    "run_task",
    "tabular_evaluator",
    "toy_evaluator",
    "train_images",
    "train_tabular",
    "train_toy",
    "train_vae",
    "vae_evaluator",
]

# A seed no training batch uses, so an evaluation's samples or dequantisation noise are fixed.
EVAL_SEED = 2_147_483_647

Callback = Callable[[int, dict[str, float]], None] | None


@dataclass(frozen=True)
class Task:
    """What to train and how to judge it.

    Attributes:
        build: makes the untrained model (called right after seeding with ``config.seed``).
        next_batch: ``iteration -> batch`` (a function of the seed and the iteration).
        evaluate: ``model -> metrics`` every ``eval_every`` steps (``validation_nll`` drives
            model selection and early stopping).
        data: what identifies the data (`data_record`), saved with the checkpoint.
        test: ``model -> metrics``, once, on the kept model at the end (``None``: no test).
    """

    build: Callable[[], nn.Module]
    next_batch: Callable[[int], Tensor]
    evaluate: Callable[[Any], dict[str, float]]
    data: dict[str, Any]
    test: Callable[[Any], dict[str, Any]] | None = None


def run_task(
    task: Task,
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    callback: Callback = None,
    allow_changes: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Seed, build, train (`ffjord_edu.training.train`), test; returns ``(model, metrics)``.

    The metrics, with the test's, are in ``out/metrics.json`` (written by the main process).
    """
    torch.manual_seed(config.seed)
    model = task.build().to(device())
    metrics = train(
        model, task.next_batch, config, out, task.evaluate, resume, callback, task.data,
        allow_changes,
    )  # fmt: skip
    if task.test is not None:
        model.eval()
        metrics.update(task.test(model))
        write_metrics(Path(out), metrics)
    return model, metrics


def rows_of_step(rows: Tensor, config: TrainConfig) -> Callable[[int], Tensor]:
    """``iteration -> batch``: ``config.batch_size`` rows drawn with replacement, seeded per step."""

    def next_batch(iteration: int) -> Tensor:
        generator = step_generator(config.seed, iteration)
        return rows[torch.randint(len(rows), (config.batch_size,), generator=generator)]

    return next_batch


# --- CNFs on points: toy densities and tabular data --------------------------------------------


@torch.no_grad()
def evaluate_nll(
    model: CNF, data: Tensor, atol: float = 1e-5, rtol: float = 1e-5, chunk: int = 5000
) -> float:
    """Mean negative log-likelihood in nats, with the exact trace and dopri5 at the given tolerances."""
    with model.using(trace="exact", method="dopri5", atol=atol, rtol=rtol, step_size=None):
        return float(torch.cat([-model.log_prob(x) for x in data.split(chunk)]).mean())


def toy_evaluator(
    name: str, n: int = 10_000, atol: float = 1e-5, rtol: float = 1e-5, seed: int = EVAL_SEED
) -> Callable[[CNF], dict[str, float]]:
    """Test NLL on ``n`` fresh samples (a seed no training batch uses), and the KL gap
    ``test_nll - entropy`` where the true entropy is known."""
    test = toy.sample(name, n, seed=seed)
    entropy = toy.entropy(name) if name in toy.HAS_LOG_PROB else None

    def evaluate(model: CNF) -> dict[str, float]:
        nll = evaluate_nll(model, test.to(next(model.parameters()).device), atol, rtol)
        metrics = {"test_nll": nll}
        if entropy is not None:
            metrics.update(true_entropy=entropy, kl_gap=nll - entropy)
        return metrics

    return evaluate


def train_toy(
    data: str,
    config: TrainConfig,
    out: str | Path,
    model_options: dict[str, Any] | None = None,
    resume: bool = False,
    eval_samples: int = 10_000,
    callback: Callback = None,
    allow_changes: bool = False,
) -> tuple[CNF, dict[str, Any]]:
    """Train a 2-D `CNF` on the toy density ``data`` (see `ffjord_edu.datasets.toy.NAMES`).

    Returns:
        The trained flow and its metrics (also in ``out/metrics.json``).
    """
    toy.check_name(data)
    task = Task(
        build=lambda: CNF(2, **(model_options or {})),
        next_batch=lambda i: toy.sample(data, config.batch_size, seed=step_seed(config.seed, i)),
        evaluate=toy_evaluator(data, eval_samples, config.eval_atol, config.eval_rtol),
        data=data_record(data),
    )
    return run_task(task, config, out, resume, callback, allow_changes)


def tabular_evaluator(
    data: tabular.TabularData, atol: float = 1e-5, rtol: float = 1e-5
) -> Callable[[CNF], dict[str, float]]:
    """Validation NLL (exact trace), for learning-rate drops and early stopping."""

    def evaluate(model: CNF) -> dict[str, float]:
        validation = data.validation.to(next(model.parameters()).device)
        return {"validation_nll": evaluate_nll(model, validation, atol, rtol)}

    return evaluate


def train_tabular(
    data: tabular.TabularData,
    config: TrainConfig,
    out: str | Path,
    model_options: dict[str, Any] | None = None,
    resume: bool = False,
    callback: Callback = None,
    allow_changes: bool = False,
) -> tuple[CNF, dict[str, Any]]:
    """Train a `CNF` on a tabular data set with the benchmark protocol.

    Batches are drawn from the training split; the validation NLL drives learning-rate drops
    and early stopping (``config.patience``, ``config.lr_patience``); the best model is then
    evaluated once on the test split, with the exact trace, and ``test_nll`` joins the metrics.

    Returns:
        The best flow and its metrics (also in ``out/metrics.json``).
    """

    def test(model: CNF) -> dict[str, float]:
        rows = data.test.to(next(model.parameters()).device)
        return {"test_nll": evaluate_nll(model, rows, config.eval_atol, config.eval_rtol)}

    task = Task(
        build=lambda: CNF(data.dim, **(model_options or {})),
        next_batch=rows_of_step(data.train, config),
        evaluate=tabular_evaluator(data, config.eval_atol, config.eval_rtol),
        data=data_record(data.name, data.train, data.validation, data.test),
        test=test,
    )
    return run_task(task, config, out, resume, callback, allow_changes)


# --- Images: the multiscale CNF, and the VAE on binarised images ---------------------------------


@torch.no_grad()
def evaluate_bits_per_dim(
    model: MultiscaleCNF,
    pixels: Tensor,
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


def bits_per_dim_evaluator(
    data: images.ImageData, trace: str, atol: float, rtol: float
) -> Callable[[MultiscaleCNF], dict[str, float]]:
    """Validation bits/dim, and the same as ``validation_nll`` (nats per image) for model
    selection."""

    def evaluate(model: MultiscaleCNF) -> dict[str, float]:
        bpd = evaluate_bits_per_dim(model, data.validation, trace, atol, rtol)
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
    callback: Callback = None,
    allow_changes: bool = False,
) -> tuple[MultiscaleCNF, dict[str, Any]]:
    """Train a `MultiscaleCNF` on ``data``; report test bits/dim.

    Batches: ``config.batch_size`` training images drawn with replacement and dequantised with
    noise seeded by (seed, iteration), before they are sharded over processes, so two processes
    see exactly the noise one process sees. Every ``eval_every`` iterations the validation
    bits/dim (fixed noise, Hutchinson's estimate with a fixed probe: one VJP instead of D,
    unbiased for log p) is measured; the best model is kept and finally evaluated on the test
    split with ``eval_trace``.

    Returns:
        The best model and its metrics (also in ``out/metrics.json``), with
        ``test_bits_per_dim``.
    """

    def next_batch(iteration: int) -> Tensor:
        generator = step_generator(config.seed, iteration)
        rows = torch.randint(len(data.train), (config.batch_size,), generator=generator)
        return images.dequantize(data.train[rows], data.levels, generator)

    def test(model: MultiscaleCNF) -> dict[str, Any]:
        bpd = evaluate_bits_per_dim(
            model, data.test, eval_trace, config.eval_atol, config.eval_rtol
        )
        return {
            "test_bits_per_dim": bpd,
            "test_nfe_forward": model.nfe["forward"],
            "parameters": sum(p.numel() for p in model.parameters()),
        }

    task = Task(
        build=lambda: MultiscaleCNF(data.shape, data.levels, **(model_options or {})),
        next_batch=next_batch,
        evaluate=bits_per_dim_evaluator(data, "hutchinson", config.eval_atol, config.eval_rtol),
        data=data_record(data.name, data.train, data.validation, data.test),
        test=test,
    )
    return run_task(task, config, out, resume, callback, allow_changes)


def vae_evaluator(validation: Tensor, samples: int = 4) -> Callable[[VAE], dict[str, float]]:
    """Validation −ELBO during training, with the training solver but the exact trace."""
    validation = validation.to(device())  # once, not at every evaluation

    def evaluate(model: VAE) -> dict[str, float]:
        with torch.no_grad(), model.using(trace="exact"):
            torch.manual_seed(0)
            neg_elbo = -float(model.elbo(validation, samples).mean())
        return {"validation_neg_elbo": neg_elbo}

    return evaluate


def train_vae(
    data: images.ImageData,
    config: TrainConfig,
    out: str | Path,
    model_options: dict[str, Any] | None = None,
    resume: bool = False,
    callback: Callback = None,
    validation_samples: int = 4,
    allow_changes: bool = False,
) -> tuple[VAE, dict[str, Any]]:
    """Train a `VAE` on the binarised images of ``data``.

    Batches are drawn from the binarised training split (fixed threshold at half intensity); the
    validation −ELBO is recorded every ``config.eval_every`` steps. The final model is kept
    (no model selection), so every posterior gets exactly the same budget.

    Returns:
        The trained VAE and its metrics (also in ``out/metrics.json``).
    """
    train_rows = images.binary_vectors(data.train, data.levels)
    options = {**(model_options or {}), "data_dim": train_rows.shape[1]}  # the data decides
    validation = images.binary_vectors(data.validation, data.levels)
    task = Task(
        build=lambda: VAE(**options),
        next_batch=rows_of_step(train_rows, config),
        evaluate=vae_evaluator(validation, validation_samples),
        data=data_record(data.name, data.train, data.validation, data.test),
    )
    return run_task(task, config, out, resume, callback, allow_changes)
