r"""Time-conditioned convolutional networks :math:`f(t, z)` for image states ``(B, C, H, W)``.

The convolutional twins of `ffjord_edu.nets`: the same three ways of letting a layer see the
time :math:`t` (concat-squash, concat, ignore), with a 3×3 convolution in place of the matrix.
A 3×3 convolution with padding 1 keeps ``H × W``, so the network maps an image state to a
velocity of the same shape, as an ODE needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nets import ODEnet

__all__ = ["CONV_LAYERS", "ConcatConv2d", "ConcatSquashConv2d", "ConvODEnet", "IgnoreConv2d"]


def _per_row(t: Tensor, z: Tensor) -> Tensor:
    """``t`` as a column ``(1 or B, 1)`` in ``z``'s dtype: one time for the batch, or one per row."""
    return t.reshape(-1, 1).to(z.dtype)


class IgnoreConv2d(nn.Module):
    r"""A 3×3 convolution that ignores time: :math:`W * z + b`."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.conv(z)


class ConcatConv2d(nn.Module):
    r"""Time as an extra constant input channel: :math:`W * [z, t\mathbf{1}] + b`."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in + 1, channels_out, 3, padding=1)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        column = _per_row(t, z).expand(z.shape[0], 1)
        plane = column[:, :, None, None].expand(z.shape[0], 1, *z.shape[2:])
        return self.conv(torch.cat([z, plane], dim=1))


class ConcatSquashConv2d(nn.Module):
    r"""FFJORD's concat-squash convolution: :math:`(W * z + b) \odot \sigma(g\,t + c) + h\,t`.

    The gate and shift act per output channel (the same at every pixel), as in FFJORD.

    Example:
        >>> layer = ConcatSquashConv2d(1, 4)
        >>> layer(torch.tensor(0.3), torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.gate = nn.Linear(1, channels_out)
        self.shift = nn.Linear(1, channels_out, bias=False)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        t = _per_row(t, z)
        gate = torch.sigmoid(self.gate(t))[:, :, None, None]
        return self.conv(z) * gate + self.shift(t)[:, :, None, None]


CONV_LAYERS: dict[str, type[nn.Module]] = {
    "concatsquash": ConcatSquashConv2d,
    "concat": ConcatConv2d,
    "ignore": IgnoreConv2d,
}


class ConvODEnet(ODEnet):
    r"""A stack of time-conditioned 3×3 convolutions :math:`f(t, z)`, ``(B, C, H, W) → same``.

    Arguments:
        channels: ``C``, the channels of the state.
        hidden: the channels of the hidden layers (FFJORD's image models: 64, 64, 64).
        layer: one of `CONV_LAYERS`.
        activation: one of `ffjord_edu.nets.ACTIVATIONS`; FFJORD's image models use softplus.

    Example:
        >>> net = ConvODEnet(2, hidden=(8, 8))
        >>> net(torch.tensor(0.5), torch.zeros(3, 2, 4, 4)).shape
        torch.Size([3, 2, 4, 4])

    Only the layer registry and the default activation differ from `ffjord_edu.nets.ODEnet`,
    whose construction and forward pass (layer, activation, ..., layer) this class shares.
    """

    layer_registry = CONV_LAYERS

    def __init__(
        self,
        channels: int,
        hidden: Sequence[int] = (64, 64, 64),
        layer: str = "concatsquash",
        activation: str = "softplus",
    ) -> None:
        super().__init__(channels, hidden, layer, activation)
