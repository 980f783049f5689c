r"""Conditional flow matching: train a CNF's velocity field without solving an ODE.

Maximum likelihood (FFJORD) integrates the flow and its divergence at every training step.
Flow matching instead picks a path of densities :math:`p_t` from the base (:math:`t = 0`) to
the data (:math:`t = 1`) and regresses the network onto a velocity that generates it. With the
straight conditional path of Lipman et al. and Liu et al.,

.. math:: x_t = (1 - t)\, x_0 + t\, x_1, \qquad u_t(x_t \mid x_0, x_1) = x_1 - x_0,
          \qquad x_0 \sim \mathcal{N}(0, I),\ x_1 \sim p_{\text{data}},

the conditional flow matching loss

.. math:: \mathcal{L}_{\text{CFM}}(\theta) = \mathbb{E}_{t \sim U[0, 1],\,(x_0, x_1) \sim \pi}
          \big\| f_\theta(t, x_t) - (x_1 - x_0) \big\|^2

has the same gradient as the regression onto the marginal velocity
:math:`u_t(x) = \mathbb{E}[x_1 - x_0 \mid x_t = x]`, which carries :math:`p_0` to :math:`p_1`
by the continuity equation :math:`\partial_t p_t + \nabla\cdot(p_t u_t) = 0`. The coupling
:math:`\pi` is either independent (``"independent"``) or, within each mini-batch, the exact
optimal-transport assignment for the squared distance (``"ot"``, Tong et al., Pooladian et
al.), which makes the marginal paths straighter.

The trained network lives in an ordinary `ffjord_edu.cnf.CNF`, so ``log_prob`` (through the
instantaneous change of variables), ``sample`` and ``trajectory`` work unchanged. Time runs as
everywhere in the package: noise at 0, data at the end (``blocks * T``).

References:
    Lipman, Chen, Ben-Hamu, Nickel, Le. Flow matching for generative modeling. ICLR 2023.
    Liu, Gong, Liu. Flow straight and fast: rectified flow. ICLR 2023.
    Tong, Malkin, Huguet, Zhang, Rector-Brooks, Fatras, Wolf, Bengio. Improving and generalizing
    flow-based generative models with minibatch optimal transport. TMLR 2024.
    Pooladian, Ben-Hamu, Domingo-Enrich, Amos, Lipman, Chen. Multisample flow matching. ICML 2023.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ..cnf import CNF, block_of
from ..options import check_choice
from ..settings import check_batch

__all__ = [
    "COUPLINGS",
    "OBJECTIVES",
    "OT_BLOCK",
    "couple",
    "excess_path_length",
    "flow_matching_loss",
    "objective_loss",
    "ot_assignment",
    "straight_path",
    "straightness_gap",
    "target_velocity",
    "trajectory_velocities",
    "transport_cost",
    "velocity",
]

COUPLINGS: tuple[str, ...] = ("independent", "ot")
# Training objectives of `ffjord_edu.training.TrainConfig`: maximum likelihood, or flow matching
# with one of the couplings.
OBJECTIVES: dict[str, str | None] = {"mle": None, "fm": "independent", "ot-fm": "ot"}
# The OT coupling solves the assignment within blocks of at most this many rows of a batch:
# O(B * OT_BLOCK^2) instead of O(B^3). At B = 512 on a CPU the full assignment cost ~20x the
# network's step; blocks of 128 keep most of the straightening (mini-batch OT with batch 128,
# averaged over the blocks of one optimiser step).
OT_BLOCK = 128


def straight_path(x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    r"""The point :math:`x_t = (1 - t)\,x_0 + t\,x_1` of the straight path, shape ``(B, D)``.

    Arguments:
        x0, x1: the two ends, shape ``(B, D)``.
        t: times in ``[0, 1]``, shape ``(B,)`` (one per row) or a 0-d tensor.

    Example:
        >>> straight_path(torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([0.25]))
        tensor([[0.2500, 0.2500]])
    """
    t = t.reshape(-1, 1).to(x0.dtype)
    return (1 - t) * x0 + t * x1


def target_velocity(x0: Tensor, x1: Tensor) -> Tensor:
    r"""The conditional velocity :math:`\frac{d}{dt} x_t = x_1 - x_0` of the straight path."""
    return x1 - x0


def transport_cost(x0: Tensor, x1: Tensor) -> Tensor:
    r"""Total squared distance :math:`\sum_i \|x_{0,i} - x_{1,i}\|^2` of the pairs row by row."""
    return (x1 - x0).pow(2).sum()


def ot_assignment(x0: Tensor, x1: Tensor) -> Tensor:
    r"""The permutation :math:`\sigma` minimising :math:`\sum_i \|x_{0,\sigma(i)} - x_{1,i}\|^2`.

    Exact optimal transport between two equal-size mini-batches with uniform weights is an
    assignment problem (the optimal plan is a permutation, Birkhoff–von Neumann); SciPy's
    `scipy.optimize.linear_sum_assignment` solves it in :math:`O(B^3)`.

    Arguments:
        x0: base samples, shape ``(B, D)``.
        x1: data samples, shape ``(B, D)``.

    Returns:
        ``sigma``, a ``LongTensor`` of shape ``(B,)``: pair ``x0[sigma]`` with ``x1`` row by row.

    Example:
        >>> x1 = torch.tensor([[0.0], [10.0]])
        >>> ot_assignment(torch.tensor([[9.0], [1.0]]), x1)
        tensor([1, 0])
    """
    if x0.shape != x1.shape or x0.ndim != 2:
        raise ValueError(
            f"optimal transport pairs two batches of the same shape (B, D); got {tuple(x0.shape)} "
            f"and {tuple(x1.shape)}: draw as many base samples as data samples"
        )
    cost = torch.cdist(x0.detach().double(), x1.detach().double()).pow(2).cpu().numpy()
    rows, columns = linear_sum_assignment(cost)
    sigma = torch.empty(len(columns), dtype=torch.long)
    sigma[torch.as_tensor(columns)] = torch.as_tensor(rows)
    return sigma.to(x0.device)


def couple(
    x0: Tensor, x1: Tensor, coupling: str = "independent", block: int | None = OT_BLOCK
) -> Tensor:
    """Reorder the base samples ``x0`` to pair with ``x1`` under ``coupling`` (see `COUPLINGS`).

    With ``"ot"``, rows ``[k * block, (k + 1) * block)`` of ``x0`` and ``x1`` are matched by
    `ot_assignment` block by block (``block=None``: the whole batch at once).
    """
    check_choice("coupling", coupling, COUPLINGS)
    if coupling == "independent":
        return x0
    size = len(x0) if block is None else block
    return torch.cat([a[ot_assignment(a, b)] for a, b in zip(x0.split(size), x1.split(size))])


def velocity(model: CNF, t: Tensor, z: Tensor) -> Tensor:
    r"""The flow's velocity :math:`f(t_i, z_i)` at one global time per row, shape ``(B, D)``.

    Global time :math:`s \in [0, \text{blocks}\cdot T]` belongs to block
    :math:`k = \lfloor s / T \rfloor` (`ffjord_edu.cnf.block_of`, the rule the CNF's own solves
    use), which sees it as local time :math:`s - kT`.
    """
    k = block_of(t, model.T, len(model.blocks)).to(t.device)
    out = torch.empty_like(z)
    for block in k.unique().tolist():
        rows = k == block
        out[rows] = model.blocks[block].net(t[rows] - block * model.T, z[rows])
        model.counters[block].calls += 1
        model.counters[block].forward += 1
    return out


def flow_matching_loss(
    model: CNF, x1: Tensor, coupling: str = "independent"
) -> tuple[Tensor, dict[str, float]]:
    r"""The conditional flow matching loss on the data batch ``x1``, and its value as a number.

    Draws :math:`x_0 \sim \mathcal{N}(0, I)` and :math:`t \sim U[0, 1]` per row from torch's
    global generator (the training loop seeds it per iteration), pairs :math:`x_0` with
    :math:`x_1` by ``coupling``, and returns
    :math:`\frac1B \sum_i \| \tau\, f(\tau t_i, x_{t_i}) - (x_{1,i} - x_{0,i}) \|^2` with
    :math:`\tau` = ``blocks * T``: the flow runs in global time :math:`s = \tau t`, where the
    straight path moves with velocity :math:`(x_1 - x_0)/\tau`.

    The network is called once per block; ``model.nfe["forward"]`` then counts those calls.
    """
    check_batch(x1, model.dim, "x1")
    for counter in model.counters:
        counter.calls = counter.forward = 0
    x0 = couple(torch.randn_like(x1), x1, coupling)
    t = torch.rand(x1.shape[0], dtype=x1.dtype, device=x1.device)
    duration = model.total_time
    predicted = duration * velocity(model, duration * t, straight_path(x0, x1, t))
    loss = (predicted - target_velocity(x0, x1)).pow(2).sum(dim=1).mean()
    return loss, {"flow_matching": loss.item()}


def objective_loss(objective: str) -> Callable[[CNF, Tensor], tuple[Tensor, dict[str, float]]]:
    """The training loss ``(model, x) -> (loss, parts)`` of ``objective`` (see `OBJECTIVES`):
    `CNF.training_loss` for ``"mle"``, `flow_matching_loss` with a coupling otherwise."""
    check_choice("objective", objective, OBJECTIVES)
    coupling = OBJECTIVES[objective]
    if coupling is None:
        return lambda model, x: model.training_loss(x)
    return lambda model, x: flow_matching_loss(model, x, coupling)


def excess_path_length(trajectory: Tensor) -> Tensor:
    r"""How far particles stray from straight lines: mean of (path length / chord) − 1.

    For a trajectory :math:`z(s_0), \dots, z(s_n)` of each particle, the polygon length
    :math:`\sum_j \|z(s_{j+1}) - z(s_j)\|` divided by the chord :math:`\|z(s_n) - z(s_0)\|`
    is 1 for a straight path (at any speed) and larger otherwise.

    Arguments:
        trajectory: shape ``(S, B, D)`` as returned by `CNF.trajectory`, ``S >= 2``.

    Returns:
        A 0-d tensor: the mean over the ``B`` particles.

    Example:
        >>> bent = torch.tensor([[[0.0, 0.0]], [[1.0, 1.0]], [[2.0, 0.0]]])
        >>> round(float(excess_path_length(bent)), 4)  # sqrt(2) - 1
        0.4142
    """
    if trajectory.ndim != 3 or trajectory.shape[0] < 2:
        raise ValueError(
            f"a trajectory has shape (times, batch, dim) with at least 2 times, "
            f"got {tuple(trajectory.shape)}"
        )
    length = (trajectory[1:] - trajectory[:-1]).norm(dim=2).sum(dim=0)
    chord = (trajectory[-1] - trajectory[0]).norm(dim=1)
    return (length / chord.clamp_min(1e-12) - 1).mean()


def trajectory_velocities(model: CNF, trajectory: Tensor, times: Tensor) -> Tensor:
    r"""The flow's velocity :math:`f(s_j, z(s_j))` at every point of a trajectory, ``(S, B, D)``.

    Arguments:
        model: the flow whose paths ``trajectory`` holds.
        trajectory: shape ``(S, B, D)``, e.g. from `CNF.trajectory` at ``times``.
        times: the ``S`` global times of the rows of ``trajectory``.
    """
    times = torch.as_tensor(times, dtype=trajectory.dtype, device=trajectory.device)
    if trajectory.ndim != 3 or times.shape != trajectory.shape[:1]:
        raise ValueError(
            f"a trajectory of shape (times, batch, dim) with one time per row is needed, got "
            f"{tuple(trajectory.shape)} and {tuple(times.shape)} times"
        )
    batch = trajectory.shape[1]
    return torch.stack([velocity(model, s.expand(batch), z) for s, z in zip(times, trajectory)])


def straightness_gap(trajectory: Tensor, velocities: Tensor, times: Tensor) -> Tensor:
    r"""Rectified flow's straightness: how far the velocity strays from the chord's constant one.

    .. math:: S = \frac{1}{\tau}\int_{s_0}^{s_n} \mathbb{E}\,\big\| \big(z(s_n) - z(s_0)\big)
              - \tau\, v\big(s, z(s)\big) \big\|^2 ds, \qquad \tau = s_n - s_0,

    by the trapezoid rule over the given times. For :math:`[s_0, s_n] = [0, 1]` it is
    :math:`\int_0^1 \mathbb{E}\|(z_1 - z_0) - v(t, z_t)\|^2 dt` of Liu et al. (2023). It is 0
    exactly when every path is a straight line run at constant speed, the paths that one Euler
    step integrates exactly; `excess_path_length` sees only the shape and scores a straight line
    run at a varying speed 0 too.

    Arguments:
        trajectory: positions, shape ``(S, B, D)``, ``S >= 2``.
        velocities: the velocity field at those positions and times, shape ``(S, B, D)``
            (`trajectory_velocities` for a `CNF`).
        times: the ``S`` increasing times.

    Returns:
        A 0-d tensor: the mean over the ``B`` particles.

    Example:
        >>> s = torch.linspace(0, 1, 1001).reshape(-1, 1, 1)
        >>> line = s * torch.ones(1, 1, 2)  # constant speed: no gap
        >>> float(straightness_gap(line, torch.ones_like(line), s.flatten()))
        0.0
        >>> slow_start = s**2 * torch.ones(1, 1, 2)  # the same line, speed 2s: gap 2/3
        >>> round(float(straightness_gap(slow_start, 2 * s * torch.ones(1, 1, 2), s.flatten())), 4)
        0.6667
    """
    times = torch.as_tensor(times, dtype=trajectory.dtype, device=trajectory.device)
    if trajectory.ndim != 3 or trajectory.shape[0] < 2 or velocities.shape != trajectory.shape:
        raise ValueError(
            f"trajectory and velocities need the same shape (times, batch, dim) with at least 2 "
            f"times, got {tuple(trajectory.shape)} and {tuple(velocities.shape)}"
        )
    if times.shape != trajectory.shape[:1] or not bool((times.diff() > 0).all()):
        raise ValueError(f"times must be {trajectory.shape[0]} increasing values, got {times}")
    duration = times[-1] - times[0]
    chord = trajectory[-1] - trajectory[0]
    gap = (chord - duration * velocities).pow(2).sum(dim=2).mean(dim=1)
    return torch.trapezoid(gap, times) / duration
