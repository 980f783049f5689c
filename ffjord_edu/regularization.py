r"""Penalties that keep the learned dynamics simple, integrated along each path.

Regularised neural ODEs (RNODE, Finlay et al. 2020) add to the loss the kinetic energy and the
Jacobian's Frobenius norm, integrated over time:

.. math:: \lambda_K \int_0^T \|f(t, z)\|^2\,dt \;+\; \lambda_J \int_0^T
          \Big\|\frac{\partial f}{\partial z}\Big\|_F^2\,dt .

Straight, slow, smooth paths are what an adaptive solver can cross in few steps, so training
with these penalties lowers the number of function evaluations at little cost in likelihood.
The integrals ride along as extra states of the same ODE solve (`ffjord_edu.cnf`).

References:
    Finlay, Jacobsen, Nurbekyan, Oberman. How to train your neural ODE: the world of Jacobian
    and kinetic regularization. ICML 2020.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["REGULARIZERS", "jacobian_frobenius", "kinetic_energy"]

REGULARIZERS: tuple[str, ...] = ("kinetic", "jacobian")


def kinetic_energy(f: Tensor) -> Tensor:
    r""":math:`\|f(t, z)\|^2` for every sample: input ``(B, *event)``, output ``(B,)``."""
    return f.reshape(f.shape[0], -1).pow(2).sum(dim=1)


def jacobian_frobenius(vjp: Tensor) -> Tensor:
    r""":math:`\|\varepsilon^\top J\|^2`, an unbiased estimate of :math:`\|J\|_F^2`.

    For a probe with :math:`\mathbb E[\varepsilon\varepsilon^\top] = I`,
    :math:`\mathbb E\|\varepsilon^\top J\|^2 = \operatorname{Tr}(J^\top \mathbb E[\varepsilon
    \varepsilon^\top] J) = \|J\|_F^2`. It reuses the vector-Jacobian product of Hutchinson's
    trace estimate, so it costs nothing extra.

    Arguments:
        vjp: :math:`\varepsilon^\top J` for every sample, shape ``(B, *event)``.

    Returns:
        Shape ``(B,)``.
    """
    return vjp.reshape(vjp.shape[0], -1).pow(2).sum(dim=1)
