r"""Backpropagation: the software reference for the layered network's classification runs.

The same parameters as :class:`~memprop.networks.LayeredNetwork` (W_0 ... W_{L-1},
b_1 ... b_L, the same layer sizes) used as a feed-forward net, without the feedback
connections of the energy model:

.. math::
    y_1 = \rho(x W_0 + b_1), \quad y_{k+1} = \rho(y_k W_k + b_{k+1}), \quad
    \hat y = f(y_{L-1} W_{L-1} + b_L)

with rho the hard sigmoid clip(., 0, 1) on hidden layers and f the output function:
``"linear"`` (default) or ``"hard_sigmoid"``. The default output is linear because a clipped
output unit has zero gradient below 0, so backpropagation could never raise the correct class's
output once its input is negative (EP's nudge acts on the state, outside rho', and has no such
dead zone). The loss is EP's cost C = 1/2 ||T - y||^2 (``"mse"``, Eq. 14) or the softmax cross
entropy (``"cross_entropy"``), averaged over the batch; gradients come from ``torch.autograd``.
The update is the library's :func:`~memprop.learning.sgd_step`, as for EP.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import choice
from ..errors import ConfigError
from ..networks.layered import LayeredNetwork
from .base import AbstractLearningRule, Estimate

OUTPUTS = ("linear", "hard_sigmoid")
LOSSES = ("mse", "cross_entropy")


def feedforward(network: LayeredNetwork, x: torch.Tensor, *, output: str = "linear") -> torch.Tensor:
    """The feed-forward pass above: (B, n_0) inputs -> (B, n_L) outputs.

    Args:
        network: supplies W_k and b_k (autograd leaves or plain tensors).
        x: (B, n_0) inputs.
        output: ``"linear"`` or ``"hard_sigmoid"`` output function f.
    """
    choice("output", output, OUTPUTS)
    if not isinstance(network, LayeredNetwork):
        raise ConfigError(f"feedforward needs a LayeredNetwork, got {type(network).__name__}")
    y = x
    last = len(network.weights) - 1
    for k, (W, b) in enumerate(zip(network.weights, network.biases)):  # loop over layers
        y = torch.addmm(b, y, W)  # (B, n_{k+1})
        if k < last or output == "hard_sigmoid":
            y = y.clamp(0.0, 1.0)
    return y


def loss_value(y: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """The batch-mean loss: 1/2 ||T - y||^2 (``mse``) or cross entropy (``cross_entropy``)."""
    if loss == "mse":
        return 0.5 * ((target - y) ** 2).sum(-1).mean()
    return torch.nn.functional.cross_entropy(y, target.argmax(-1))


@dataclass(frozen=True, kw_only=True, slots=True)
class Backprop(AbstractLearningRule):
    """dJ/dtheta of the feed-forward pass by autograd (J the batch-mean loss). Final class."""

    output: str = "linear"
    """Output function f: ``"linear"`` or ``"hard_sigmoid"``."""
    loss: str = "mse"
    """``"mse"`` (EP's cost C) or ``"cross_entropy"``."""

    def __post_init__(self):
        choice("output", self.output, OUTPUTS)
        choice("loss", self.loss, LOSSES)

    def estimate(self, network, x, target, *, s0=None, generator=None, drive=None, workspace=None,
                 validate=True) -> Estimate:
        if not isinstance(network, LayeredNetwork):
            raise ConfigError(f"Backprop needs a LayeredNetwork, got {type(network).__name__}")
        if x is None:
            raise ConfigError("x (the input batch) is required by Backprop")
        params = {k: v.detach().requires_grad_(True) for k, v in network.trainable().items()}
        with torch.enable_grad():
            y = feedforward(network.with_parameters(params), x, output=self.output)
            j = loss_value(y, target, self.loss)
            grads = torch.autograd.grad(j, list(params.values()))
        return Estimate({k: g.detach() for k, g in zip(params, grads)}, None)
