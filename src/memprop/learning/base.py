r"""The learning-rule interface and the plain update step.

A rule turns (network, input, target) into an estimate of dJ/dtheta for every parameter, J the
batch mean of the cost C at the free fixed point; the update is theta <- theta - eta * grad
(:func:`sgd_step`). Symmetric weight matrices use the shared-parameter convention
(:func:`~memprop.networks.symmetric_gradient`): grad_ij = dJ/dw_ij for the one parameter
w_ij = w_ji, so that eta grad is exactly the paper's Delta w_ij (Eq. 11 symmetrised, Eq. 19).
Rules never touch devices; a crossbar turns the update into pulses.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from .._validate import positive
from ..networks.base import AbstractNetwork
from ..solvers import Equilibrium


@dataclass(frozen=True, slots=True)
class Estimate:
    """A rule's output: the gradient estimate and the free-phase equilibrium it came from."""

    grads: dict[str, torch.Tensor]
    free: Equilibrium | None


class AbstractLearningRule(abc.ABC):
    """Strategy object producing weight gradients; EP and RBP are interchangeable."""

    @abc.abstractmethod
    def estimate(self, network: AbstractNetwork, x: torch.Tensor | None, target: torch.Tensor, *,
                 s0: torch.Tensor | None = None, generator: torch.Generator | None = None) -> Estimate:
        """Gradient estimate and free equilibrium for one pattern (batch of 1) or a batch."""

    def gradients(self, network: AbstractNetwork, x: torch.Tensor | None, target: torch.Tensor, *,
                  s0: torch.Tensor | None = None, generator: torch.Generator | None = None
                  ) -> dict[str, torch.Tensor]:
        """dJ/dtheta estimates by parameter name (the update is -eta times them)."""
        return self.estimate(network, x, target, s0=s0, generator=generator).grads


def sgd_step(network: AbstractNetwork, grads: dict[str, torch.Tensor],
             lr: float | dict[str, float]) -> None:
    """theta <- theta - lr * grad, in place, for every parameter in ``grads``.

    ``lr`` is one rate or a rate per parameter name (e.g. per layer). Symmetric, masked
    gradients keep W symmetric and masked entries at exactly 0.
    """
    params = network.parameters
    for name, g in grads.items():
        rate = lr[name] if isinstance(lr, dict) else lr
        positive(f"lr[{name!r}]" if isinstance(lr, dict) else "lr", rate, allow_zero=True)
        params[name].sub_(g, alpha=rate)
