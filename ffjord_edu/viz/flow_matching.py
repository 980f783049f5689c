"""Figures of notebook 10: couplings, flow-matched models, their paths, sampling error and timing.

Each function draws one idea of the notebook from data the notebook computed (or, for
`sampling_errors`, computes the few numbers its figure needs from trained models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..models.flow_matching import transport_cost
from .density import DensityGrid, plot_density, plot_samples
from .trajectories import plot_trajectories

__all__ = [
    "plot_couplings",
    "plot_flow_models",
    "plot_loss_curve",
    "plot_nll_against_time",
    "plot_path_shapes",
    "plot_sampling_errors",
    "sampling_errors",
]

Errors = dict[tuple[str, str], list[tuple[int, float]]]
OBJECTIVES = (("mle", "MLE (FFJORD)"), ("fm", "FM"), ("ot-fm", "OT-FM"))


def plot_couplings(couplings: Mapping[str, Tensor], data: Tensor) -> Figure:
    """One panel per coupling: a grey line from each noise point ``couplings[label][i]`` to ``data[i]``.

    Titles give each coupling's total squared distance (`transport_cost`).
    """
    fig, axes = plt.subplots(1, len(couplings), figsize=(5.5 * len(couplings), 5), squeeze=False)
    for ax, (label, noise) in zip(axes[0], couplings.items()):
        for a, b in zip(noise, data):
            ax.plot([a[0], b[0]], [a[1], b[1]], color="0.6", linewidth=0.8)
        ax.scatter(noise[:, 0], noise[:, 1], s=12, color="tab:blue", label="noise $x_0$", zorder=3)
        ax.scatter(data[:, 0], data[:, 1], s=12, color="tab:orange", label="data $x_1$", zorder=3)
        cost = float(transport_cost(noise, data))
        ax.set(aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
        ax.set_title(f"{label} coupling: total cost {cost:.0f}")
        ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_loss_curve(losses: Sequence[float], title: str = "flow matching on 8gaussians") -> Figure:
    """The training loss at every iteration."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, linewidth=0.8)
    ax.set(xlabel="iteration", ylabel="CFM loss", title=title)
    return fig


def plot_flow_models(grids: Mapping[str, DensityGrid], samples: Mapping[str, Tensor]) -> Figure:
    """Top row: each model's density on a grid (with its mass); bottom row: its samples."""
    fig, axes = plt.subplots(2, len(grids), figsize=(4 * len(grids), 8), squeeze=False)
    for column, (label, grid) in enumerate(grids.items()):
        plot_density(grid, ax=axes[0, column], title=f"{label}: density, mass {grid.mass:.3f}")
        title = f"{label}: {len(samples[label]):,} samples"
        plot_samples(samples[label], ax=axes[1, column], title=title, color="tab:orange")
    fig.tight_layout()
    return fig


def plot_path_shapes(paths: Mapping[str, Tensor], titles: Mapping[str, str]) -> Figure:
    """One panel per model: its particles' paths (shape ``(T, B, 2)``) in the plane."""
    fig, axes = plt.subplots(1, len(paths), figsize=(5 * len(paths), 5), squeeze=False)
    for ax, (label, path) in zip(axes[0], paths.items()):
        plot_trajectories(path, ax=ax, title=titles[label])
    fig.tight_layout()
    return fig


def sampling_errors(models: Mapping[str, Any], z0: Tensor, step_counts: Sequence[int]) -> Errors:
    """Mean distance of fixed-step Euler and RK4 samples to an accurate one, per model and NFE.

    The reference sample is dopri5 at 1e-7. Returns ``{(label, method): [(NFE, error), ...]}``,
    one entry per step count (Euler costs 1 NFE a step, RK4 4).
    """
    errors: Errors = {}
    with torch.no_grad():
        for label, model in models.items():
            with model.using(method="dopri5", atol=1e-7, rtol=1e-7):
                reference = model.inverse(z0)
            for method, per_step in (("euler", 1), ("rk4", 4)):
                rows = []
                for steps in step_counts:
                    with model.using(method=method, step_size=1 / steps, backend="edu"):
                        error = (model.inverse(z0) - reference).norm(dim=1).mean()
                    rows.append((steps * per_step, float(error)))
                errors[label, method] = rows
    return errors


def plot_sampling_errors(errors: Errors) -> Figure:
    """Sample error against NFE on log-log axes: Euler on the left, RK4 on the right."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = list(dict.fromkeys(label for label, _ in errors))
    for ax, method in zip(axes, ("euler", "rk4")):
        for label in labels:
            nfe, error = zip(*errors[label, method])
            ax.loglog(nfe, error, "o-", label=label)
        ax.set(xlabel="NFE (network calls to sample)", ylabel="mean distance to the exact sample")
        ax.set_title(f"{method}: error vs NFE")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_nll_against_time(results: Mapping[str, Any]) -> Figure:
    """Test NLL against training CPU seconds for the first seed of the flow-matching benchmark.

    ``results`` is ``data/flow_matching/benchmark.json``; the true entropy is dotted and the band
    up to 0.1 nats above maximum likelihood's best NLL is shaded.
    """
    first_seed = next(iter(results["seeds"].values()))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for objective, label in OBJECTIVES:
        history = first_seed["runs"][objective]["history"]
        cpu, nll = [h["train_cpu"] for h in history], [h["test_nll"] for h in history]
        ax.plot(cpu, nll, "o-", markersize=3, label=label)
    mle_best = first_seed["summary"]["mle_best_nll"]
    ax.axhline(results["true_entropy"], color="k", linestyle=":", label="true entropy")
    ax.axhspan(mle_best, mle_best + 0.1, color="0.9", label="MLE's best NLL + 0.1")
    ax.set(xscale="log", xlabel="training CPU seconds (log)", ylabel="test NLL (nats)")
    ax.set(ylim=(results["true_entropy"] - 0.05, 3.6))
    ax.set_title("8gaussians: test NLL vs training time")
    ax.legend()
    return fig
