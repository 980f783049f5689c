r"""A latent-variable model where everything has a closed form: the test bench of the ELBO.

.. math:: p(z) = \mathcal N(0, I_d), \qquad p(x \mid z) = \mathcal N(W z + b, \sigma^2 I_D).

Its evidence, exact posterior and the ELBO of any Gaussian :math:`q = \mathcal N(m, \operatorname{diag} s^2)`
are all known, so Monte-Carlo estimators can be checked against them:

.. math:: \log p(x) = \log \mathcal N(x; b, W W^\top + \sigma^2 I), \qquad
          p(z \mid x) = \mathcal N\big(\Sigma W^\top (x - b)/\sigma^2,\ \Sigma\big),\quad
          \Sigma = (I + W^\top W / \sigma^2)^{-1},

.. math:: \mathrm{ELBO}(q) = -\tfrac D2 \log(2\pi\sigma^2)
          - \frac{\|x - W m - b\|^2 + \sum_j s_j^2 \|W_{:,j}\|^2}{2\sigma^2}
          - \tfrac12 \sum_j \big(s_j^2 + m_j^2 - 1 - \log s_j^2\big),

and :math:`\log p(x) - \mathrm{ELBO}(q) = \mathrm{KL}(q \,\|\, p(z \mid x)) \ge 0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LinearGaussian"]


@dataclass(frozen=True)
class LinearGaussian:
    r"""The linear-Gaussian model :math:`x = W z + b + \sigma \eta`, all in closed form.

    Arguments:
        weight: :math:`W`, shape ``(D, d)``.
        bias: :math:`b`, shape ``(D,)``.
        noise_std: :math:`\sigma > 0`.

    Example:
        >>> model = LinearGaussian(torch.eye(2), torch.zeros(2), 1.0)
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> mean, cov = model.posterior(x)
        >>> round(float(model.elbo(x, mean, cov.diagonal().sqrt())), 6) == round(
        ...     float(model.log_evidence(x)), 6)  # the exact posterior closes the gap
        True
    """

    weight: Tensor
    bias: Tensor
    noise_std: float

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x \mid z) + \log p(z)` row by row: ``x`` ``(B, D)``, ``z`` ``(B, d)``."""
        residual = x - z @ self.weight.T - self.bias
        dim_x, dim_z = x.shape[1], z.shape[1]
        log_likelihood = -0.5 * residual.pow(2).sum(dim=1) / self.noise_std**2 - 0.5 * dim_x * (
            math.log(2 * math.pi * self.noise_std**2)
        )
        return log_likelihood - 0.5 * (z.pow(2).sum(dim=1) + dim_z * math.log(2 * math.pi))

    def log_evidence(self, x: Tensor) -> Tensor:
        r"""The exact :math:`\log p(x) = \log\mathcal N(x; b, WW^\top + \sigma^2 I)`, shape ``(B,)``."""
        covariance = self.weight @ self.weight.T + self.noise_std**2 * torch.eye(
            x.shape[1], dtype=x.dtype
        )
        marginal = torch.distributions.MultivariateNormal(self.bias, covariance_matrix=covariance)
        return marginal.log_prob(x)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""The exact posterior's mean ``(B, d)`` and covariance ``(d, d)`` (shared by all ``x``)."""
        d = self.weight.shape[1]
        precision = torch.eye(d, dtype=x.dtype) + self.weight.T @ self.weight / self.noise_std**2
        covariance = torch.linalg.inv(precision)
        mean = (x - self.bias) @ self.weight @ covariance.T / self.noise_std**2
        return mean, covariance

    def elbo(self, x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
        r"""The closed-form ELBO of :math:`q = \mathcal N(\text{mean}, \operatorname{diag}\text{std}^2)`, ``(B,)``."""
        dim_x = x.shape[1]
        residual = x - mean @ self.weight.T - self.bias
        spread = (std.pow(2) * self.weight.pow(2).sum(dim=0)).sum(dim=-1)
        expected_log_likelihood = -0.5 * dim_x * math.log(2 * math.pi * self.noise_std**2) - (
            residual.pow(2).sum(dim=1) + spread
        ) / (2 * self.noise_std**2)
        kl = 0.5 * (std.pow(2) + mean.pow(2) - 1 - 2 * std.log()).sum(dim=-1)
        return expected_log_likelihood - kl
