r"""Weight updates: gradient estimates (dense or factored) applied to a network, exactly or in situ.

Learning rules return, per parameter name, either a dense tensor or a *factored* gradient that
is never materialised unless asked:

- :class:`OuterProducts`: grad = (sum_i c_i a_i^T b_i) / divisor, a sum of rank-m products of
  minibatch factors a_i (m, p) and b_i (m, q) (EP on a layered network: its energy gradient is
  -rho(s_k)^T rho(s_{k+1}) / m). Applied in place with one ``addmm_`` per term, so the update of
  a 784 x 500 weight never writes a dense temporary;
- :class:`RowSum`: grad = c * (sum over rows of b) / divisor (a bias).

:func:`apply_update` is the one update: theta <- theta - lr * grad for every parameter in
``grads``. A parameter held on hardware (:meth:`~memprop.networks.AbstractNetwork.place`) takes
the crossbar's one programming path (requested change -> pulses -> devices -> one read-out); an
exact holder (the ideal device) and a plain Parameter take the same in-place arithmetic, so
training on ideal devices is bit-identical to training without devices.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .._validate import positive
from ..errors import ConfigError


@dataclass(frozen=True, slots=True)
class OuterProducts:
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


@dataclass(frozen=True, slots=True)
class RowSum:
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


Factored = OuterProducts | RowSum
Grad = torch.Tensor | Factored


def dense(g: Grad) -> torch.Tensor:
    """A gradient as a tensor (factored ones are materialised)."""
    return g if isinstance(g, torch.Tensor) else g.dense()


def _rate(lr, name: str):
    rate = lr[name] if isinstance(lr, dict) else lr
    if type(rate) is float and 0.0 <= rate < math.inf:  # the common case, checked cheaply
        return rate
    if not isinstance(rate, torch.Tensor):
        positive(f"lr[{name!r}]" if isinstance(lr, Mapping) else "lr", rate, allow_zero=True)
    return rate


def apply_update(network, grads: Mapping[str, Grad], lr, *, alive: torch.Tensor | None = None,
                 norms: bool = False) -> dict:
    """theta <- theta - lr * grad for every parameter in ``grads`` (see the module docstring).

    Args:
        network: any :class:`~memprop.networks.AbstractNetwork`.
        grads: gradient estimates by parameter name (dense or factored).
        lr: one rate, a rate per name, or a tensor broadcasting against each parameter (e.g.
            (C, 1, 1): one rate per configuration of stacked weights).
        alive: (C,) bool for stacked weights: configurations with a non-finite gradient are
            marked dead (in place) and never updated again; their updates are zero.
        norms: also return, per configuration (stacked) or as a 0-d tensor, the Frobenius norm
            of this update over all parameters (``"norm"``).

    Returns:
        ``{"stats": {name: what the holder's programming cost}, "norm": tensor or None}``.
    """
    stats: dict = {}
    total = None
    stacked = alive is not None or isinstance(lr, torch.Tensor)
    for name, g in grads.items():
        rate = _rate(lr, name)
        holder = network.holder(name)
        if holder is None:
            target = network._parameters.get(name)
            if target is None:
                raise ConfigError(f"grads names {name!r}, not a trainable tensor of the network "
                                  f"({list(network.weight_names)})")
        else:
            target = holder.weight
        with torch.no_grad() if target.requires_grad else _NOTHING:
            if stacked:
                gd = dense(g)
                if alive is not None:
                    alive &= torch.isfinite(gd).flatten(1).all(1)
                    step = torch.where(alive.view(-1, *([1] * (gd.ndim - 1))), rate * gd.nan_to_num(0.0), 0.0)
                else:
                    step = rate * gd
                if holder is not None and not holder.exact:
                    stats[name] = holder.program(-step)
                else:
                    target.sub_(step)
                if norms:
                    sq = step.flatten(1).norm(dim=1) if step.ndim > 1 else step.norm()
                    total = sq if total is None else (total.square() + sq.square()).sqrt()
                continue
            if holder is not None and not holder.exact:
                delta = g.delta(rate) if not isinstance(g, torch.Tensor) else g * (-rate)
                stats[name] = holder.program(delta)
                if norms:
                    total = _add_norm(total, delta)
            elif isinstance(g, torch.Tensor):
                target.sub_(g, alpha=rate)
                if norms:
                    total = _add_norm(total, g * rate)
            else:
                g.apply_(target, rate)
                if norms:
                    total = _add_norm(total, g.delta(rate))
    return {"stats": stats, "norm": total}


_NOTHING = contextlib.nullcontext()


def _add_norm(total, t: torch.Tensor) -> torch.Tensor:
    n = t.norm()
    return n if total is None else (total.square() + n.square()).sqrt()
