r"""Approximate posteriors :math:`q(z \mid x)` for a VAE: Gaussian, planar flow, amortised FFJORD.

Every posterior starts from the reparameterised Gaussian

.. math:: z_0 = \mu(x) + \sigma(x) \odot \varepsilon,\quad \varepsilon \sim \mathcal N(0, I),
          \qquad \log q_0(z_0) = \log \mathcal N(\varepsilon; 0, I) - \textstyle\sum_i \log\sigma_i(x),

and a flow may then move :math:`z_0` to :math:`z_K`, paying its log-determinant:
:math:`\log q(z_K) = \log q_0(z_0) - \log|\det \partial z_K / \partial z_0|`. The flow's
parameters are *amortised*: the encoder outputs them, one set per data point, so that each
:math:`x` gets its own transformation.

* `GaussianPosterior`: no flow.
* `PlanarPosterior`: :math:`K` planar maps :math:`z + \hat u \tanh(w^\top z + b)`
  (Rezende & Mohamed, 2015), :math:`\log|\det| = \log|1 + \hat u^\top \psi|`.
* `FFJORDPosterior`: a CNF :math:`\dot z = f(t, z; \theta(x))` from :math:`t=0` to :math:`T`
  whose network weights are a shared matrix plus a per-data-point low-rank update
  (`AmortizedODEnet`, as in the FFJORD paper's VAE);
  :math:`\log|\det| = \int_0^T \operatorname{Tr}\,\partial f/\partial z\,dt`, estimated with
  Hutchinson's probe fixed for the whole solve (`ffjord_edu.cnf.AugmentedDynamics`).

All share one interface: ``posterior(features) -> (z, log_q)`` with ``features`` of shape
``(B, F)`` from the encoder, ``z`` of shape ``(B, d)`` and ``log_q`` of shape ``(B,)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cnf import AugmentedDynamics, solve_density, standard_normal_log_prob, time_span
from ..settings import Settings, SolverSettings
from ..solvers import EvaluationCounter

__all__ = [
    "POSTERIORS",
    "AmortizedODEnet",
    "FFJORDPosterior",
    "GaussianPosterior",
    "PlanarPosterior",
    "planar_step",
]


class GaussianPosterior(nn.Module):
    r""":math:`q(z \mid x) = \mathcal N(\mu(x), \operatorname{diag}\sigma(x)^2)`, reparameterised.

    Example:
        >>> q = GaussianPosterior(features=5, latent_dim=2)
        >>> z, log_q = q(torch.zeros(3, 5))
        >>> z.shape, log_q.shape
        (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(self, features: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.mean = nn.Linear(features, latent_dim)
        self.log_std = nn.Linear(features, latent_dim)

    def base(self, features: Tensor) -> tuple[Tensor, Tensor]:
        r"""Draw :math:`z_0 = \mu + \sigma\varepsilon` and return ``(z0, log q0(z0))``."""
        mean, log_std = self.mean(features), self.log_std(features)
        eps = torch.randn_like(mean)
        return mean + log_std.exp() * eps, standard_normal_log_prob(eps) - log_std.sum(dim=1)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        return self.base(features)

    @property
    def nfe(self) -> dict[str, int]:
        """No ODE to solve: no function evaluations (`FFJORDPosterior` counts its own)."""
        return {"forward": 0, "backward": 0}

    @contextmanager
    def using(self, **changes: Any) -> Iterator[Self]:
        """No solver settings to change (`FFJORDPosterior` has them): a no-op."""
        yield self


def planar_step(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    r"""One planar map :math:`z' = z + \hat u \tanh(w^\top z + b)` per row, and its log-det.

    :math:`\hat u = u + \big(m(w^\top u) - w^\top u\big)\, w / \|w\|^2` with
    :math:`m(a) = -1 + \log(1 + e^a)` keeps :math:`w^\top \hat u > -1`, which makes the map
    invertible; then :math:`\log|\det \partial z'/\partial z| = \log|1 + \hat u^\top \psi|`,
    :math:`\psi = (1 - \tanh^2(w^\top z + b))\, w` (the matrix determinant lemma).

    Arguments:
        z, u, w: shape ``(B, d)``; b: shape ``(B,)``.

    Returns:
        ``z'`` of shape ``(B, d)`` and the log-determinant, shape ``(B,)``.

    Example:
        >>> z, u, w = torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
        >>> log_det = planar_step(z, u, w, torch.zeros(1))[1]  # w·u = 0: û = u + (log 2 - 1) w
        >>> torch.allclose(log_det.exp(), torch.tensor([2.0]).log())  # det = 1 + w·û = log 2
        True
    """
    wu = (w * u).sum(dim=1, keepdim=True)
    u_hat = u + (F.softplus(wu) - 1 - wu) * w / w.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-12)
    activation = torch.tanh((w * z).sum(dim=1) + b)
    psi = (1 - activation.pow(2)).unsqueeze(1) * w
    log_det = torch.log((1 + (u_hat * psi).sum(dim=1)).abs() + 1e-12)
    return z + u_hat * activation.unsqueeze(1), log_det


class PlanarPosterior(GaussianPosterior):
    r"""A Gaussian followed by ``steps`` planar maps whose ``u, w, b`` the encoder outputs.

    Example:
        >>> q = PlanarPosterior(features=5, latent_dim=2, steps=4)
        >>> q(torch.zeros(3, 5))[0].shape
        torch.Size([3, 2])
    """

    def __init__(self, features: int, latent_dim: int, steps: int = 8) -> None:
        super().__init__(features, latent_dim)
        self.steps = steps
        self.flow_parameters = nn.Linear(features, steps * (2 * latent_dim + 1))

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        z, log_q = self.base(features)
        for u, w, b in self.step_parameters(features):
            z, log_det = planar_step(z, u, w, b)
            log_q = log_q - log_det
        return z, log_q

    def step_parameters(self, features: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """The per-data-point ``(u, w, b)`` of each step: shapes ``(B, d), (B, d), (B,)``."""
        d = self.latent_dim
        chunks = self.flow_parameters(features).reshape(-1, self.steps, 2 * d + 1)
        return [(c[:, :d], c[:, d : 2 * d], c[:, 2 * d]) for c in chunks.unbind(dim=1)]


class AmortizedODEnet(nn.Module):
    r"""An MLP :math:`f(t, z; \theta(x))` whose weights depend on the data point.

    Layer :math:`l` computes the concat-squash layer of `ffjord_edu.nets` with a weight matrix
    :math:`W_l + U_l(x) V_l(x)^\top` (shared :math:`W_l`, a rank-``rank`` update per data point)
    and bias :math:`b_l + c_l(x)`:

    .. math:: h_{l+1} = \big((W_l + U_l V_l^\top) h_l + b_l + c_l\big) \odot
              \sigma(g_l t + e_l) + k_l t.

    `condition` takes the flat per-data-point vector :math:`\theta(x)` (shape
    ``(B, parameter_count)``) and must be called before the network is evaluated on a batch of
    the same ``B`` rows; row ``i`` of ``z`` always uses row ``i`` of :math:`\theta`.

    Example:
        >>> net = AmortizedODEnet(2, hidden=(8,), rank=1)
        >>> net.condition(torch.zeros(4, net.parameter_count))
        >>> net(torch.tensor(0.0), torch.zeros(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (32, 32), rank: int = 1) -> None:
        super().__init__()
        self.widths = [dim, *hidden, dim]
        self.rank = rank
        self.layers = nn.ModuleList(
            nn.Linear(w_in, w_out) for w_in, w_out in itertools.pairwise(self.widths)
        )
        self.gates = nn.ModuleList(nn.Linear(1, w) for w in self.widths[1:])
        self.shifts = nn.ModuleList(nn.Linear(1, w, bias=False) for w in self.widths[1:])
        self.pieces: list[tuple[Tensor, Tensor, Tensor]] | None = None

    @property
    def parameter_count(self) -> int:
        """Length of the per-data-point vector: ``U``, ``V`` and ``c`` of every layer."""
        return sum((w_in + w_out) * self.rank + w_out for w_in, w_out in self._shapes())

    def _shapes(self) -> Iterator[tuple[int, int]]:
        return itertools.pairwise(self.widths)

    def condition(self, theta: Tensor) -> None:
        """Split ``theta`` (shape ``(B, parameter_count)``) into each layer's ``U, V, c``."""
        if theta.ndim != 2 or theta.shape[1] != self.parameter_count:
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}; expected (batch, {self.parameter_count})"
            )
        sizes = []
        for w_in, w_out in self._shapes():
            sizes += [w_out * self.rank, w_in * self.rank, w_out]
        chunks = iter(theta.split(sizes, dim=1))
        self.pieces = [
            (
                next(chunks).reshape(-1, w_out, self.rank),
                next(chunks).reshape(-1, w_in, self.rank),
                next(chunks),
            )
            for w_in, w_out in self._shapes()
        ]

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        if self.pieces is None or self.pieces[0][2].shape[0] != z.shape[0]:
            raise RuntimeError(
                "call condition(theta) with one row of theta per row of z before evaluating "
                "an AmortizedODEnet"
            )
        t = t.reshape(1, 1).to(z.dtype)
        last = len(self.layers) - 1
        for i, (layer, (u, v, c)) in enumerate(zip(self.layers, self.pieces)):
            low_rank = torch.einsum("bor,br->bo", u, torch.einsum("bir,bi->br", v, z))
            z = (layer(z) + low_rank + c) * torch.sigmoid(self.gates[i](t)) + self.shifts[i](t)
            if i < last:
                z = torch.tanh(z)
        return z


class FFJORDPosterior(SolverSettings, GaussianPosterior):
    r"""A Gaussian followed by an amortised CNF, integrated from :math:`t = 0` to :math:`T`.

    Solving the augmented ODE :math:`[\dot z, \dot\ell] = [f, -\operatorname{Tr}\,\partial f/\partial z]`
    forward from :math:`(z_0, 0)` gives :math:`z_T` and
    :math:`\ell(T) = -\int_0^T \operatorname{Tr}\,\partial f/\partial z\,dt`, so
    :math:`\log q(z_T) = \log q_0(z_0) + \ell(T)`.

    Arguments:
        features, latent_dim: encoder feature width and :math:`d`.
        hidden, rank: the `AmortizedODEnet`'s hidden widths and the rank of its weight updates.
        T: integration time.
        trace, noise, method, atol, rtol, step_size: as in `ffjord_edu.settings.Settings`; change
            them for a while with `using` (e.g. exact trace and dopri5 to evaluate).

    The adjoint method is not offered: the amortised weights are not ``nn.Parameter`` s, and
    torchdiffeq's adjoint only returns gradients for those.

    Example:
        >>> q = FFJORDPosterior(5, 2, hidden=(8,), method="rk4", step_size=0.5)
        >>> z, log_q = q(torch.zeros(3, 5))
        >>> z.shape, q.nfe["forward"]
        (torch.Size([3, 2]), 8)
    """

    def __init__(
        self,
        features: int,
        latent_dim: int,
        hidden: Sequence[int] = (32, 32),
        rank: int = 1,
        T: float = 1.0,
        trace: str = "hutchinson",
        noise: str = "rademacher",
        method: str = "rk4",
        atol: float = 1e-5,
        rtol: float = 1e-5,
        step_size: float | None = 0.125,
    ) -> None:
        super().__init__(features, latent_dim)
        if not T > 0:
            raise ValueError(f"the integration time T must be positive, got {T}")
        self.T = float(T)
        net = AmortizedODEnet(latent_dim, hidden, rank)
        self.dynamics = AugmentedDynamics(net)
        self.hyper = nn.Linear(features, net.parameter_count)
        # Small per-data-point updates at first. Not zero: U V^T has zero gradient in U when V is
        # zero and the other way round, so updates that start at zero would never learn.
        with torch.no_grad():
            self.hyper.weight.mul_(0.1)
        nn.init.zeros_(self.hyper.bias)
        self.settings = Settings.pick(locals())  # the solver arguments, validated
        self.counters = [EvaluationCounter()]  # one ODE block

    def flow(self, z0: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        r"""Carry ``z0`` (``(B, d)``) to :math:`z_T` with per-row weights ``theta``; returns
        ``(z_T, log_det)`` with :math:`\text{log\_det} = \int_0^T \operatorname{Tr}\,\partial f/\partial z\,dt`."""
        self.dynamics.net.condition(theta)
        self.reset_counters()
        z, minus_log_det, _ = solve_density(
            self.dynamics, z0, time_span(0.0, self.T, z0), self.settings, (), self.counters[0]
        )
        return z, -minus_log_det

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        z0, log_q0 = self.base(features)
        z, log_det = self.flow(z0, self.hyper(features))
        return z, log_q0 - log_det


POSTERIORS: dict[str, type[GaussianPosterior]] = {
    "gaussian": GaussianPosterior,
    "planar": PlanarPosterior,
    "ffjord": FFJORDPosterior,
}
