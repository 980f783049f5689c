r"""The divergence :math:`\operatorname{Tr}(\partial f / \partial z)`: exact, or Hutchinson's estimate.

The instantaneous change of variables needs the trace of the Jacobian of the dynamics at every
function evaluation. Exactly, that costs one vector-Jacobian product (VJP) per dimension; the
estimate of Hutchinson (1989) costs one VJP whatever the dimension:

.. math:: \operatorname{Tr}(A) = \mathbb{E}_{\varepsilon}\big[\varepsilon^\top A \varepsilon\big]
          \quad\text{for any probe with } \mathbb{E}[\varepsilon]=0,\ \operatorname{Cov}[\varepsilon]=I.

When the network has a narrow hidden layer, FFJORD's bottleneck trick (§3.1.1) puts the probe
there instead: for :math:`f = g \circ h` with :math:`h(z) \in \mathbb{R}^H`,
:math:`\operatorname{Tr}(J_g J_h) = \operatorname{Tr}(J_h J_g)`, an :math:`H \times H` matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .options import check_choice

__all__ = [
    "ESTIMATORS",
    "NOISES",
    "bottleneck_divergence",
    "exact_divergence",
    "hutchinson_divergence",
    "sample_probe",
]

NOISES: tuple[str, ...] = ("rademacher", "gaussian")
# "bottleneck": Hutchinson's estimate with the probe in the network's narrowest hidden layer.
ESTIMATORS: tuple[str, ...] = ("exact", "hutchinson", "bottleneck")


def exact_divergence(f: Tensor, z: Tensor, create_graph: bool = True) -> Tensor:
    r"""The exact divergence :math:`\sum_i \partial f_i / \partial z_i`, one VJP per dimension.

    Row ``i`` of the Jacobian is the VJP :math:`e_i^\top J`; its ``i``-th entry is the diagonal
    element :math:`J_{ii}`. The cost therefore grows like :math:`D` backward passes.

    Arguments:
        f: the dynamics evaluated at ``z``, shape ``(B, *event)``, with a graph back to ``z``.
        z: the input, shape ``(B, *event)``, requiring grad.
        create_graph: keep the graph of the result, so that it can be differentiated (training).

    Returns:
        The divergence of every sample, shape ``(B,)``.

    Example:
        >>> z = torch.ones(3, 2, requires_grad=True)
        >>> exact_divergence(z**2, z).tolist()  # f = z², so ∂f_i/∂z_i = 2 z_i = 2
        [4.0, 4.0, 4.0]
    """
    f_flat = f.reshape(f.shape[0], -1)
    divergence = torch.zeros(f.shape[0], dtype=f.dtype, device=f.device)
    for i in range(f_flat.shape[1]):
        (row,) = torch.autograd.grad(
            f_flat[:, i].sum(), z, retain_graph=True, create_graph=create_graph
        )
        divergence = divergence + row.reshape(row.shape[0], -1)[:, i]
    return divergence


def hutchinson_divergence(
    f: Tensor, z: Tensor, probe: Tensor, create_graph: bool = True, vjp: Tensor | None = None
) -> Tensor:
    r"""Hutchinson's unbiased estimate :math:`\varepsilon^\top (\partial f / \partial z)\, \varepsilon`.

    One VJP :math:`\varepsilon^\top J` whatever the dimension, then a dot product with
    :math:`\varepsilon`. Its variance for a linear map :math:`A` is :math:`2\|A\|_F^2` with
    Gaussian probes and :math:`2(\|A\|_F^2 - \sum_i a_{ii}^2)` with Rademacher probes.

    Arguments:
        f: the dynamics evaluated at ``z``, shape ``(B, *event)``, with a graph back to ``z``.
        z: the input, shape ``(B, *event)``, requiring grad.
        probe: the noise :math:`\varepsilon`, shape of ``z``; hold it fixed for a whole solve.
        create_graph: keep the graph of the result, so that it can be differentiated (training).
        vjp: :math:`\varepsilon^\top J` when already computed (the CNF shares it with the
            Jacobian penalty), else computed here.

    Returns:
        The estimated divergence of every sample, shape ``(B,)``.
    """
    if vjp is None:
        vjp = vector_jacobian_product(f, z, probe, create_graph)
    return (vjp * probe).reshape(z.shape[0], -1).sum(dim=1)


def bottleneck_divergence(
    f: Tensor, h: Tensor, z: Tensor, probe: Tensor, create_graph: bool = True
) -> Tensor:
    r"""FFJORD's bottleneck estimate :math:`\varepsilon^\top J_h J_g\, \varepsilon` of the divergence.

    For dynamics :math:`f = g \circ h` through a hidden layer :math:`h(z) \in \mathbb{R}^H`, the
    Jacobian is :math:`J = J_g J_h` (:math:`D \times D`) and, the trace being cyclic,

    .. math:: \operatorname{Tr}(J_g J_h) = \operatorname{Tr}(J_h J_g)
              = \mathbb{E}_\varepsilon\big[\varepsilon^\top J_h J_g\, \varepsilon\big],
              \qquad \varepsilon \in \mathbb{R}^H,

    so the probe lives in :math:`H` dimensions. Two VJPs, :math:`u^\top = \varepsilon^\top J_h`
    (from ``h`` back to ``z``) and :math:`u^\top J_g` (from ``f`` back to ``h``), cost one backward
    pass together, as much as plain Hutchinson. With Gaussian probes the variance is
    :math:`2\|\operatorname{sym}(J_h J_g)\|_F^2` instead of :math:`2\|\operatorname{sym}(J_g J_h)\|_F^2`;
    for :math:`H < D` it is usually smaller (about :math:`H/D` times for random factors), though
    not for every pair of matrices.

    Arguments:
        f: the dynamics at ``z``, shape ``(B, *event)``, computed from ``h``.
        h: the hidden layer the probe lives in, shape ``(B, *hidden)``, computed from ``z``.
        z: the input, shape ``(B, *event)``, requiring grad.
        probe: the noise :math:`\varepsilon`, shape of ``h``; hold it fixed for a whole solve.
        create_graph: keep the graph of the result, so that it can be differentiated (training).

    Returns:
        The estimated divergence of every sample, shape ``(B,)``.

    References:
        Grathwohl et al. FFJORD, ICLR 2019, §3.1.1 (reducing variance with bottleneck capacity).
    """
    (u,) = torch.autograd.grad(h, z, probe, retain_graph=True, create_graph=create_graph)
    (w,) = torch.autograd.grad(f, h, u, retain_graph=True, create_graph=create_graph)
    return (w * probe).reshape(h.shape[0], -1).sum(dim=1)


def vector_jacobian_product(f: Tensor, z: Tensor, v: Tensor, create_graph: bool = True) -> Tensor:
    r""":math:`v^\top \partial f/\partial z` for every sample: one backward pass, shape of ``z``.

    Hutchinson's estimate is its dot product with :math:`v`; its squared norm
    :math:`\|v^\top J\|^2` estimates :math:`\|J\|_F^2` (see `ffjord_edu.regularization`).
    """
    (vjp,) = torch.autograd.grad(f, z, v, create_graph=create_graph)
    return vjp


def sample_probe(
    like: Tensor, noise: str = "rademacher", generator: torch.Generator | None = None
) -> Tensor:
    r"""Draw a probe :math:`\varepsilon` with zero mean and identity covariance, shaped like ``like``.

    Arguments:
        like: a tensor whose shape, dtype and device the probe takes.
        noise: ``"rademacher"`` (entries :math:`\pm 1`, the lower variance) or ``"gaussian"``.
        generator: an optional random generator, for reproducible probes.

    Returns:
        The probe, same shape as ``like``.
    """
    check_choice("probe noise", noise, NOISES)
    if noise == "rademacher":
        bits = torch.randint(0, 2, like.shape, generator=generator, device=like.device)
        return (2 * bits - 1).to(like.dtype)
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
