r"""Neuron activation functions g (or \rho) with their closed-form derivatives.

Every activation is monotone non-decreasing. ``prime`` is the derivative used by the
closed-form dynamics; tests check it against autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, slots=True)
class Tanh:
    r"""g(u) = tanh(u), g'(u) = 1 - tanh(u)^2 (the paper's choice for reconstruction)."""

    name = "tanh"

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return torch.tanh(u)

    def prime(self, u: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(u)
        return 1.0 - t * t


@dataclass(frozen=True, slots=True)
class Sigmoid:
    r"""g(u) = 1 / (1 + exp(-u)), g'(u) = g(u) (1 - g(u))."""

    name = "sigmoid"

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(u)

    def prime(self, u: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(u)
        return s * (1.0 - s)


@dataclass(frozen=True, slots=True)
class HardSigmoid:
    r"""\rho(s) = clip(s, 0, 1) (Scellier & Bengio 2017), \rho'(s) = 1 on [0, 1], else 0.

    The derivative is taken as 1 on the closed interval, as Scellier & Bengio's implementation
    does: relaxed states sit on the bounds and must still feel their input there.
    """

    name = "hard_sigmoid"

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return u.clamp(0.0, 1.0)

    def prime(self, u: torch.Tensor) -> torch.Tensor:
        return ((u >= 0.0) & (u <= 1.0)).to(u.dtype)


Activation = Tanh | Sigmoid | HardSigmoid

TANH = Tanh()
"""The default activation (a frozen, shareable instance)."""

ACTIVATIONS: dict[str, Activation] = {"tanh": Tanh(), "sigmoid": Sigmoid(), "hard_sigmoid": HardSigmoid()}
