"""What an ODE-solving model is told, checked once: its solver settings and its batches.

`Settings` holds how a model integrates (solver, tolerances, trace estimator, penalty weights)
and validates them against the registries (`ffjord_edu.solvers.METHODS`,
`ffjord_edu.trace.ESTIMATORS`, ...) when it is made; `SolverSettings` is what every model that
solves ODEs with them shares (config, `nfe`, `using`, the penalty terms of its loss).
`check_batch` and `as_batch` turn what a user passes into a usable ``(B, D)`` batch, or an
error that names the problem.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Self

import torch
from torch import Tensor

from .options import check_choice
from .regularization import REGULARIZERS
from .solvers import EvaluationCounter, check_solver_options, finite_number
from .trace import ESTIMATORS, NOISES

__all__ = [
    "DEFAULT_MAX_STEPS",
    "Settings",
    "SolverSettings",
    "as_batch",
    "check_batch",
    "warn_if_not_finite",
]


DEFAULT_MAX_STEPS = 10_000
"""The step budget of a solve unless a model is given ``max_steps``; a config names it only when it
differs, so the configs (and checkpoints) made before it was an option read the same."""


@dataclass(frozen=True)
class Settings:
    """How a CNF integrates: the solver, its tolerances, the trace estimator, and the weights of
    the kinetic and Jacobian-Frobenius penalties added to the training loss (0 = off).

    Change them for a while with `CNF.using`, e.g. exact trace and tight tolerances to evaluate.
    """

    trace: str = "exact"
    noise: str = "rademacher"
    method: str = "dopri5"
    atol: float = 1e-5
    rtol: float = 1e-5
    step_size: float | None = None
    backend: str = "torchdiffeq"
    adjoint: bool = False
    max_steps: int = DEFAULT_MAX_STEPS
    kinetic: float = 0.0
    jacobian: float = 0.0

    def __post_init__(self) -> None:
        check_choice("trace estimator", self.trace, ESTIMATORS)
        check_choice("probe noise", self.noise, NOISES)
        check_solver_options(
            self.method, self.backend, self.atol, self.rtol, self.step_size, self.max_steps
        )
        # NaN fails every comparison, so "< 0" alone would let it through as "off".
        if not all(finite_number(w) and w >= 0 for w in (self.kinetic, self.jacobian)):
            raise ValueError(
                f"regularisation weights must be >= 0 and finite (0 turns a penalty off), got "
                f"kinetic={self.kinetic}, jacobian={self.jacobian}"
            )

    @classmethod
    def pick(cls, arguments: dict[str, Any]) -> Settings:
        """The settings among a model constructor's ``arguments`` (its ``locals()``), validated."""
        names = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in arguments.items() if name in names})

    @property
    def regularizers(self) -> tuple[str, ...]:
        """The penalties with a positive weight, in `REGULARIZERS` order."""
        return tuple(name for name in REGULARIZERS if getattr(self, name) > 0)

    @property
    def solver_options(self) -> dict[str, Any]:
        """The keyword arguments of `odeint` that these settings fix."""
        options = asdict(self)
        for key in ("trace", "noise", *REGULARIZERS):
            del options[key]
        return options


def check_batch(x: Tensor, dim: int, name: str = "x") -> None:
    """Raise a `ValueError` that names the problem when ``x`` is not a usable ``(B, dim)`` batch."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}, but this CNF models {dim}-dimensional data: "
            f"pass a batch of shape (batch, {dim})"
        )
    if x.shape[0] == 0:
        raise ValueError(f"empty batch: {name} has no rows; pass at least one sample")
    bad = ~torch.isfinite(x).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"{name} contains NaN or infinite values in {int(bad.sum())} rows (first rows: {rows}); "
            "remove or impute them first"
        )


def warn_if_not_finite(values: Tensor, what: str) -> None:
    """Warn, naming the rows, when a solve from finite inputs ended in NaN or inf."""
    bad = ~torch.isfinite(values.detach()).reshape(values.shape[0], -1).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()[:5].tolist()
        warnings.warn(
            f"{what} is NaN or infinite for {int(bad.sum())} of {values.shape[0]} rows (first "
            f"rows: {rows}): the ODE solve overflowed, usually because those inputs lie far "
            "outside the range of the data the flow was trained on (standardise them first)",
            RuntimeWarning,
            stacklevel=3,
        )


def as_batch(x: Any, dim: int, like: Tensor, name: str = "x") -> Tensor:
    """``x`` as a ``(B, dim)`` tensor of ``like``'s dtype and device, checked by `check_batch`.

    NumPy arrays (``torch.from_numpy`` gives float64), float64, float16 and integer tensors
    are converted, so ``flow.log_prob(array)`` works; a value that is not finite after the
    conversion (1e300 becomes inf in float32) is named.
    """
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(
                f"{name} must be a torch.Tensor or a numeric array of shape (batch, {dim}), "
                f"got {type(x).__name__}"
            ) from error
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    converted = x.dtype != like.dtype
    x = x.to(dtype=like.dtype, device=like.device)
    check_batch(x, dim, name + (f" (as {like.dtype})" if converted else ""))
    return x


class SolverSettings:
    """What every model that solves ODEs with `Settings` shares: its config, `nfe`, `using`,
    and the penalty terms of its loss.

    A mixin for `CNF`, `ffjord_edu.models.multiscale.MultiscaleCNF` and
    `ffjord_edu.models.posteriors.FFJORDPosterior`; each sets ``self.settings`` (a `Settings`)
    and ``self.counters`` (one `ffjord_edu.solvers.EvaluationCounter` per ODE block), and the
    first two ``self.architecture`` (the constructor arguments that are not settings).
    """

    settings: Settings
    counters: list[EvaluationCounter]
    architecture: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this model with ``from_config`` (a plain dict)."""
        settings = asdict(self.settings)
        if settings["max_steps"] == DEFAULT_MAX_STEPS:  # as configs were before it was an option
            del settings["max_steps"]
        return {**self.architecture, **settings}

    @property
    def nfe(self) -> dict[str, int]:
        """Function evaluations of the last solve, summed over blocks: ``forward``, and
        ``backward`` (adjoint)."""
        return {
            "forward": sum(c.forward for c in self.counters),
            "backward": sum(c.backward for c in self.counters),
        }

    def reset_counters(self) -> None:
        """Start counting the forward evaluations of a new solve."""
        for counter in self.counters:
            counter.calls = counter.forward = 0

    @contextmanager
    def using(self, **changes: Any) -> Iterator[Self]:
        """Temporarily change the `Settings`, e.g. ``with flow.using(trace="exact", atol=1e-5):``."""
        saved = self.settings
        self.settings = replace(saved, **changes)
        try:
            yield self
        finally:
            self.settings = saved

    def regularizers_now(self) -> tuple[str, ...]:
        """The penalties a solve integrates now: the weighted ones, when gradients are on."""
        return self.settings.regularizers if torch.is_grad_enabled() else ()

    def add_penalties(
        self, loss: Tensor, parts: dict[str, float], penalties: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, float]]:
        r"""``loss`` plus :math:`\sum_k \lambda_k \operatorname{mean}(R_k)`, each mean in ``parts``."""
        for name, integral in penalties.items():
            loss = loss + getattr(self.settings, name) * integral.mean()
            parts[name] = integral.mean().item()
        return loss, parts
