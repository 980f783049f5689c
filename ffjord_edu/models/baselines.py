r"""Discrete flows to set beside FFJORD: an affine coupling flow and a planar flow.

Both map data :math:`x` to a standard normal :math:`z` through invertible layers whose
log-determinants add, :math:`\log p(x) = \log \mathcal{N}(z; 0, I) + \sum_k \log|\det J_k|`:

- `CouplingFlow` (Real NVP, Dinh et al. 2017; the coupling layers of Glow): each layer keeps
  the coordinates of a binary mask and scales and shifts the others by functions of them, a
  triangular Jacobian; both directions cost one pass, so it samples exactly.
- `PlanarFlow` (Rezende & Mohamed 2015): layers :math:`x + \hat u \tanh(w^\top x + b)`, with the
  log-determinant from the matrix determinant lemma (`ffjord_edu.models.posteriors.planar_step`).
  It has no closed-form inverse, so it gives densities but no exact samples.

They are the discrete baselines of the paper's Figure 2 (FFJORD against Glow on 2-D densities),
trained by `scripts/train_baselines.py` on the toy densities.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..cnf import standard_normal_log_prob
from ..options import check_choice
from ..settings import check_batch
from .posteriors import planar_step

__all__ = ["CouplingFlow", "PlanarFlow", "build_baseline", "parameter_count"]


def parameter_count(model: nn.Module) -> int:
    """The number of trainable numbers in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Coupling(nn.Module):
    r"""One affine coupling: :math:`z = m \odot x + (1 - m) \odot (x \odot e^{s} + t)`, with
    :math:`(s, t)` computed from :math:`m \odot x` and :math:`s` bounded by :math:`\tanh`."""

    def __init__(self, mask: Tensor, hidden: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        dim = len(mask)
        widths = [dim, *hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in itertools.pairwise(widths):
            layers += [nn.Linear(w_in, w_out), nn.Tanh()]
        last = nn.Linear(widths[-1], 2 * dim)
        nn.init.zeros_(last.weight)  # starts as the identity map
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def _scale_shift(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        scale, shift = self.net(kept).chunk(2, dim=1)
        free = 1 - self.mask
        return torch.tanh(scale) * free, shift * free

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        scale, shift = self._scale_shift(x * self.mask)
        return x * torch.exp(scale) + shift, scale.sum(dim=1)

    def inverse(self, z: Tensor) -> Tensor:
        scale, shift = self._scale_shift(z * self.mask)  # the kept coordinates are unchanged
        return (z - shift) * torch.exp(-scale)


class CouplingFlow(nn.Module):
    r"""A stack of affine couplings from data to a standard normal, masks alternating.

    Arguments:
        dim: the data dimension :math:`D \ge 2`.
        layers: the number of couplings; masks alternate between the two halves of the
            coordinates (in 2-D: one coordinate, then the other).
        hidden: the widths of each coupling's tanh MLP.

    Example:
        >>> flow = CouplingFlow(2, layers=4, hidden=(8,))
        >>> x = torch.randn(3, 2)
        >>> torch.allclose(flow.inverse(flow.forward(x)[0]), x, atol=1e-6)
        True
    """

    def __init__(self, dim: int = 2, layers: int = 8, hidden: Sequence[int] = (32, 32)) -> None:
        super().__init__()
        if dim < 2 or layers < 1:
            raise ValueError(f"a coupling flow needs dim >= 2 and layers >= 1, got {dim}, {layers}")
        self.dim = dim
        first = (torch.arange(dim) < dim // 2).float()
        self.layers = nn.ModuleList(
            _Coupling(first if k % 2 == 0 else 1 - first, hidden) for k in range(layers)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, log|det ∂z/∂x|)``: data to the base, shapes ``(B, D)`` and ``(B,)``."""
        log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, layer_log_det = layer(x)
            log_det = log_det + layer_log_det
        return x, log_det

    def log_prob(self, x: Tensor) -> Tensor:
        r""":math:`\log p(x) = \log \mathcal{N}(z) + \log|\det \partial z/\partial x|`, shape ``(B,)``."""
        check_batch(x, self.dim)
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det

    def inverse(self, z: Tensor) -> Tensor:
        """The base to data: every coupling undone, last first."""
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact samples: :math:`z \\sim N(0, I)`, then `inverse`."""
        dtype = next(self.parameters()).dtype
        return self.inverse(torch.randn(n, self.dim, generator=generator, dtype=dtype))


class PlanarFlow(nn.Module):
    r"""``layers`` planar maps from data to a standard normal (a density, no exact sampler).

    Each layer is :math:`x \mapsto x + \hat u \tanh(w^\top x + b)` with :math:`w^\top \hat u > -1`
    enforced, so it is invertible, though not in closed form.

    Example:
        >>> flow = PlanarFlow(2, layers=3)
        >>> flow.log_prob(torch.zeros(4, 2)).shape
        torch.Size([4])
    """

    def __init__(self, dim: int = 2, layers: int = 64) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a planar flow needs at least one layer, got {layers}")
        self.dim = dim
        self.u = nn.Parameter(0.01 * torch.randn(layers, dim))
        self.w = nn.Parameter(torch.randn(layers, dim))
        self.b = nn.Parameter(torch.zeros(layers))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, log|det ∂z/∂x|)``: data to the base, shapes ``(B, D)`` and ``(B,)``."""
        log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for u, w, b in zip(self.u, self.w, self.b, strict=True):
            rows = x.shape[0]
            x, layer_log_det = planar_step(
                x, u.expand(rows, -1), w.expand(rows, -1), b.expand(rows)
            )
            log_det = log_det + layer_log_det
        return x, log_det

    def log_prob(self, x: Tensor) -> Tensor:
        r""":math:`\log p(x) = \log \mathcal{N}(z) + \sum_k \log|1 + \hat u_k^\top \psi_k|`."""
        check_batch(x, self.dim)
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det


def build_baseline(architecture: dict[str, Any]) -> nn.Module:
    """An untrained baseline from ``{"kind": "coupling" | "planar", **constructor arguments}``."""
    kinds = {"coupling": CouplingFlow, "planar": PlanarFlow}
    options = dict(architecture)
    kind = options.pop("kind", None)
    check_choice("baseline kind", kind, kinds)
    return kinds[kind](**options)
