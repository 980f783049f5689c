r"""FFJORD's multiscale image model: CNF blocks, squeeze and factor-out between scales.

An image of ``D = C·H·W`` pixels is modelled in its dequantised, logit-transformed form
``w = logit(α + (1 − 2α) y)``, ``y ∈ [0, 1)^D`` (see `ffjord_edu.models.pixels`). Scale
``i`` of ``S`` runs on a state of shape ``(c, h, w)``:

1. ``blocks`` CNFs with convolutional dynamics (`ffjord_edu.models.conv_nets.ConvODEnet`) at
   ``(c, h, w)``;
2. (all but the last scale) *squeeze*: every 2×2 patch becomes 4 channels,
   ``(c, h, w) → (4c, h/2, w/2)``, a permutation with log-determinant 0; ``blocks`` more CNFs;
   then *factor out* half the channels: ``2c`` channels leave as that scale's latent
   ``z_i ~ N(0, I)``, the other ``2c`` go on to the next scale.

The last scale's output is the last latent. The density of ``y`` is then

    log p(y) = Σ_i log N(z_i; 0, I) + log|det ∂w/∂y| − Σ_blocks Δlogp_k,

each block's ``Δlogp_k = ∫ Tr(∂f_k/∂z) dt`` estimated with Hutchinson's estimator (Rademacher
probes, fixed for the solve) during training. Later scales work on fewer pixels with more
channels, so the expensive ODE solves at full resolution see only a few blocks, and factored-out
latents stop costing anything. Sampling is exact: draw every ``z_i``, run the whole chain
backward (each CNF forward in time from 0 to T), and invert the logit.

Convention as everywhere in ffjord_edu: each block's base end is ``t = 0``, its data end ``t = T``.

References:
    W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud. FFJORD:
    Free-form Continuous Dynamics for Scalable Reversible Generative Models. ICLR 2019
    (the multiscale CNF, section 4; its code's ``ODENVP``).

    L. Dinh, J. Sohl-Dickstein, S. Bengio. Density estimation using Real NVP. ICLR 2017
    (squeeze and factor-out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..cnf import AugmentedDynamics, solve_density, standard_normal_log_prob, time_span
from ..settings import DEFAULT_MAX_STEPS, Settings, SolverSettings
from ..solvers import EvaluationCounter, odeint
from .conv_nets import ConvODEnet
from .pixels import bits_per_dim, logit_inverse, logit_transform

__all__ = ["MultiscaleCNF", "plan", "squeeze", "unsqueeze"]


def squeeze(x: Tensor, factor: int = 2) -> Tensor:
    """Move each ``factor × factor`` patch into channels: ``(B, C, H, W) → (B, C·f², H/f, W/f)``.

    A permutation of the entries, so its log-determinant is 0.

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> squeeze(x)[0, :, 0, 0].tolist()  # the top-left 2×2 patch
        [0.0, 1.0, 4.0, 5.0]
        >>> torch.equal(unsqueeze(squeeze(x)), x)
        True
    """
    b, c, h, w = x.shape
    if h % factor or w % factor:
        raise ValueError(f"cannot squeeze a {h}×{w} image by {factor}: sides must divide by it")
    x = x.reshape(b, c, h // factor, factor, w // factor, factor)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * factor * factor, h // factor, w // factor)


def unsqueeze(x: Tensor, factor: int = 2) -> Tensor:
    """The inverse of `squeeze`: ``(B, C·f², H, W) → (B, C, H·f, W·f)``."""
    b, c, h, w = x.shape
    c_out = c // (factor * factor)
    x = x.reshape(b, c_out, factor, factor, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c_out, h * factor, w * factor)


def plan(shape: Sequence[int], scales: int, blocks: int) -> list[tuple[str, tuple[int, ...]]]:
    """The chain of operations from data to latents: ``("cnf" | "squeeze" | "factor", shape)``,
    each with the shape of the state it acts on.

    Example:
        >>> [op for op, _ in plan((1, 8, 8), scales=2, blocks=1)]
        ['cnf', 'squeeze', 'cnf', 'factor', 'cnf']
    """
    if scales < 1 or blocks < 1:
        raise ValueError(f"scales and blocks must be at least 1, got {scales} and {blocks}")
    c, h, w = shape
    steps: list[tuple[str, tuple[int, ...]]] = []
    for scale in range(scales):
        steps += [("cnf", (c, h, w))] * blocks
        if scale == scales - 1:
            break
        if h % 2 or w % 2:
            raise ValueError(
                f"scale {scale + 1} of {scales} cannot squeeze a {h}×{w} state (sides must be "
                f"even); an image of shape {tuple(shape)} allows fewer scales"
            )
        steps.append(("squeeze", (c, h, w)))
        c, h, w = 4 * c, h // 2, w // 2
        steps += [("cnf", (c, h, w))] * blocks
        steps.append(("factor", (c, h, w)))
        c //= 2
    return steps


class MultiscaleCNF(SolverSettings, nn.Module):
    r"""FFJORD's multiscale CNF for images, with the logit transform built in.

    Inputs are dequantised images ``y ∈ [0, 1)^{C×H×W}`` (`ffjord_edu.datasets.images.dequantize`);
    `log_prob` is the log-density of ``y`` (nats), `bits_per_dim` that of the discrete pixels.

    Arguments:
        shape: ``(C, H, W)`` of the images.
        levels: pixel levels of the data (17 for digits, 256 for MNIST/CIFAR-10), for bits/dim.
        scales: how many scales (each but the last squeezes and factors out half the channels).
        blocks: CNF blocks before and after each squeeze (FFJORD: 2).
        hidden: channels of each block's `ConvODEnet` (FFJORD: 64, 64, 64).
        layer, activation: the convolution layer and nonlinearity (FFJORD: softplus).
        alpha: the logit transform's margin (FFJORD: 1e-6; RealNVP: 0.05).
        T: integration time of each block.
        trace, noise, method, atol, rtol, step_size, backend, adjoint, kinetic, jacobian,
            max_steps: the `ffjord_edu.settings.Settings` shared by every block.

    Example:
        >>> flow = MultiscaleCNF((1, 4, 4), levels=17, scales=2, blocks=1, hidden=(4,),
        ...                      method="rk4", step_size=0.5)
        >>> flow.log_prob(torch.rand(3, 1, 4, 4)).shape, flow.sample(2).shape
        (torch.Size([3]), torch.Size([2, 1, 4, 4]))
    """

    def __init__(
        self,
        shape: Sequence[int] = (1, 8, 8),
        levels: int = 17,
        scales: int = 2,
        blocks: int = 2,
        hidden: Sequence[int] = (64, 64, 64),
        layer: str = "concatsquash",
        activation: str = "softplus",
        alpha: float = 0.05,
        T: float = 1.0,
        trace: str = "hutchinson",
        noise: str = "rademacher",
        method: str = "dopri5",
        atol: float = 1e-5,
        rtol: float = 1e-5,
        step_size: float | None = None,
        backend: str = "torchdiffeq",
        adjoint: bool = False,
        kinetic: float = 0.0,
        jacobian: float = 0.0,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        super().__init__()
        if len(shape) != 3:
            raise ValueError(f"shape is (C, H, W), got {tuple(shape)}")
        if not 0 <= alpha < 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5); got {alpha}")
        if not T > 0:
            raise ValueError(f"the integration time T must be positive, got {T}")
        self.shape, self.levels, self.alpha, self.T = tuple(shape), int(levels), alpha, float(T)
        self.dim = math.prod(self.shape)
        self.steps = plan(self.shape, scales, blocks)
        self.settings = Settings.pick(locals())  # the solver arguments, validated
        self.architecture = {
            "model": "multiscale",
            "shape": list(self.shape),
            "levels": self.levels,
            "scales": scales,
            "blocks": blocks,
            "hidden": list(hidden),
            "layer": layer,
            "activation": activation,
            "alpha": alpha,
            "T": self.T,
        }
        self.blocks = nn.ModuleList(
            AugmentedDynamics(ConvODEnet(s[0], hidden, layer, activation))
            for op, s in self.steps
            if op == "cnf"
        )
        self.counters = [EvaluationCounter() for _ in self.blocks]
        self.register_buffer("reference", torch.zeros(()), persistent=False)
        self.penalties: dict[str, Tensor] = {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MultiscaleCNF:
        """Build an untrained model from `MultiscaleCNF.config`."""
        return cls(**{k: v for k, v in config.items() if k != "model"})

    def _check_images(self, y: Tensor) -> None:
        if not isinstance(y, Tensor) or y.ndim != 4 or tuple(y.shape[1:]) != self.shape:
            got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(
                f"expected dequantised images of shape (batch, {', '.join(map(str, self.shape))})"
                f", got {got}; pass images.dequantize(x, levels) of uint8 images"
            )
        if y.is_floating_point() is False or bool(((y < 0) | (y > 1) | y.isnan()).any()):
            raise ValueError(
                "images must be floats in [0, 1] (no NaN): dequantise the integer pixels first with "
                "ffjord_edu.datasets.images.dequantize(x, levels)"
            )

    # --- the two directions ------------------------------------------------------------------
    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        r"""Images to latents: ``(z, log_det)`` with ``z`` of shape ``(B, D)`` (the factored-out
        latents of each scale, flattened and concatenated in order) and
        :math:`\log|\det \partial z/\partial y|` of shape ``(B,)``, so that
        ``log p(y) = log N(z; 0, I) + log_det``.

        With gradients on and a penalty weight positive, the penalties' path integrals are kept
        in ``self.penalties``, for inspection (`training_loss` uses the ones
        `encode_with_penalties` returns).
        """
        z, log_det, _ = self.encode_with_penalties(y)
        return z, log_det

    def encode_with_penalties(self, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """`encode`, with the penalties' path integrals summed over blocks."""
        self._check_images(y)
        h, log_det = logit_transform(y, self.alpha)
        regularizers = self.regularizers_now()
        zeros = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
        penalties = dict.fromkeys(regularizers, zeros)
        self.reset_counters()
        latents, k = [], 0
        for op, _ in self.steps:
            if op == "squeeze":
                h = squeeze(h)
            elif op == "factor":
                z_out, h = h.chunk(2, dim=1)
                latents.append(z_out.flatten(1))
            else:
                h, delta_logp, block_penalties = solve_density(
                    self.blocks[k],
                    h,
                    time_span(self.T, 0.0, h),
                    self.settings,
                    regularizers,
                    self.counters[k],
                )
                log_det = log_det - delta_logp
                penalties = {name: penalties[name] + block_penalties[name] for name in regularizers}
                k += 1
        latents.append(h.flatten(1))
        self.penalties = penalties  # the last solve's, for inspection
        return torch.cat(latents, dim=1), log_det, penalties

    def decode(self, z: Tensor) -> Tensor:
        """Latents ``(B, D)`` (as `encode` returns them) to images in ``[0, 1]``: the exact
        inverse, each CNF integrated forward from 0 to T."""
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"latents have shape (batch, {self.dim}), got {tuple(z.shape)}")
        self.reset_counters()
        pieces = iter(z.split(self._latent_sizes(), dim=1))
        factored = [next(pieces) for op, _ in self.steps if op == "factor"]
        last_shape = self._final_shape()
        h = next(pieces).reshape(z.shape[0], *last_shape)
        k = len(self.blocks)
        for op, shape in reversed(self.steps):
            if op == "squeeze":
                h = unsqueeze(h)
            elif op == "factor":
                z_out = factored.pop().reshape(z.shape[0], shape[0] // 2, *shape[1:])
                h = torch.cat([z_out, h], dim=1)
            else:
                k -= 1
                h = odeint(
                    self.blocks[k].net,
                    h,
                    time_span(0.0, self.T, h),
                    counter=self.counters[k],
                    **self.settings.solver_options,
                )[-1]
        return logit_inverse(h, self.alpha).clamp(0.0, 1.0)

    def _final_shape(self) -> tuple[int, ...]:
        c, h, w = self.steps[-1][1]
        return (c, h, w)

    def _latent_sizes(self) -> list[int]:
        sizes = [math.prod(s) // 2 for op, s in self.steps if op == "factor"]
        return [*sizes, math.prod(self._final_shape())]

    def latent_scales(self) -> list[int]:
        """How many latent dimensions each scale factors out (the last: what remains)."""
        return self._latent_sizes()

    # --- densities and samples ---------------------------------------------------------------
    def forward(self, y: Tensor) -> Tensor:
        """Same as `log_prob`."""
        return self.log_prob(y)

    def log_prob(self, y: Tensor) -> Tensor:
        """``log p(y)`` of dequantised images in nats, shape ``(B,)``."""
        z, log_det = self.encode(y)
        return standard_normal_log_prob(z) + log_det

    def bits_per_dim(self, y: Tensor) -> Tensor:
        """Bits per dimension of the discrete images behind ``y``, shape ``(B,)``."""
        return bits_per_dim(self.log_prob(y), self.dim, self.levels)

    def training_loss(self, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Mean bits/dim (the NLL in bits per pixel) plus the weighted penalties."""
        z, log_det, penalties = self.encode_with_penalties(y)
        log_prob = standard_normal_log_prob(z) + log_det
        bpd = bits_per_dim(log_prob, self.dim, self.levels).mean()
        parts = {"bits_per_dim": bpd.item(), "nll": -log_prob.mean().item()}
        return self.add_penalties(bpd, parts, penalties)

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` images in ``[0, 1]``, shape ``(n, C, H, W)``: ``z ~ N(0, τ² I)``, then `decode`.

        ``temperature`` τ < 1 draws from the middle of the base (Kingma & Dhariwal, 2018):
        smoother, more typical images, less variety.
        """
        if n < 1:
            raise ValueError(f"the number of samples must be at least 1, got {n}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        z = torch.randn(
            n,
            self.dim,
            generator=generator,
            dtype=self.reference.dtype,
            device=self.reference.device,
        )
        return self.decode(temperature * z)

    def to_pixels(self, y: Tensor) -> Tensor:
        """Images in ``[0, 1]`` back to integer levels ``0 … levels − 1`` (``uint8``)."""
        return (y * self.levels).floor().clamp(0, self.levels - 1).to(torch.uint8)
