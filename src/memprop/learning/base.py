r"""The learning-rule interface and the plain update step.

A rule turns (network, input, target) into an estimate of dJ/dtheta for every parameter, J the
batch mean of the cost C at the free fixed point; the update is theta <- theta - eta * grad
(:func:`sgd_step`). Symmetric weight matrices use the shared-parameter convention
(:func:`~memprop.networks.symmetric_gradient`): grad_ij = dJ/dw_ij for the one parameter
w_ij = w_ji, so that eta grad is exactly the paper's Delta w_ij (Eq. 11 symmetrised, Eq. 19).
Rules never touch devices; a crossbar turns the update into pulses (:func:`apply_update`).
"""

from __future__ import annotations

import abc
from typing import NamedTuple

import torch

from ..networks.base import AbstractNetwork
from ..solvers import Equilibrium
from .updates import Grad, apply_update, dense


class Estimate(NamedTuple):
    """A rule's output: the gradient estimate (dense tensors or factored, see
    :mod:`memprop.learning.updates`) and the free-phase equilibrium it came from."""

    grads: dict[str, Grad]
    free: Equilibrium | None

    def dense(self) -> dict[str, torch.Tensor]:
        """The estimate with every gradient as a tensor."""
        return {k: dense(g) for k, g in self.grads.items()}


class AbstractLearningRule(abc.ABC):
    """Strategy object producing weight gradients; EP and RBP are interchangeable."""

    @abc.abstractmethod
    def estimate(self, network: AbstractNetwork, x: torch.Tensor | None, target: torch.Tensor, *,
                 s0: torch.Tensor | None = None, generator: torch.Generator | None = None,
                 drive: torch.Tensor | None = None, workspace=None, validate: bool = True) -> Estimate:
        """Gradient estimate and free equilibrium for one pattern (batch of 1) or a batch.

        ``drive``: a precomputed ``network.drive(x, ...)``; ``workspace``: buffers to reuse
        (then the estimate's tensors may live in it until the next estimate); ``validate``:
        check inputs (hot loops that validated once pass False)."""

    def gradients(self, network: AbstractNetwork, x: torch.Tensor | None, target: torch.Tensor, *,
                  s0: torch.Tensor | None = None, generator: torch.Generator | None = None
                  ) -> dict[str, torch.Tensor]:
        """dJ/dtheta estimates by parameter name, as tensors (the update is -eta times them)."""
        return self.estimate(network, x, target, s0=s0, generator=generator).dense()


def sgd_step(network: AbstractNetwork, grads, lr) -> dict:
    """theta <- theta - lr * grad, in place, for every parameter in ``grads``; parameters on
    hardware are programmed (see :func:`~memprop.learning.updates.apply_update`).

    ``lr`` is one rate, a rate per parameter name (e.g. per layer), or a tensor (one rate per
    configuration of stacked weights). Symmetric, masked gradients keep W symmetric and masked
    entries at exactly 0. Returns what programming cost, per parameter on hardware.
    """
    return apply_update(network, grads, lr)["stats"]
