"""Data-parallel training across processes: ``torchrun`` starts them, PyTorch's
``DistributedDataParallel`` (DDP) keeps them in step.

Every process holds the same model and draws the same global batch (batches are a function of
the seed and the iteration); process ``r`` of ``n`` keeps the ``r``-th of ``n`` equal shards.
DDP averages the gradients over processes during the backward pass (in buckets, overlapped
with the computation), so every process takes the same optimiser step as one process on the
whole batch would. The few numbers the loop must agree on besides (is the loss finite? its mean
for the log) go through one all-reduce each.

    torchrun --nproc_per_node=4 -m ffjord_edu train tabular --data power --root data --preset paper …
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "all_finite",
    "data_parallel",
    "is_main",
    "mean_over_processes",
    "setup_from_environment",
    "shard",
    "world",
]


def setup_from_environment() -> None:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1), once.

    NCCL when every process has a GPU, else gloo (CPU).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def world() -> tuple[int, int]:
    """``(rank, size)``: this process's index and the number of processes (``(0, 1)`` alone)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0)."""
    return world()[0] == 0


def shard(batch: Tensor) -> Tensor:
    """This process's share of a global batch: equal shards, so the average is unweighted."""
    rank, size = world()
    if size == 1:
        return batch
    if len(batch) % size:
        raise ValueError(
            f"the batch of {len(batch)} rows does not split evenly over {size} processes; "
            f"choose a batch size divisible by {size}"
        )
    return batch.chunk(size)[rank]


def data_parallel(module: nn.Module) -> nn.Module:
    """``module`` wrapped in `DistributedDataParallel` when several processes train, else itself.

    DDP registers a hook on every parameter that all-reduces its gradient (bucketed) as soon as
    the backward pass has produced it, and divides by the number of processes.
    ``find_unused_parameters`` lets a step leave some parameters without a gradient (flow
    matching samples times, so a block of a stacked flow may get none in a small batch).
    """
    if world()[1] == 1:
        return module
    devices = [torch.cuda.current_device()] if next(module.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(
        module, device_ids=devices, broadcast_buffers=False, find_unused_parameters=True
    )


def all_finite(value: Tensor) -> bool:
    """Whether ``value`` is finite on every process, so all of them stop together on a NaN."""
    finite = torch.isfinite(value).all().to(torch.int32).reshape(1)
    if world()[1] > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def mean_over_processes(value: float) -> float:
    """The mean of a number over processes: the loss of the global batch, for the log."""
    if world()[1] == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return float(total.item()) / world()[1]
