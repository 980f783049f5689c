r"""The continuous normalizing flow (CNF) of FFJORD, with the package's one time convention.

The base sample :math:`z(t_0)`, :math:`t_0 = 0`, is standard normal and data is
:math:`x = z(t_1)`, :math:`t_1 = T`. Sampling integrates :math:`\dot z = f(t, z)` forward from 0
to T. Density evaluation integrates the augmented state backward from T to 0:

.. math:: \frac{d}{dt}\begin{bmatrix} z \\ \ell \end{bmatrix}
          = \begin{bmatrix} f(t, z) \\ -\operatorname{Tr}\frac{\partial f}{\partial z} \end{bmatrix},
          \qquad (z, \ell)(T) = (x, 0),

which ends at :math:`(z(0), \Delta\log p)` with
:math:`\Delta\log p = \int_0^T \operatorname{Tr}(\partial f/\partial z)\,dt`, so that

.. math:: \log p(x) = \log \mathcal{N}(z(0); 0, I) - \Delta\log p.
"""

from __future__ import annotations

import itertools
import math
import numbers
import operator
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Self

import torch
from torch import Tensor, nn

from .nets import ODEnet
from .regularization import REGULARIZERS, jacobian_frobenius, kinetic_energy
from .solvers import BACKENDS, METHODS, EvaluationCounter, odeint
from .trace import (
    ESTIMATORS,
    NOISES,
    bottleneck_divergence,
    exact_divergence,
    sample_probe,
    vector_jacobian_product,
)

__all__ = [
    "CNF",
    "AugmentedDynamics",
    "Settings",
    "SolverSettings",
    "check_batch",
    "standard_normal_log_prob",
]


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
    max_steps: int = 10_000
    kinetic: float = 0.0
    jacobian: float = 0.0

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("trace estimator", self.trace, ESTIMATORS),
            ("probe noise", self.noise, NOISES),
            ("ODE solver", self.method, METHODS),
            ("backend", self.backend, BACKENDS),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} '{value}'; choose one of: {', '.join(valid)}")
        if not (_finite(self.atol) and _finite(self.rtol) and self.atol > 0 and self.rtol > 0):
            raise ValueError(
                f"tolerances must be positive and finite, got atol={self.atol}, "
                f"rtol={self.rtol}; typical values are 1e-5 for evaluation and 1e-3 for training"
            )
        if self.step_size is not None and not (_finite(self.step_size) and self.step_size > 0):
            raise ValueError(
                f"step_size must be positive and finite (or None), got {self.step_size}"
            )
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int):
            raise ValueError(f"max_steps must be a whole number, got {self.max_steps!r}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        # NaN fails every comparison, so "< 0" alone would let it through as "off".
        if not all(_finite(w) and w >= 0 for w in (self.kinetic, self.jacobian)):
            raise ValueError(
                f"regularisation weights must be >= 0 and finite (0 turns a penalty off), got "
                f"kinetic={self.kinetic}, jacobian={self.jacobian}"
            )

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


def _finite(value: Any) -> bool:
    """Whether ``value`` is a finite real number (bools and strings are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    r""":math:`\log \mathcal{N}(z; 0, I) = -\tfrac12 \|z\|^2 - \tfrac{D}{2}\log 2\pi`, shape ``(B,)``."""
    z = z.reshape(z.shape[0], -1)
    return -0.5 * (z.pow(2).sum(dim=1) + z.shape[1] * math.log(2 * math.pi))


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


def _warn_if_not_finite(values: Tensor, what: str) -> None:
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


class AugmentedDynamics(nn.Module):
    r"""The right-hand side :math:`[f,\ -\operatorname{Tr}(\partial f/\partial z),\ -r_1, \dots]`.

    With ``trace="hutchinson"`` the divergence is :math:`\varepsilon^\top J \varepsilon` with one
    probe :math:`\varepsilon` drawn by `start_solve` and held fixed for the whole solve: a probe
    redrawn at every evaluation would make the dynamics random, and the adaptive step-size
    controller would shrink its steps fighting that noise.

    With ``trace="bottleneck"`` (FFJORD's bottleneck trick, `ffjord_edu.trace.bottleneck_divergence`)
    the probe lives in the network's narrowest hidden layer instead; the network must expose it
    (`ffjord_edu.nets.ODEnet.forward_with_bottleneck`). That probe takes the layer's shape, so it is
    drawn at the solve's first evaluation, and held fixed from then on.

    The optional penalties :math:`r_k` (`ffjord_edu.regularization`) are integrated as extra
    states; the minus sign makes a solve from ``T`` back to ``0`` return :math:`+\int_0^T r_k\,dt`,
    as it does for :math:`\Delta\log p`.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.trace, self.noise = "exact", "rademacher"
        self.regularizers: tuple[str, ...] = ()
        self.probe: Tensor | None = None
        self.hidden_probe: Tensor | None = None
        self.create_graph = True

    def start_solve(
        self, z: Tensor, settings: Settings, regularizers: tuple[str, ...] = ()
    ) -> None:
        """Fix the estimator and penalties (and draw the probe) for the solve starting at ``z``."""
        self.trace, self.noise, self.regularizers = settings.trace, settings.noise, regularizers
        if settings.trace == "bottleneck" and not hasattr(self.net, "forward_with_bottleneck"):
            raise ValueError(
                f"trace='bottleneck' needs a network that exposes its narrowest hidden layer "
                f"(forward_with_bottleneck, as ODEnet has); {type(self.net).__name__} does not: "
                "use trace='hutchinson'"
            )
        self.hidden_probe = None
        needs_probe = settings.trace == "hutchinson" or "jacobian" in regularizers
        self.probe = sample_probe(z, settings.noise) if needs_probe else None
        # Keep the divergence's graph only when a gradient will be taken through it.
        self.create_graph = torch.is_grad_enabled()

    def forward(self, t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        z = state[0]
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.requires_grad_(True)
            if self.trace == "bottleneck":
                h, dz = self.net.forward_with_bottleneck(t, z)
            else:
                dz = self.net(t, z)
            if self.probe is not None:
                vjp = vector_jacobian_product(dz, z, self.probe, self.create_graph)
            if self.trace == "exact":
                divergence = exact_divergence(dz, z, self.create_graph)
            elif self.trace == "bottleneck":
                if self.hidden_probe is None:
                    self.hidden_probe = sample_probe(h, self.noise)
                divergence = bottleneck_divergence(dz, h, z, self.hidden_probe, self.create_graph)
            else:
                divergence = (vjp * self.probe).reshape(z.shape[0], -1).sum(dim=1)
        penalties = {
            "kinetic": lambda: kinetic_energy(dz),
            "jacobian": lambda: jacobian_frobenius(vjp),
        }
        derivatives = (dz, -divergence, *(-penalties[name]() for name in self.regularizers))
        if not self.create_graph:
            return tuple(d.detach() for d in derivatives)
        return derivatives


class SolverSettings:
    """What every model that solves ODEs with `Settings` shares: `nfe` and `using`.

    A mixin for `CNF`, `ffjord_edu.models.multiscale.MultiscaleCNF` and
    `ffjord_edu.models.posteriors.FFJORDPosterior`; each sets ``self.settings`` (a `Settings`)
    and ``self.counters`` (one `ffjord_edu.solvers.EvaluationCounter` per ODE block).
    """

    settings: Settings
    counters: list[EvaluationCounter]

    @property
    def nfe(self) -> dict[str, int]:
        """Function evaluations of the last solve, summed over blocks: ``forward``, and
        ``backward`` (adjoint)."""
        return {
            "forward": sum(c.forward for c in self.counters),
            "backward": sum(c.backward for c in self.counters),
        }

    @contextmanager
    def using(self, **changes: Any) -> Iterator[Self]:
        """Temporarily change the `Settings`, e.g. ``with flow.using(trace="exact", atol=1e-5):``."""
        saved = self.settings
        self.settings = replace(saved, **changes)
        try:
            yield self
        finally:
            self.settings = saved


class CNF(SolverSettings, nn.Module):
    r"""FFJORD: a continuous normalizing flow from a standard normal to the data.

    Arguments:
        dim: the data dimension :math:`D`.
        hidden: hidden widths of each block's `ODEnet`.
        trace: ``"exact"``, ``"hutchinson"`` or ``"bottleneck"`` divergence (Hutchinson's estimate
            with the probe in the narrowest hidden layer of ``hidden``, FFJORD's §3.1.1).
        noise: Hutchinson probe distribution, ``"rademacher"`` or ``"gaussian"``.
        method: the ODE solver (see `ffjord_edu.solvers.METHODS`).
        atol, rtol: the solver's tolerances.
        T: the integration time of each block.
        adjoint: backpropagate with the adjoint method (constant memory in the number of steps).
        blocks: how many CNFs to stack, each with its own network, applied one after another.
        layer, activation: the `ODEnet`'s layer type and nonlinearity.
        backend: ``"torchdiffeq"`` or ``"edu"`` (see `ffjord_edu.solvers.odeint`).
        step_size: the step of fixed-step solvers.
        kinetic, jacobian: weights of the kinetic-energy and Jacobian-Frobenius penalties in
            `training_loss` (`ffjord_edu.regularization`); 0 turns a penalty off.

    References:
        Grathwohl, Chen, Bettencourt, Sutskever, Duvenaud. FFJORD: Free-form continuous dynamics
        for scalable reversible generative models. ICLR 2019.

    Example:
        >>> flow = CNF(2, hidden=(8,))
        >>> flow.log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (64, 64, 64),
        trace: str = "exact",
        noise: str = "rademacher",
        method: str = "dopri5",
        atol: float = 1e-5,
        rtol: float = 1e-5,
        T: float = 1.0,
        adjoint: bool = False,
        blocks: int = 1,
        layer: str = "concatsquash",
        activation: str = "tanh",
        backend: str = "torchdiffeq",
        step_size: float | None = None,
        kinetic: float = 0.0,
        jacobian: float = 0.0,
    ) -> None:
        super().__init__()
        if not (_finite(T) and T > 0):  # T = inf would solve no ODE and return N(x; 0, I)
            raise ValueError(f"the integration time T must be positive and finite, got {T}")
        for name, value in (("dim", dim), ("blocks", blocks)):
            if isinstance(value, bool) or not hasattr(value, "__index__") or value < 1:
                raise ValueError(f"{name} must be at least 1 (a whole number), got {value!r}")
        self.dim, self.T = dim, float(T)
        self.settings = Settings(
            trace=trace,
            noise=noise,
            method=method,
            atol=atol,
            rtol=rtol,
            step_size=step_size,
            backend=backend,
            adjoint=adjoint,
            kinetic=kinetic,
            jacobian=jacobian,
        )
        self.architecture = {
            "dim": dim,
            "hidden": list(hidden),
            "T": float(T),
            "blocks": blocks,
            "layer": layer,
            "activation": activation,
        }
        self.blocks = nn.ModuleList(
            AugmentedDynamics(ODEnet(dim, hidden, layer, activation)) for _ in range(blocks)
        )
        self.counters = [EvaluationCounter() for _ in range(blocks)]
        # Follows .to(device) and .double(), so sampling knows where and how to draw noise
        # even when a hand-made network without parameters replaces the ODEnet.
        self.register_buffer("reference", torch.zeros(()), persistent=False)
        self.penalties: dict[str, Tensor] = {}

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this flow with `CNF.from_config` (a plain dict)."""
        settings = asdict(self.settings)
        del settings["max_steps"]
        return {**self.architecture, **settings}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CNF:
        """Build an untrained flow from `CNF.config`."""
        return cls(**config)

    def _times(self, start: float, end: float, like: Tensor) -> Tensor:
        return torch.tensor([start, end], dtype=like.dtype, device=like.device)

    @property
    def total_time(self) -> float:
        """The end of the last block, ``blocks * T``: where the data lives."""
        return len(self.blocks) * self.T

    def _segments(self, start: float, end: float) -> Iterator[tuple[int, float, float]]:
        """Split global time ``start → end`` into ``(block, local start, local end)`` pieces.

        Block ``k`` owns global times ``[kT, (k+1)T]`` and sees them as local ``[0, T]``.
        """
        direction = 1 if end > start else -1
        s = start
        while (end - s) * direction > 1e-9 * self.T:
            position = s / self.T  # the tolerance keeps s = kT from landing in the wrong block
            k = math.floor(position + 1e-9) if direction > 0 else math.ceil(position - 1e-9) - 1
            k = min(max(k, 0), len(self.blocks) - 1)
            boundary = (k + 1) * self.T if direction > 0 else k * self.T
            s_next = min(end, boundary) if direction > 0 else max(end, boundary)
            yield k, s - k * self.T, s_next - k * self.T
            s = s_next

    def _check_time(self, time: float) -> float:
        if not 0.0 <= time <= self.total_time + 1e-9:
            raise ValueError(f"times must lie in [0, {self.total_time:g}] (blocks * T), got {time}")
        return float(time)

    def _reset_counters(self) -> None:
        for counter in self.counters:
            counter.calls = counter.forward = 0

    def forward(self, x: Tensor, time: float | None = None) -> tuple[Tensor, Tensor]:
        r"""Map data to the base: ``(z, delta_logp)`` with :math:`\log p(x) = \log N(z) - \Delta\log p`.

        When gradients are on and a penalty weight is positive, the penalties' path integrals
        (shape ``(B,)`` each) are left in ``self.penalties`` for `training_loss`.

        Arguments:
            x: points at ``time``, shape ``(B, D)``.
            time: where ``x`` lives; ``None`` means the data end, `total_time`. An intermediate
                time gives the density :math:`p_t` of the flow at that time.

        Returns:
            ``z`` of shape ``(B, D)`` and ``delta_logp`` of shape ``(B,)``.
        """
        x = self._as_batch(x, "x")
        start = self.total_time if time is None else self._check_time(time)
        regularizers = self.settings.regularizers if torch.is_grad_enabled() else ()
        zeros = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        z, delta_logp = x, zeros
        self.penalties = dict.fromkeys(regularizers, zeros)
        self._reset_counters()
        for k, local_start, local_end in self._segments(start, 0.0):
            self.blocks[k].start_solve(z, self.settings, regularizers)
            solution = odeint(
                self.blocks[k],
                (z, zeros, *(zeros for _ in regularizers)),
                self._times(local_start, local_end, x),
                counter=self.counters[k],
                **self.settings.solver_options,
            )
            z, delta_logp = solution[0][-1], delta_logp + solution[1][-1]
            for name, integral in zip(regularizers, solution[2:]):
                self.penalties[name] = self.penalties[name] + integral[-1]
        return z, delta_logp

    def _as_batch(self, x: Any, name: str) -> Tensor:
        """``x`` as a ``(B, D)`` tensor of this flow's dtype and device, checked by `check_batch`.

        NumPy arrays (``torch.from_numpy`` gives float64), float64, float16 and integer tensors
        are converted, so ``flow.log_prob(array)`` works; a value that is not finite after the
        conversion (1e300 becomes inf in float32) is named.
        """
        if not isinstance(x, Tensor):
            try:
                x = torch.as_tensor(x)
            except (TypeError, ValueError, RuntimeError) as error:
                raise ValueError(
                    f"{name} must be a torch.Tensor or a numeric array of shape (batch, "
                    f"{self.dim}), got {type(x).__name__}"
                ) from error
        if x.dtype.is_complex or x.dtype == torch.bool:
            raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
        target = next(self.parameters(), self.reference)  # a hand-made net may set the dtype
        converted = x.dtype != target.dtype
        x = x.to(dtype=target.dtype, device=target.device)
        check_batch(x, self.dim, name + (f" (as {target.dtype})" if converted else ""))
        return x

    def training_loss(self, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Mean negative log-likelihood plus the weighted penalties, and each part as a number."""
        z, delta_logp = self(x)  # no warning here: a non-finite loss stops training itself
        nll = -(standard_normal_log_prob(z) - delta_logp).mean()
        loss, parts = nll, {"nll": nll.item()}
        for name, integral in self.penalties.items():
            loss = loss + getattr(self.settings, name) * integral.mean()
            parts[name] = integral.mean().item()
        return loss, parts

    def log_prob(self, x: Tensor, time: float | None = None) -> Tensor:
        r""":math:`\log p(x) = \log \mathcal{N}(z(0); 0, I) - \Delta\log p` in nats, shape ``(B,)``.

        ``time`` (default: the data end) gives the log-density :math:`\log p_t` at that time.
        """
        z, delta_logp = self(x, time)
        log_p = standard_normal_log_prob(z) - delta_logp
        _warn_if_not_finite(log_p, "log_prob")
        return log_p

    def _transport(self, z: Tensor, start: float, end: float) -> Tensor:
        """Carry ``z`` along :math:`\\dot z = f` from global time ``start`` to ``end``."""
        for k, local_start, local_end in self._segments(start, end):
            z = odeint(
                self.blocks[k].net,
                z,
                self._times(local_start, local_end, z),
                counter=self.counters[k],
                **self.settings.solver_options,
            )[-1]
        return z

    def inverse(self, z: Tensor) -> Tensor:
        """Map base samples to data: integrate :math:`\\dot z = f(t, z)` from 0 to T per block."""
        z = self._as_batch(z, "z")
        self._reset_counters()
        x = self._transport(z, 0.0, self.total_time)
        _warn_if_not_finite(x, "inverse")
        return x

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples in one pass: :math:`z \\sim N(0, I)` then `inverse`. Shape ``(n, D)``."""
        if isinstance(n, bool) or not hasattr(n, "__index__") or operator.index(n) < 1:
            raise ValueError(f"the number of samples must be a whole number >= 1, got {n!r}")
        n = operator.index(n)
        z = torch.randn(
            n,
            self.dim,
            generator=generator,
            dtype=self.reference.dtype,
            device=self.reference.device,
        )
        return self.inverse(z)

    def trajectory(self, start: Tensor, times: Sequence[float] | Tensor) -> Tensor:
        """The particles at each of ``times`` (global time, ``0`` = noise, ``blocks * T`` = data).

        Arguments:
            start: the particles at ``times[0]``, shape ``(B, D)``: base samples when ``times``
                increase from 0, data when they decrease from ``blocks * T``.
            times: monotonic times in ``[0, blocks * T]``.

        Returns:
            Shape ``(len(times), B, D)``.
        """
        start = self._as_batch(start, "start")
        times = [self._check_time(float(s)) for s in times]
        steps = [b - a for a, b in itertools.pairwise(times)]
        if len(times) < 2 or not (all(s > 0 for s in steps) or all(s < 0 for s in steps)):
            raise ValueError("times must hold at least 2 strictly monotonic values")
        self._reset_counters()
        frames = [start]
        for a, b in itertools.pairwise(times):
            frames.append(self._transport(frames[-1], a, b))
        return torch.stack(frames)
