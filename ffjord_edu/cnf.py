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
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .nets import ODEnet
from .regularization import jacobian_frobenius, kinetic_energy
from .settings import DEFAULT_MAX_STEPS, Settings, SolverSettings, as_batch, warn_if_not_finite
from .solvers import EvaluationCounter, finite_number, odeint
from .trace import (
    bottleneck_divergence,
    exact_divergence,
    hutchinson_divergence,
    sample_probe,
    vector_jacobian_product,
)

__all__ = [
    "CNF",
    "AugmentedDynamics",
    "block_of",
    "solve_density",
    "standard_normal_log_prob",
    "time_span",
]


def standard_normal_log_prob(z: Tensor) -> Tensor:
    r""":math:`\log \mathcal{N}(z; 0, I) = -\tfrac12 \|z\|^2 - \tfrac{D}{2}\log 2\pi`, shape ``(B,)``."""
    z = z.reshape(z.shape[0], -1)
    return -0.5 * (z.pow(2).sum(dim=1) + z.shape[1] * math.log(2 * math.pi))


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
            vjp = None
            if self.probe is not None:  # shared by Hutchinson's estimate and the Jacobian penalty
                vjp = vector_jacobian_product(dz, z, self.probe, self.create_graph)
            if self.trace == "exact":
                divergence = exact_divergence(dz, z, self.create_graph)
            elif self.trace == "bottleneck":
                if self.hidden_probe is None:
                    self.hidden_probe = sample_probe(h, self.noise)
                divergence = bottleneck_divergence(dz, h, z, self.hidden_probe, self.create_graph)
            else:
                divergence = hutchinson_divergence(dz, z, self.probe, self.create_graph, vjp)
        penalties = {
            "kinetic": lambda: kinetic_energy(dz),
            "jacobian": lambda: jacobian_frobenius(vjp),
        }
        derivatives = (dz, -divergence, *(-penalties[name]() for name in self.regularizers))
        if not self.create_graph:
            return tuple(d.detach() for d in derivatives)
        return derivatives


def time_span(start: float, end: float, like: Tensor) -> Tensor:
    """The times ``[start, end]`` of one solve, as a tensor of ``like``'s dtype and device."""
    return torch.tensor([start, end], dtype=like.dtype, device=like.device)


def solve_density(
    dynamics: AugmentedDynamics,
    z: Tensor,
    times: Tensor,
    settings: Settings,
    regularizers: tuple[str, ...] = (),
    counter: EvaluationCounter | None = None,
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    r"""One density solve: draw the probe, integrate the augmented state, unpack it.

    The only place a solve of `AugmentedDynamics` starts, so a probe always belongs to its solve.
    From :math:`(z, 0, 0, \dots)` at ``times[0]`` to ``times[1]``:

    .. math:: \ell(t_1) = -\int_{t_0}^{t_1} \operatorname{Tr}\frac{\partial f}{\partial z}\,dt,
              \qquad R_k = -\int_{t_0}^{t_1} r_k\,dt,

    which for a solve from data (:math:`t_0 = T`) back to the base (:math:`t_1 = 0`) are
    :math:`\Delta\log p` and the penalties' path integrals :math:`\int_0^T r_k\,dt`.

    Returns:
        ``(z(t1), ℓ(t1), {name: R_k})``, shapes ``(B, *event)``, ``(B,)`` and ``(B,)`` each.
    """
    dynamics.start_solve(z, settings, regularizers)
    zeros = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
    solution = odeint(
        dynamics,
        (z, zeros, *(zeros for _ in regularizers)),
        times,
        counter=counter,
        **settings.solver_options,
    )
    penalties = {name: integral[-1] for name, integral in zip(regularizers, solution[2:])}
    return solution[0][-1], solution[1][-1], penalties


def block_of(time: float | Tensor, T: float, blocks: int, backward: bool = False) -> Tensor:
    """The block that owns global ``time`` (of ``blocks`` stacked blocks of length ``T``).

    Block ``k`` owns ``[kT, (k+1)T]``. At a boundary ``kT`` the block the solve is about to
    enter wins: block ``k`` going forward in time, block ``k - 1`` going ``backward``. Times
    within ``1e-9 T`` of a boundary count as on it, so rounding cannot pick the wrong block.

    Example:
        >>> block_of(1.0, T=1.0, blocks=3).item(), block_of(1.0, T=1.0, blocks=3, backward=True).item()
        (1, 0)
    """
    position = torch.as_tensor(time, dtype=torch.float64) / T
    if backward:
        k = torch.ceil(position - 1e-9) - 1
    else:
        k = torch.floor(position + 1e-9)
    return k.clamp(0, blocks - 1).long()


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
        max_steps: the step budget of each solve (`ffjord_edu.solvers.StepBudgetExceeded`).

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
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        super().__init__()
        if not (finite_number(T) and T > 0):  # T = inf would solve no ODE and return N(x; 0, I)
            raise ValueError(f"the integration time T must be positive and finite, got {T}")
        for name, value in (("dim", dim), ("blocks", blocks)):
            if isinstance(value, bool) or not hasattr(value, "__index__") or value < 1:
                raise ValueError(f"{name} must be at least 1 (a whole number), got {value!r}")
        self.dim, self.T = dim, float(T)
        self.settings = Settings.pick(locals())  # the solver arguments, validated
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

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CNF:
        """Build an untrained flow from `CNF.config`."""
        return cls(**config)

    @property
    def total_time(self) -> float:
        """The end of the last block, ``blocks * T``: where the data lives."""
        return len(self.blocks) * self.T

    def _segments(self, start: float, end: float) -> Iterator[tuple[int, float, float]]:
        """Split global time ``start → end`` into ``(block, local start, local end)`` pieces.

        Block ``k`` owns global times ``[kT, (k+1)T]`` (`block_of`) and sees them as local
        ``[0, T]``.
        """
        direction = 1 if end > start else -1
        s = start
        while (end - s) * direction > 1e-9 * self.T:
            k = int(block_of(s, self.T, len(self.blocks), backward=direction < 0))
            boundary = (k + 1) * self.T if direction > 0 else k * self.T
            s_next = min(end, boundary) if direction > 0 else max(end, boundary)
            yield k, s - k * self.T, s_next - k * self.T
            s = s_next

    def _check_time(self, time: float) -> float:
        if not 0.0 <= time <= self.total_time + 1e-9:
            raise ValueError(f"times must lie in [0, {self.total_time:g}] (blocks * T), got {time}")
        return float(time)

    def forward(self, x: Tensor, time: float | None = None) -> tuple[Tensor, Tensor]:
        r"""Map data to the base: ``(z, delta_logp)`` with :math:`\log p(x) = \log N(z) - \Delta\log p`.

        When gradients are on and a penalty weight is positive, the penalties' path integrals
        (shape ``(B,)`` each) of this solve are kept in ``self.penalties``, for inspection
        (`training_loss` uses the ones `density_solve` returns).

        Arguments:
            x: points at ``time``, shape ``(B, D)``.
            time: where ``x`` lives; ``None`` means the data end, `total_time`. An intermediate
                time gives the density :math:`p_t` of the flow at that time.

        Returns:
            ``z`` of shape ``(B, D)`` and ``delta_logp`` of shape ``(B,)``.
        """
        z, delta_logp, _ = self.density_solve(x, time)
        return z, delta_logp

    def density_solve(
        self, x: Tensor, time: float | None = None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """`forward`, with the penalties' path integrals: ``(z, delta_logp, penalties)``."""
        x = self._as_batch(x, "x")
        start = self.total_time if time is None else self._check_time(time)
        regularizers = self.regularizers_now()
        zeros = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        z, delta_logp, penalties = x, zeros, dict.fromkeys(regularizers, zeros)
        self.reset_counters()
        for k, local_start, local_end in self._segments(start, 0.0):
            z, block_delta, block_penalties = solve_density(
                self.blocks[k],
                z,
                time_span(local_start, local_end, x),
                self.settings,
                regularizers,
                self.counters[k],
            )
            delta_logp = delta_logp + block_delta
            penalties = {name: penalties[name] + block_penalties[name] for name in regularizers}
        self.penalties = penalties  # the last solve's, for inspection
        return z, delta_logp, penalties

    def _as_batch(self, x: Any, name: str) -> Tensor:
        """`as_batch` for this flow's dimension, dtype and device."""
        # a hand-made net may set the dtype
        return as_batch(x, self.dim, next(self.parameters(), self.reference), name)

    def training_loss(self, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Mean negative log-likelihood plus the weighted penalties, and each part as a number."""
        z, delta_logp, penalties = self.density_solve(x)  # a non-finite loss stops training
        nll = -(standard_normal_log_prob(z) - delta_logp).mean()
        return self.add_penalties(nll, {"nll": nll.item()}, penalties)

    def log_prob(self, x: Tensor, time: float | None = None) -> Tensor:
        r""":math:`\log p(x) = \log \mathcal{N}(z(0); 0, I) - \Delta\log p` in nats, shape ``(B,)``.

        ``time`` (default: the data end) gives the log-density :math:`\log p_t` at that time.
        """
        z, delta_logp = self(x, time)
        log_p = standard_normal_log_prob(z) - delta_logp
        warn_if_not_finite(log_p, "log_prob")
        return log_p

    def _transport(self, z: Tensor, start: float, end: float) -> Tensor:
        """Carry ``z`` along :math:`\\dot z = f` from global time ``start`` to ``end``."""
        for k, local_start, local_end in self._segments(start, end):
            z = odeint(
                self.blocks[k].net,
                z,
                time_span(local_start, local_end, z),
                counter=self.counters[k],
                **self.settings.solver_options,
            )[-1]
        return z

    def inverse(self, z: Tensor) -> Tensor:
        """Map base samples to data: integrate :math:`\\dot z = f(t, z)` from 0 to T per block."""
        z = self._as_batch(z, "z")
        self.reset_counters()
        x = self._transport(z, 0.0, self.total_time)
        warn_if_not_finite(x, "inverse")
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
        self.reset_counters()
        frames = [start]
        for a, b in itertools.pairwise(times):
            frames.append(self._transport(frames[-1], a, b))
        return torch.stack(frames)
