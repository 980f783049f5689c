"""Notebook 06's section 6: what one gradient of a CNF costs, by backprop and by the adjoint.

`saved_bytes` counts the memory a forward pass keeps for its backward pass, exactly;
`gradient_costs` measures memory, NFE, time and the gradient itself for both methods at a list
of tolerances; `plot_gradient_costs` draws the comparison.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TypeVar

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

__all__ = [
    "GradientCost",
    "gradient_costs",
    "plot_gradient_costs",
    "relative_difference",
    "saved_bytes",
]

T = TypeVar("T")


def saved_bytes(compute: Callable[[], T]) -> tuple[T, int]:
    """Run ``compute()``; return its result and the bytes of the distinct storages kept for backward.

    A ``saved_tensors_hooks`` *pack* hook sees every tensor autograd saves. It keeps a weak
    reference to a detached alias of each (returning the tensor itself would tie saved outputs to
    their own graph in a reference cycle, keeping dead graphs alive); after ``compute()`` the
    distinct storages still alive are what the backward pass will need.
    """
    saved: list[weakref.ref] = []

    def pack(tensor: Tensor) -> Tensor:
        alias = tensor.detach()
        saved.append(weakref.ref(alias))
        return alias

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda alias: alias):
        result = compute()
    storages = {}
    for ref in saved:
        alias = ref()
        if alias is not None:
            storages[alias.untyped_storage().data_ptr()] = alias.untyped_storage().nbytes()
    return result, sum(storages.values())


class GradientCost(NamedTuple):
    """One NLL gradient: the flat gradient, bytes saved for backward, NFE both ways, seconds."""

    gradient: Tensor
    saved_bytes: int
    nfe_forward: int
    nfe_backward: int
    seconds: float


def _gradient(flow: nn.Module, x: Tensor, adjoint: bool, tol: float) -> GradientCost:
    flow.zero_grad()
    started = time.perf_counter()
    with flow.using(adjoint=adjoint, atol=tol, rtol=tol):
        loss, size = saved_bytes(lambda: -flow.log_prob(x).mean())
        loss.backward()
    seconds = time.perf_counter() - started
    flat = torch.cat([p.grad.flatten() for p in flow.parameters()])
    return GradientCost(flat, size, flow.nfe["forward"], flow.nfe["backward"], seconds)


def gradient_costs(
    flow: nn.Module, x: Tensor, tolerances: Sequence[float], repeats: int = 3
) -> dict[tuple[bool, float], GradientCost]:
    """The NLL gradient of ``flow`` on ``x`` by backprop and by the adjoint, at each tolerance.

    Keys are ``(adjoint, tol)``. Memory, NFE and gradient are those of the first of ``repeats``
    runs (they do not change between runs); the seconds are the median of the ``repeats``, after
    one warm-up call of each method.
    """
    for adjoint in (True, False):
        _gradient(flow, x, adjoint, tolerances[0])  # the first call of each path pays one-offs
    results = {}
    for tol in tolerances:
        for adjoint in (False, True):
            runs = [_gradient(flow, x, adjoint, tol) for _ in range(repeats)]
            seconds = statistics.median(run.seconds for run in runs)
            results[adjoint, tol] = runs[0]._replace(seconds=seconds)
    return results


def relative_difference(results: Mapping[tuple[bool, float], GradientCost], tol: float) -> float:
    """``|g_adjoint - g_backprop| / |g_backprop|`` at tolerance ``tol``."""
    backprop, adjoint = results[False, tol].gradient, results[True, tol].gradient
    return float((adjoint - backprop).norm() / backprop.norm())


def plot_gradient_costs(
    results: Mapping[tuple[bool, float], GradientCost], tolerances: Sequence[float]
) -> Figure:
    """Three panels: memory against NFE, time against tolerance, and how far the gradients differ.

    Times are this machine's, now: shown, never asserted.
    """
    fig, (memory, timing, agreement) = plt.subplots(1, 3, figsize=(15, 4))
    for adjoint, marker, label in [(False, "o-", "backprop"), (True, "s-", "adjoint")]:
        rows = [results[adjoint, tol] for tol in tolerances]
        mib = [row.saved_bytes / 2**20 for row in rows]
        memory.plot([row.nfe_forward for row in rows], mib, marker, label=label)
        timing.semilogx(tolerances, [1000 * row.seconds for row in rows], marker, label=label)
    relative = [relative_difference(results, tol) for tol in tolerances]
    agreement.loglog(tolerances, relative, "o-", color="tab:purple")
    memory.set(xlabel="NFE of the forward solve", ylabel="MiB saved for backward")
    memory.set_title("Memory of one gradient")
    timing.set(xlabel="tolerance", ylabel="milliseconds (median)")
    timing.set_title("Time of one gradient (this machine, now)")
    agreement.set(xlabel="tolerance", ylabel="relative difference")
    agreement.set_title("Adjoint vs backprop gradient")
    for ax in (timing, agreement):
        ax.invert_xaxis()
    for ax in (memory, timing):
        ax.legend()
    return fig
