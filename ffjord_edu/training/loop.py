"""One training loop for every model: progress bar, evaluation, metrics, checkpoints, resume.

`train` needs of a model only what `Trainable` declares; a task (`ffjord_edu.training.tasks`)
says what to train on and how to evaluate. One step, in order: the step's seed (`step_seed`),
the learning rate (`TrainConfig.learning_rate`), this process's shard of the batch
(`distributed.shard`), the loss through `DistributedDataParallel` when several processes train
(`distributed.data_parallel`), the backward pass (which averages gradients over processes),
Adam's step, and the checks that stop a diverging run with its last good checkpoint kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..models.flow_matching import OBJECTIVES, objective_loss
from ..options import check_choice
from ..solvers import StepSizeUnderflow
from . import distributed
from .checkpoints import (
    RunLock,
    check_writable,
    read_checkpoint,
    remove_stale_temporaries,
    write_atomically,
    write_checkpoint,
)
from .runtime import step_seed

__all__ = [
    "LOSS_RISE_LIMIT",
    "SCHEDULES",
    "NonFiniteLossError",
    "ResumeMismatch",
    "TrainConfig",
    "Trainable",
    "data_record",
    "track_validation",
    "train",
    "write_metrics",
]


@runtime_checkable
class Trainable(Protocol):
    """What `train` needs of a model (besides being an ``nn.Module``).

    `ffjord_edu.cnf.CNF`, `ffjord_edu.models.multiscale.MultiscaleCNF` and
    `ffjord_edu.models.vae.VAE` are trainable.
    """

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild the model, saved with every checkpoint."""
        ...

    @property
    def nfe(self) -> dict[str, int]:
        """Function evaluations of the last solve: ``forward`` and ``backward`` (0 without ODEs)."""
        ...

    def training_loss(self, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The loss of batch ``x`` to minimise, and its parts as numbers for the log."""
        ...


class _Objective(nn.Module):
    """The model's training objective as a module, so `DistributedDataParallel` can wrap it."""

    def __init__(self, model: nn.Module, objective: str) -> None:
        super().__init__()
        self.model = model
        self.loss = objective_loss(objective)

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        return self.loss(self.model, x)


SCHEDULES: tuple[str, ...] = ("constant", "cosine")


@dataclass
class TrainConfig:
    """What one training run does. Everything here is saved with the checkpoint.

    Arguments:
        iters: total optimiser steps.
        batch_size: samples per step.
        lr: Adam's learning rate; with ``schedule="cosine"`` it decays to 0 at ``iters``.
        seed: every batch and Hutchinson probe is a function of (seed, iteration), so a resumed
            run repeats exactly what an uninterrupted one does.
        eval_every, checkpoint_every: how often to evaluate and to write the checkpoint.
        eval_atol, eval_rtol: tolerances of the evaluation solve (always dopri5, exact trace).
        patience: when the evaluation reports ``validation_nll``, stop after this many
            evaluations in a row without a better one (early stopping); ``None`` never stops.
            The best model (kept in ``best.pt``) is restored at the end.
        lr_patience, lr_drop: multiply the learning rate by ``lr_drop`` after every
            ``lr_patience`` evaluations in a row without a better validation NLL.
        objective: ``"mle"`` (maximum likelihood through the ODE solve, FFJORD), or
            simulation-free flow matching, ``"fm"`` (independent coupling) or ``"ot-fm"``
            (mini-batch optimal-transport coupling); see `ffjord_edu.models.flow_matching`.
    """

    iters: int = 1000
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    seed: int = 0
    eval_every: int = 100
    checkpoint_every: int = 100
    eval_atol: float = 1e-5
    eval_rtol: float = 1e-5
    patience: int | None = None
    lr_patience: int | None = None
    lr_drop: float = 0.1
    objective: str = "mle"

    def __post_init__(self) -> None:
        for name in (
            "iters",
            "batch_size",
            "eval_every",
            "checkpoint_every",
            "patience",
            "lr_patience",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not 0 < self.lr_drop <= 1:
            raise ValueError(f"lr_drop must lie in (0, 1], got {self.lr_drop}")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, got {self.lr}")
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("objective", self.objective, OBJECTIVES)

    def learning_rate(self, iteration: int) -> float:
        """The scheduled learning rate at ``iteration`` (before any validation-based drops)."""
        if self.schedule == "cosine":  # clamped: the cosine would rise again after iters
            progress = min(iteration, self.iters) / self.iters
            return self.lr * 0.5 * (1 + math.cos(math.pi * progress))
        return self.lr


class NonFiniteLossError(RuntimeError):
    """Training diverged: the loss or the parameters became NaN or infinite, or the adaptive
    solver's step size underflowed; the last good (finite) checkpoint was kept."""


class ResumeMismatch(ValueError):
    """``resume=True`` with other data or training settings than the saved run's."""


# Settings that may change on resume without changing what the run computes. ``iters`` may
# grow too (to extend a run), except under the cosine schedule, whose rates depend on it.
_FREE_ON_RESUME = ("eval_every", "checkpoint_every")


def data_record(name: str, *splits: torch.Tensor) -> dict[str, Any]:
    """What identifies a run's data, saved with its checkpoint and compared on resume: the
    name, and for data held in tensors their shapes and a SHA-256 of their bytes."""
    record: dict[str, Any] = {"name": name}
    if splits:
        digest = hashlib.sha256()
        for split in splits:
            digest.update(split.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        record["shapes"] = [list(split.shape) for split in splits]
        record["sha256"] = digest.hexdigest()
    return record


def train(
    model: Trainable,
    next_batch: Callable[[int], torch.Tensor],
    config: TrainConfig,
    out: str | Path,
    evaluate: Callable[[Any], dict[str, float]],
    resume: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    data: dict[str, Any] | None = None,
    allow_changes: bool = False,
    time_budget: float | None = None,
) -> dict[str, Any]:
    """Minimise :math:`-\\mathbb{E}[\\log p(x)]` (plus any penalties) with Adam, writing ``out/metrics.json`` and
    ``out/checkpoint.pt``; or, with ``config.objective`` ``"fm"``/``"ot-fm"``, the flow matching
    loss.

    Arguments:
        model: the flow; it is trained in place.
        next_batch: ``iteration -> x``, the batch of that iteration.
        config: the run's `TrainConfig`.
        out: the run's folder.
        evaluate: ``model -> metrics`` (at least ``test_nll``), called every ``eval_every``.
        resume: continue from ``out/checkpoint.pt``; the model config, the data (``data``)
            and the `TrainConfig` must be the saved run's (``iters`` may grow, except under the
            cosine schedule), unless ``allow_changes``.
        callback: called as ``callback(iteration, record)`` after every step (live plots).
        data: what identifies the data (`data_record`), saved with the checkpoint.
        allow_changes: resume even though the data or the training settings changed.
        time_budget: stop after this many seconds of wall-clock time (steps and evaluations),
            with a last evaluation and checkpoint, even before ``config.iters``: how the
            benchmarks give a baseline the same time as a CNF.

    Returns:
        The metrics written to ``out/metrics.json``.

    Raises:
        NonFiniteLossError: the loss or the parameters became NaN or infinite, or the solver's
            step size underflowed; the last checkpoint (finite) is untouched.
        ResumeMismatch: resuming with other data or settings, without ``allow_changes``.
        ffjord_edu.training.checkpoints.RunFolderBusy: another run is writing into ``out``.
        OSError: ``out`` cannot be written (read-only, no permission, full disk); checked
            before the first step.
    """
    if time_budget is not None and distributed.world()[1] > 1:
        raise ValueError("time_budget stops one process, not several: train without torchrun")
    out = Path(out)
    lock = RunLock(out) if distributed.is_main() else None
    if lock is not None:
        lock.acquire()
        remove_stale_temporaries(out)  # left by a run killed mid-write; no one else writes here
    try:
        return _train(
            model, next_batch, config, out, evaluate, resume, callback, data, allow_changes,
            time_budget,
        )  # fmt: skip
    finally:
        if lock is not None:
            lock.release()


def _train(
    model: Any,
    next_batch: Callable[[int], torch.Tensor],
    config: TrainConfig,
    out: Path,
    evaluate: Callable[[Any], dict[str, float]],
    resume: bool,
    callback: Callable[[int, dict[str, float]], None] | None,
    data: dict[str, Any] | None,
    allow_changes: bool,
    time_budget: float | None = None,
) -> dict[str, Any]:
    if not isinstance(model, Trainable):
        raise TypeError(
            f"{type(model).__name__} cannot be trained: train needs a model with config, nfe and "
            "training_loss (ffjord_edu.training.Trainable)"
        )
    checkpoint_path = out / "checkpoint.pt"
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = _new_progress()
    if resume:
        state = _restore(checkpoint_path, model, optimizer, config, data, allow_changes, state)
    best_path = out / "best.pt"
    best_state = (
        read_checkpoint(best_path)["model_state"] if resume and best_path.exists() else None
    )
    objective = distributed.data_parallel(_Objective(model, config.objective))
    main_process = distributed.is_main()  # only rank 0 writes files and shows progress
    if main_process:  # model + Adam's two moments, best.pt, and a temporary copy while saving
        parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        check_writable(out, 8 * parameter_bytes + 1_000_000)
    target = next(model.parameters()).device
    bar = tqdm(
        range(state["iteration"], config.iters),
        initial=state["iteration"],
        total=config.iters,
        desc="training",
        **({} if main_process else {"disable": True}),  # TQDM_DISABLE still applies on rank 0
    )
    window_loss, window_steps = 0.0, 0
    run_started = time.perf_counter()
    for iteration in bar:
        if state["stopped_early"]:
            break
        torch.manual_seed(step_seed(config.seed, iteration))
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate(iteration) * state["lr_scale"]
        x = distributed.shard(next_batch(iteration)).to(target)
        started = time.perf_counter()
        loss_value, parts, nfe_forward = _step(
            model,
            objective,
            optimizer,
            x,
            partial(_diverged, iteration=iteration, checkpoint_path=checkpoint_path),
        )
        state["train_seconds"] += time.perf_counter() - started
        state["nfe_forward"] += nfe_forward
        state["nfe_backward"] += model.nfe["backward"]
        state["iteration"] = iteration + 1
        window_loss, window_steps = window_loss + loss_value, window_steps + 1
        if state.get("first_loss") is None:
            state["first_loss"] = loss_value
        record = {"loss": loss_value, **parts, "nfe_forward": nfe_forward}
        bar.set_postfix(loss=f"{loss_value:.3f}", nfe=nfe_forward)
        out_of_time = time_budget is not None and time.perf_counter() - run_started >= time_budget
        done = iteration + 1 == config.iters or out_of_time
        if (iteration + 1) % config.eval_every == 0 or done:
            _warn_if_the_loss_ran_away(state, window_loss / window_steps, config)
            record.update(_evaluated(model, evaluate, iteration, checkpoint_path))
            if "validation_nll" in record and track_validation(state, record, config):
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if main_process:
                    write_checkpoint(
                        best_path, {"model_config": model.config, "model_state": best_state}
                    )
            state["history"].append(
                {
                    "iteration": iteration + 1,
                    "train_loss": window_loss / window_steps,
                    "train_seconds": state["train_seconds"],
                    **record,
                }
            )
            window_loss, window_steps = 0.0, 0
        checkpoint_due = (iteration + 1) % config.checkpoint_every == 0 or done
        if main_process and (checkpoint_due or state["stopped_early"]):
            payload = {
                "model_config": model.config,
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "train_config": asdict(config),
                "data": data,
                "progress": state,
            }
            write_checkpoint(checkpoint_path, payload)
        if callback is not None:
            callback(iteration, record)
        if out_of_time:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    metrics = _summary(state, config)
    if main_process:
        write_metrics(out, metrics)
    return metrics


def _new_progress() -> dict[str, Any]:
    """Where a new run stands; saved as ``progress`` with every checkpoint, so that a resumed
    run continues exactly (and `track_validation` keeps its count of stale evaluations)."""
    return {
        "iteration": 0,
        "train_seconds": 0.0,
        "history": [],
        "nfe_forward": 0,
        "nfe_backward": 0,
        "lr_scale": 1.0,
        "best_validation": None,
        "best_iteration": 0,
        "stale": 0,
        "stopped_early": False,
        "first_loss": None,  # the loss of the first step, to recognise a loss that runs away
    }


def _restore(
    path: Path,
    model: Any,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    data: dict[str, Any] | None,
    allow_changes: bool,
    state: dict[str, Any],
) -> dict[str, Any]:
    """Load the model, Adam and the progress of the run saved in ``path``, after checking that
    it is the same run (`_check_same_run`); returns the progress."""
    saved = read_checkpoint(path)
    if saved["model_config"] != model.config:
        raise ValueError(
            f"{path} holds a model with config {saved['model_config']}, "
            f"not {model.config}; resume with the same model options"
        )
    if not allow_changes:
        _check_same_run(path, saved, config, data)
    model.load_state_dict(saved["model_state"])
    optimizer.load_state_dict(saved["optimizer_state"])
    return {**state, **saved["progress"]}


def _step(
    model: Any,
    objective: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    diverged: Callable[[str], NonFiniteLossError],
) -> tuple[float, dict[str, float], int]:
    """One optimiser step on batch ``x``: ``(loss of the global batch, its parts, forward NFE)``.

    Raises ``diverged(what)`` when the loss or the parameters stop being finite on any process,
    or the solver's step size underflows.
    """
    optimizer.zero_grad(set_to_none=True)
    try:
        loss, parts = objective(x)  # under DDP, backward averages the gradients
        nfe_forward = model.nfe["forward"]
        if not distributed.all_finite(loss.detach()):
            raise diverged(f"the loss became {loss.item()}")
        loss.backward()
    except StepSizeUnderflow as error:
        raise diverged("the ODE solver's step size underflowed") from error
    optimizer.step()
    finite = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()
    if not distributed.all_finite(torch.where(finite, 0.0, torch.nan)):
        raise diverged("the parameters became NaN or infinite")
    return distributed.mean_over_processes(loss.item()), parts, nfe_forward


def _evaluated(
    model: Any, evaluate: Callable[[Any], dict[str, float]], iteration: int, path: Path
) -> dict[str, float]:
    """``evaluate(model)`` in eval mode (then back to training mode)."""
    model.eval()
    try:
        metrics = evaluate(model)
    except StepSizeUnderflow as error:
        raise _diverged("the evaluation solve's step size underflowed", iteration, path) from error
    model.train()
    return metrics


# A loss this far above the first step's (nats, or bits/dim for images) means training has run
# away, even while every number stays finite: an untrained flow already does better.
LOSS_RISE_LIMIT = 10.0


def _warn_if_the_loss_ran_away(state: dict[str, Any], loss: float, config: TrainConfig) -> None:
    """Warn once per run when the mean training loss since the last evaluation exceeds the first
    step's loss by more than `LOSS_RISE_LIMIT`: finite, so no `NonFiniteLossError`, but wrong."""
    first = state.get("first_loss")
    if first is None or state.get("warned_loss_rise") or loss <= first + LOSS_RISE_LIMIT:
        return
    state["warned_loss_rise"] = True
    warnings.warn(
        f"training has run away: the loss rose from {first:.4g} at the first step to {loss:.4g} "
        f"by iteration {state['iteration']}, worse than the untrained model. The learning rate "
        f"({config.lr:g}) is probably too high: lower it (e.g. --lr {config.lr / 10:g}) and "
        "train again.",
        RuntimeWarning,
        stacklevel=3,
    )


def write_metrics(out: Path, metrics: dict[str, Any]) -> None:
    """Write ``out/metrics.json`` atomically, on the main process only."""
    if not distributed.is_main():
        return
    write_atomically(
        out / "metrics.json", lambda f: Path(f).write_text(json.dumps(metrics, indent=2))
    )


def track_validation(state: dict[str, Any], record: dict[str, Any], config: TrainConfig) -> bool:
    """Note a new best validation NLL (returns True), or drop the learning rate on a plateau
    and decide to stop early."""
    validation_nll = record["validation_nll"]
    if state["best_validation"] is None or validation_nll < state["best_validation"]:
        state.update(best_validation=validation_nll, best_iteration=state["iteration"], stale=0)
        return True
    state["stale"] += 1
    if config.lr_patience is not None and state["stale"] % config.lr_patience == 0:
        state["lr_scale"] *= config.lr_drop
    if config.patience is not None and state["stale"] >= config.patience:
        state["stopped_early"] = True
    return False


def _diverged(what: str, iteration: int, checkpoint_path: Path) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"training diverged: {what} at iteration {iteration}; "
        f"{_last_checkpoint(checkpoint_path)}. Lower the learning rate (or tighten the solver "
        "tolerances, or add kinetic/jacobian regularisation), then resume from it with the "
        "new setting (--resume --allow-changes on the command line)."
    )


def _check_same_run(
    path: Path, saved: dict[str, Any], config: TrainConfig, data: dict[str, Any] | None
) -> None:
    """Refuse to resume a run with other data or training settings than it was saved with."""
    changes = []
    if data is not None and saved.get("data") is not None and saved["data"] != data:
        changes.append(f"data {saved['data'].get('name')!r} -> {data.get('name')!r}")
        if saved["data"].get("name") == data.get("name"):
            changes[-1] = f"data {data.get('name')!r} (other rows or preprocessing)"
    old, new = saved.get("train_config") or {}, asdict(config)
    free = set(_FREE_ON_RESUME) | ({"iters"} if config.schedule == "constant" else set())
    for key in sorted(set(old) | set(new)):
        if key not in free and old and old.get(key) != new.get(key):
            changes.append(f"{key} {old.get(key)!r} -> {new.get(key)!r}")
    if changes:
        raise ResumeMismatch(
            f"{path} was trained with other settings than this run's: {'; '.join(changes)}. "
            "Resuming would silently mix two runs: resume with the original settings, choose "
            "another output folder, or pass allow_changes=True (--allow-changes) to continue "
            "with the new ones anyway"
        )


def _last_checkpoint(path: Path) -> str:
    if not path.exists():
        return "no checkpoint was written yet"
    iteration = read_checkpoint(path)["progress"]["iteration"]
    return f"the last good checkpoint (iteration {iteration}) is kept at {path}"


def _summary(state: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    iterations = max(state["iteration"], 1)
    last = state["history"][-1] if state["history"] else {}
    return {
        **{k: v for k, v in last.items() if k not in ("iteration", "loss", "nfe_forward")},
        "iters": state["iteration"],
        "best_iteration": state["best_iteration"],
        "best_validation_nll": state["best_validation"],
        "stopped_early": state["stopped_early"],
        "seconds_per_iter": state["train_seconds"] / iterations,
        "nfe_forward": state["nfe_forward"] / iterations,
        "nfe_backward": state["nfe_backward"] / iterations,
        "config": asdict(config),
        "history": state["history"],
    }
