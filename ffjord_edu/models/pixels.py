r"""Pixels and densities: the logit transform of image models, and bits per dimension.

Image models (`ffjord_edu.models.multiscale`) work on dequantised pixels ``y ∈ [0, 1)^D``
(`ffjord_edu.datasets.images.dequantize`), passed through RealNVP's logit transform, and report
likelihoods in bits per dimension of the discrete pixels:

    s = α + (1 − 2α) y,  w = log s − log(1 − s)          (the logit transform)
    log p(y) = log p_model(w) + Σ_i log|dw_i/dy_i|
    bits/dim = −(log p(y) − D log L) / (D log 2)

with ``D = C·H·W`` pixels of ``L`` levels.

References:
    L. Dinh, J. Sohl-Dickstein, S. Bengio. Density estimation using Real NVP. ICLR 2017
    (the logit transform and its α).

    L. Theis, A. van den Oord, M. Bethge. A note on the evaluation of generative models.
    ICLR 2016 (uniform dequantisation, and why bits/dim of a dequantised model bound the
    discrete ones).
"""

from __future__ import annotations

import math

import torch

__all__ = ["bits_per_dim", "logit_inverse", "logit_transform"]


def logit_transform(y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The logit transform of RealNVP, with the log-determinant of its Jacobian per example.

    ``s = α + (1 − 2α) y`` keeps away from 0 and 1, then ``w = log s − log(1 − s)``. The
    Jacobian is diagonal: ``dw/dy = (1 − 2α) / (s (1 − s))``, so

        log|det ∂w/∂y| = Σ_i [log(1 − 2α) − log s_i − log(1 − s_i)].

    Arguments:
        y: values in ``[0, 1]``, shape ``(N, …)``.
        alpha: the margin ``α`` in ``[0, 0.5)`` (RealNVP: 0.05; FFJORD: 1e-6).

    Returns:
        ``w`` of y's shape and the log-determinant of shape ``(N,)``.

    Example:
        >>> w, log_det = logit_transform(torch.full((1, 3), 0.5), alpha=0.0)
        >>> w.tolist(), round(float(log_det), 4) == round(3 * math.log(4), 4)
        ([[0.0, 0.0, 0.0]], True)
    """
    if not 0 <= alpha < 0.5:
        raise ValueError(f"alpha must lie in [0, 0.5); got {alpha}")
    s = alpha + (1 - 2 * alpha) * y
    w = torch.log(s) - torch.log1p(-s)
    per_pixel = math.log1p(-2 * alpha) - torch.log(s) - torch.log1p(-s)
    return w, per_pixel.flatten(1).sum(1)


def logit_inverse(w: torch.Tensor, alpha: float) -> torch.Tensor:
    """The inverse of `logit_transform`: ``y = (sigmoid(w) − α) / (1 − 2α)``."""
    return (torch.sigmoid(w) - alpha) / (1 - 2 * alpha)


def bits_per_dim(log_prob: torch.Tensor, dim: int, levels: int) -> torch.Tensor:
    """Bits per dimension of discrete images from the log-density of their dequantised values.

    ``log_prob`` is ``log p(y)`` with ``y = (x + u)/L`` in the unit cube (include the logit
    transform's log-determinant when the model works in logit space). The discrete probability
    of a cell of volume ``L^-D`` is about ``p(y) L^-D``, hence

        bits/dim = −(log p(y) − D log L) / (D log 2) = −log p(y) / (D log 2) + log2 L.

    Example: a uniform density on the unit cube (``log p = 0``) costs ``log2 L`` bits per pixel.

        >>> float(bits_per_dim(torch.zeros(1), dim=64, levels=256))
        8.0
    """
    return -(log_prob - dim * math.log(levels)) / (dim * math.log(2))
