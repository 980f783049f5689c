r"""A VAE on binary images whose posterior is Gaussian, a planar flow, or an amortised FFJORD.

Generative model: :math:`p(z) = \mathcal N(0, I_d)` and a decoder network giving independent
Bernoulli pixels, :math:`p(x \mid z) = \prod_i \mathrm{Bern}(x_i; \pi_i(z))`. Inference: an
encoder gives features of :math:`x`, and a posterior from `ffjord_edu.models.posteriors` turns
them into samples :math:`z \sim q(z \mid x)` with their :math:`\log q(z \mid x)`.

With importance weights :math:`\log w_s = \log p(x, z_s) - \log q(z_s \mid x)`,
:math:`z_s \sim q`, the two bounds on :math:`\log p(x)` are

.. math:: \mathrm{ELBO} = \mathbb E_q[\log w] = \log p(x) - \mathrm{KL}(q(z\mid x)\,\|\,p(z\mid x)),
          \qquad
          \mathcal L_K = \mathbb E\Big[\log \tfrac1K \textstyle\sum_{s=1}^K w_s\Big]
          \xrightarrow{K\to\infty} \log p(x).

A richer posterior shrinks the KL term, so it tightens the ELBO; the IWAE bound
:math:`\mathcal L_K` (Burda et al., 2016) with large :math:`K` estimates :math:`\log p(x)` itself.

References:
    Kingma & Welling. Auto-encoding variational Bayes. ICLR 2014.
    Rezende & Mohamed. Variational inference with normalizing flows. ICML 2015.
    Grathwohl et al. FFJORD, ICLR 2019, section 4.3 (variational autoencoders).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cnf import standard_normal_log_prob
from ..options import check_choice
from .posteriors import POSTERIORS, FFJORDPosterior, GaussianPosterior

__all__ = [
    "EVALUATE",
    "VAE",
    "elbo_from_weights",
    "evaluate_vae",
    "iwae_from_weights",
    "log_importance_weights",
]

# Settings of the FFJORD posterior for every reported number: dopri5 with tight tolerances and
# the exact trace, so the log-determinant is that of the learned flow, not of a solver's error.
EVALUATE: dict[str, Any] = {
    "trace": "exact",
    "method": "dopri5",
    "atol": 1e-5,
    "rtol": 1e-5,
    "step_size": None,
}


def log_importance_weights(
    posterior: GaussianPosterior,
    features: Tensor,
    log_joint: Callable[[Tensor], Tensor],
    samples: int = 1,
) -> Tensor:
    r""":math:`\log w_s = \log p(x, z_s) - \log q(z_s \mid x)` for ``samples`` draws per row.

    Arguments:
        posterior: draws ``(z, log_q)`` from encoder features.
        features: the encoder's features, shape ``(B, F)``.
        log_joint: ``z -> log p(x, z)`` for ``z`` of shape ``(S·B, d)``, ordered sample-major
            (row ``s·B + b`` is draw ``s`` for data point ``b``).
        samples: :math:`S`.

    Returns:
        Shape ``(S, B)``.
    """
    z, log_q = posterior(features.repeat(samples, 1))
    return (log_joint(z) - log_q).reshape(samples, features.shape[0])


def elbo_from_weights(log_weights: Tensor) -> Tensor:
    r"""The Monte-Carlo ELBO :math:`\frac1S \sum_s \log w_s`: ``(S, B) -> (B,)``."""
    return log_weights.mean(dim=0)


def iwae_from_weights(log_weights: Tensor) -> Tensor:
    r"""The IWAE bound :math:`\log \frac1K \sum_k w_k`, computed stably: ``(K, B) -> (B,)``.

    Example:
        >>> iwae_from_weights(torch.log(torch.tensor([[1.0], [3.0]])))  # log of the mean, 2
        tensor([0.6931])
    """
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def _mlp(widths: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(w_in, w_out))
        if i < len(widths) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    r"""A VAE with Bernoulli pixels and a Gaussian, planar or FFJORD posterior.

    Arguments:
        data_dim: pixels per image :math:`D` (64 for 8×8 digits, 784 for MNIST).
        latent_dim: :math:`d`; 2 lets a picture show the whole latent space.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        posterior: ``"gaussian"``, ``"planar"`` or ``"ffjord"``.
        flow_steps: planar maps of the planar posterior; the FFJORD posterior takes as many
            solver steps while training (``step_size = T / flow_steps`` unless given).
        ode_hidden, rank: the FFJORD posterior's `AmortizedODEnet`.
        trace, noise, method, atol, rtol, step_size: the FFJORD posterior's training solve.

    Example:
        >>> vae = VAE(data_dim=64, latent_dim=2, hidden=(16,), posterior="planar", flow_steps=2)
        >>> x = torch.randint(0, 2, (5, 64)).float()
        >>> vae.elbo(x).shape, vae.iwae(x, samples=3).shape
        (torch.Size([5]), torch.Size([5]))
    """

    def __init__(
        self,
        data_dim: int = 64,
        latent_dim: int = 2,
        hidden: Sequence[int] = (128, 128),
        posterior: str = "gaussian",
        flow_steps: int = 8,
        ode_hidden: Sequence[int] = (32, 32),
        rank: int = 1,
        trace: str = "hutchinson",
        noise: str = "rademacher",
        method: str = "rk4",
        atol: float = 1e-5,
        rtol: float = 1e-5,
        step_size: float | None = None,
    ) -> None:
        super().__init__()
        check_choice("posterior", posterior, POSTERIORS)
        if flow_steps < 1:
            raise ValueError(f"flow_steps must be at least 1, got {flow_steps}")
        self.data_dim, self.latent_dim = data_dim, latent_dim
        step_size = 1.0 / flow_steps if step_size is None else step_size
        self.config = {
            "data_dim": data_dim,
            "latent_dim": latent_dim,
            "hidden": list(hidden),
            "posterior": posterior,
            "flow_steps": flow_steps,
            "ode_hidden": list(ode_hidden),
            "rank": rank,
            "trace": trace,
            "noise": noise,
            "method": method,
            "atol": atol,
            "rtol": rtol,
            "step_size": step_size,
        }
        self.encoder = nn.Sequential(_mlp([data_dim, *hidden]), nn.ELU())
        self.decoder = _mlp([latent_dim, *reversed(hidden), data_dim])
        features = hidden[-1]
        if posterior == "gaussian":
            self.posterior = GaussianPosterior(features, latent_dim)
        elif posterior == "planar":
            self.posterior = POSTERIORS["planar"](features, latent_dim, steps=flow_steps)
        else:
            self.posterior = FFJORDPosterior(
                features,
                latent_dim,
                hidden=ode_hidden,
                rank=rank,
                trace=trace,
                noise=noise,
                method=method,
                atol=atol,
                rtol=rtol,
                step_size=step_size,
            )

    @property
    def nfe(self) -> dict[str, int]:
        """Function evaluations of the posterior's last solve (0 for posteriors without one)."""
        return self.posterior.nfe

    @contextmanager
    def using(self, **changes: Any) -> Iterator[VAE]:
        """Change the posterior's solver settings for a while (no-op for posteriors without)."""
        with self.posterior.using(**changes):
            yield self

    def _rows(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.data_dim:
            raise ValueError(
                f"x has {x.shape[1]} pixels per image, but this VAE models {self.data_dim}: "
                "pass binarised images of the size it was built for"
            )
        return x

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x \mid z) + \log p(z)` with Bernoulli pixels, shape ``(B,)``."""
        logits = self.decoder(z)
        log_likelihood = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        return log_likelihood + standard_normal_log_prob(z)

    def log_weights(self, x: Tensor, samples: int = 1) -> Tensor:
        r""":math:`\log w_s = \log p(x, z_s) - \log q(z_s\mid x)`, shape ``(samples, B)``."""
        x = self._rows(x)
        repeated = x.repeat(samples, 1)
        return log_importance_weights(
            self.posterior, self.encoder(x), lambda z: self.log_joint(repeated, z), samples
        )

    def elbo(self, x: Tensor, samples: int = 1) -> Tensor:
        """The Monte-Carlo ELBO of each image with ``samples`` draws, shape ``(B,)``."""
        return elbo_from_weights(self.log_weights(x, samples))

    def iwae(self, x: Tensor, samples: int = 100, chunk: int = 100) -> Tensor:
        """The IWAE bound with ``samples`` draws (in chunks of ``chunk``), shape ``(B,)``."""
        weights = [self.log_weights(x, min(chunk, samples - s)) for s in range(0, samples, chunk)]
        return iwae_from_weights(torch.cat(weights))

    def training_loss(self, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The negative single-sample ELBO, averaged over the batch."""
        loss = -self.elbo(x).mean()
        return loss, {"neg_elbo": loss.item()}

    def posterior_samples(self, x: Tensor, samples: int) -> Tensor:
        """``samples`` draws from :math:`q(z \\mid x)` for each image: shape ``(B, samples, d)``."""
        x = self._rows(x)
        z, _ = self.posterior(self.encoder(x).repeat(samples, 1))
        return z.reshape(samples, x.shape[0], -1).transpose(0, 1)

    def decode(self, z: Tensor) -> Tensor:
        r"""Pixel probabilities :math:`\pi(z)`, shape ``(B, D)``."""
        return torch.sigmoid(self.decoder(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""Pixel probabilities of ``n`` images from the prior, :math:`z \sim \mathcal N(0, I)`."""
        reference = next(self.parameters())
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=reference.dtype)
        return self.decode(z.to(reference.device))


@torch.no_grad()
def evaluate_vae(
    model: VAE,
    x: Tensor,
    elbo_samples: int = 16,
    iwae_samples: int = 500,
    batch: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Test −ELBO and −IWAE (nats per image) with the `EVALUATE` solver settings.

    Returns:
        ``neg_elbo``, its standard error over images ``neg_elbo_se``, and ``neg_iwae`` (an
        estimate of −log p(x), from ``iwae_samples`` importance samples per image).
    """
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    with model.using(**EVALUATE):
        # All ELBOs first: the ELBO's draws then do not depend on whether the IWAE is wanted.
        elbo = torch.cat([model.elbo(rows, elbo_samples) for rows in x.split(batch)])
        iwae = [model.iwae(rows, iwae_samples) for rows in x.split(batch)] if iwae_samples else []
    model.train(was_training)
    metrics = {
        "neg_elbo": -float(elbo.mean()),
        "neg_elbo_se": float(elbo.std() / math.sqrt(len(elbo))),
    }
    if iwae_samples:
        metrics["neg_iwae"] = -float(torch.cat(iwae).mean())
    return metrics
