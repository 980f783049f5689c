"""Where and how reproducibly code runs: the device, seeds and thread counts.

The one seed rule of training: everything random at step ``i`` of a run seeded ``s`` (the batch,
its dequantisation noise, Hutchinson's probes) is drawn from `step_seed` ``(s, i)``, so a resumed
run repeats exactly what an uninterrupted one does, and every process of a data-parallel run
draws the same global batch.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["device", "fast_mode", "seed_everything", "step_generator", "step_seed"]


def device() -> torch.device:
    """The GPU when PyTorch sees one (``cuda``), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def fast_mode() -> bool:
    """Whether ``FFJORD_EDU_FAST=1`` asks for seconds-long training (set by ``make test``)."""
    return os.environ.get("FFJORD_EDU_FAST", "0") not in ("", "0", "false", "False")


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python, NumPy and PyTorch from one number, and optionally pin PyTorch's threads.

    The thread count changes the last digits of floating-point sums, so runs that must agree
    to many digits (notebook outputs under test) pin it.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)


def step_seed(seed: int, iteration: int) -> int:
    """The seed of training step ``iteration`` of a run seeded ``seed``: ``seed·1,000,003 + i``."""
    return seed * 1_000_003 + iteration


def step_generator(seed: int, iteration: int) -> torch.Generator:
    """A CPU generator seeded with `step_seed`, for the batch of that step."""
    return torch.Generator().manual_seed(step_seed(seed, iteration))
