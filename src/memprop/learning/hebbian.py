r"""Hebbian and Storkey learning for binary Hopfield networks (the paper's baselines).

Hebbian: W = (1/N) sum_mu xi^mu xi^mu^T with zero diagonal; online, each pattern adds
(1/N) xi xi^T.

Storkey (1997), exactly: pattern by pattern,
w_ij <- w_ij + (1/N)(xi_i xi_j - xi_i h_ji - h_ij xi_j), with the local field
h_ij = sum_{k != i, j} w_ik xi_k, then w_ii = 0.

Both are presented as gradients (the update is -lr * grad, so lr = 1 applies the rule), masked
by the network's connectivity. Storkey's rule is sequential by definition: a batch of patterns
is applied one after the other (a loop over the batch, each step vectorised over units and over
configurations of batched weights). Recall: :class:`~memprop.networks.HopfieldNetwork` with
:class:`~memprop.solvers.SignRecall` (synchronous sign dynamics).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..networks.base import AbstractNetwork
from .base import AbstractLearningRule, Estimate


def _patterns(network: AbstractNetwork, xi: torch.Tensor) -> torch.Tensor:
    """Patterns as (C, P, n) for batched weights or (P, n) for shared weights."""
    W = network.W
    if xi.shape[-1] != W.shape[-1]:
        raise ConfigError(f"patterns must have last dimension {W.shape[-1]}, got shape {tuple(xi.shape)}")
    if W.ndim == 3:
        return xi.reshape(W.shape[0], -1, W.shape[-1]) if xi.ndim != 3 else xi
    return xi.reshape(-1, xi.shape[-1])


def _masked_zero_diag(dW: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    dW = dW.clone()
    dW.diagonal(dim1=-2, dim2=-1).zero_()
    return dW if mask is None else dW * mask


@dataclass(frozen=True, kw_only=True, slots=True)
class Hebbian(AbstractLearningRule):
    """Hebbian rule: grad = -(1/N) sum over the batch of xi xi^T (zero diagonal, masked)."""

    def estimate(self, network, x, target, *, s0=None, generator=None, drive=None, workspace=None,
                 validate=True) -> Estimate:
        xi = _patterns(network, target)
        n = xi.shape[-1]
        dW = torch.matmul(xi.mT, xi) / n
        return Estimate({"W": -_masked_zero_diag(dW, getattr(network, "mask", None))}, None)


@dataclass(frozen=True, kw_only=True, slots=True)
class Storkey(AbstractLearningRule):
    """Storkey's (1997) incremental rule, exact (see the module docstring)."""

    def estimate(self, network, x, target, *, s0=None, generator=None, drive=None, workspace=None,
                 validate=True) -> Estimate:
        xi_all = _patterns(network, target)
        mask = getattr(network, "mask", None)
        W0 = network.W
        W = W0.clone()
        n = W.shape[-1]
        for p in range(xi_all.shape[-2]):  # Storkey's rule is sequential over patterns
            xi = xi_all[..., p, :]  # (C, n) or (n,)
            # h_i = sum_{k != i} w_ik xi_k (w_ii = 0 here); h_ij = h_i - w_ij xi_j
            h = torch.matmul(W, xi[..., None])[..., 0] - W.diagonal(dim1=-2, dim2=-1) * xi
            h_ij = h[..., :, None] - W * xi[..., None, :]
            M = h_ij * xi[..., None, :]  # h_ij xi_j; its transpose is xi_i h_ji
            # (M + M^T) is exactly symmetric in floating point, so W stays exactly symmetric.
            dW = (xi[..., :, None] * xi[..., None, :] - (M + M.mT)) / n
            W = W + _masked_zero_diag(dW, mask)
        return Estimate({"W": W0 - W}, None)
