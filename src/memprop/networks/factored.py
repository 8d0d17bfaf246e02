r"""Gradients as factors: sums of outer products and scaled vectors, never materialised unless asked.

An energy network's gradient with respect to a weight matrix is an average of outer products of
the states, dE/dW_k = -rho(s_k)^T rho(s_{k+1}) / m; EP's estimate is the difference of two such
averages. Kept as factors, an update of a 784 x 500 weight costs one ``addmm_`` per term and no
dense temporary. The learning layer applies them (:func:`memprop.learning.apply_update`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class OuterProducts(NamedTuple):
    """grad = (sum_i c_i a_i^T b_i) / divisor (see the module docstring)."""

    terms: tuple[tuple[torch.Tensor, torch.Tensor, float], ...]
    divisor: float

    @property
    def shape(self) -> tuple[int, ...]:
        a, b, _ = self.terms[0]
        return (a.shape[-1], b.shape[-1])

    def dense(self) -> torch.Tensor:
        """The gradient as a tensor."""
        return self.delta(-1.0)

    def delta(self, lr: float) -> torch.Tensor:
        """The update -lr * grad as a tensor (what a crossbar is asked to program)."""
        (a0, b0, c0), rest = self.terms[0], self.terms[1:]
        t = torch.mm(a0.T, b0)
        for a, b, c in rest:
            t.addmm_(a.T, b, alpha=c / c0)
        return t.mul_(-c0 * lr / self.divisor)

    def apply_(self, W: torch.Tensor, lr: float) -> None:
        """W <- W - lr * grad, in place, one ``addmm_`` per term."""
        for a, b, c in self.terms:
            W.addmm_(a.T, b, alpha=-c * lr / self.divisor)


class RowSum(NamedTuple):
    """grad = c * (sum over the rows of b) / divisor."""

    b: torch.Tensor
    c: float
    divisor: float

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.b.shape[-1],)

    def dense(self) -> torch.Tensor:
        return self.b.sum(0) * (self.c / self.divisor)

    def delta(self, lr: float) -> torch.Tensor:
        return self.b.sum(0).mul_(-self.c * lr / self.divisor)

    def apply_(self, W: torch.Tensor, lr: float) -> None:
        W.add_(self.b.sum(0), alpha=-self.c * lr / self.divisor)


class Scaled(NamedTuple):
    """grad = c * v / divisor (e.g. a bias whose sum over the minibatch is already taken)."""

    v: torch.Tensor
    c: float
    divisor: float

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.v.shape)

    def dense(self) -> torch.Tensor:
        return self.v * (self.c / self.divisor)

    def delta(self, lr: float) -> torch.Tensor:
        return self.v.mul(-self.c * lr / self.divisor)

    def apply_(self, W: torch.Tensor, lr: float) -> None:
        W.add_(self.v, alpha=-self.c * lr / self.divisor)
