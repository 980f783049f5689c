r"""Time-conditioned networks for the dynamics :math:`f(t, z)` of a CNF."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from .options import check_choice

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "ConcatLinear",
    "ConcatSquashLinear",
    "IgnoreLinear",
    "ODEnet",
]


class IgnoreLinear(nn.Module):
    r"""A linear layer that ignores time: :math:`W z + b`."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.linear(z)


class ConcatLinear(nn.Module):
    r"""Time as an extra input feature: :math:`W [z, t] + b`."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in + 1, dim_out)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        t = t.reshape(-1, 1).to(z.dtype).expand(z.shape[0], 1)
        return self.linear(torch.cat([z, t], dim=1))


class ConcatSquashLinear(nn.Module):
    r"""FFJORD's concat-squash layer: :math:`(W z + b) \odot \sigma(g\,t + c) + h\,t`.

    Time gates every output unit (multiplicatively) and shifts it (additively), so the same
    weights can describe a velocity field that changes smoothly with :math:`t`.
    """

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)
        self.gate = nn.Linear(1, dim_out)
        self.shift = nn.Linear(1, dim_out, bias=False)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        t = t.reshape(-1, 1).to(z.dtype)  # one time for the batch, or one per row (flow matching)
        return self.linear(z) * torch.sigmoid(self.gate(t)) + self.shift(t)


LAYERS: dict[str, type[nn.Module]] = {
    "concatsquash": ConcatSquashLinear,
    "concat": ConcatLinear,
    "ignore": IgnoreLinear,
}
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "swish": nn.SiLU,
}


class ODEnet(nn.Module):
    r"""A multilayer perceptron :math:`f(t, z)` whose every layer sees the time :math:`t`.

    Arguments:
        dim: the data dimension :math:`D`; input and output have shape ``(B, D)``.
        hidden: the widths of the hidden layers.
        layer: the time-conditioned layer, one of `LAYERS`.
        activation: the nonlinearity between layers, one of `ACTIVATIONS`; smooth ones
            (tanh, softplus) keep the ODE smooth, which adaptive solvers reward with fewer steps.

    The time ``t`` is a 0-d tensor (one time for the whole batch, as in an ODE solve) or has
    shape ``(B,)``, one time per row (as in flow matching, `ffjord_edu.models.flow_matching`).

    Example:
        >>> net = ODEnet(2, hidden=(16, 16))
        >>> net(torch.tensor(0.5), torch.zeros(5, 2)).shape
        torch.Size([5, 2])
    """

    # The layers this network is built from; `ffjord_edu.models.conv_nets.ConvODEnet` swaps in
    # convolutions and keeps everything else.
    layer_registry: ClassVar[dict[str, type[nn.Module]]] = LAYERS

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (64, 64, 64),
        layer: str = "concatsquash",
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        layers = self.layer_registry
        check_choice("layer", layer, layers)
        check_choice("activation", activation, ACTIVATIONS)
        widths = [dim, *hidden, dim]
        self.hidden_widths = tuple(hidden)  # a plain attribute: not part of the state_dict
        self.layers = nn.ModuleList(
            layers[layer](w_in, w_out) for w_in, w_out in itertools.pairwise(widths)
        )
        self.activation = ACTIVATIONS[activation]()

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            z = layer(t, z)
            if i < len(self.layers) - 1:
                z = self.activation(z)
        return z

    @property
    def bottleneck(self) -> int:
        """Index of the narrowest hidden layer (the first, on ties): where the bottleneck trick
        puts its probe (`ffjord_edu.trace.bottleneck_divergence`)."""
        widths = list(self.hidden_widths)
        if not widths:
            raise ValueError(
                "the bottleneck trace needs a hidden layer, and this network has none: "
                "give it hidden widths, e.g. hidden=(64, 8, 64)"
            )
        return widths.index(min(widths))

    def forward_with_bottleneck(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        r"""``(h, f)``: the activations :math:`h` of the narrowest hidden layer, and
        :math:`f(t, z) = g(t, h)`, the same value `forward` returns."""
        split, h = self.bottleneck, z
        for i, layer in enumerate(self.layers):
            z = layer(t, z)
            if i < len(self.layers) - 1:
                z = self.activation(z)
            if i == split:
                h = z
        return h, z
