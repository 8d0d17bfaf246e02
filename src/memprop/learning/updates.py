r"""Weight updates: gradient estimates (dense or factored) applied to a network, exactly or in situ.

Learning rules return, per parameter name, either a dense tensor or a *factored* gradient that
is never materialised unless asked:

- :class:`OuterProducts`: grad = (sum_i c_i a_i^T b_i) / divisor, a sum of rank-m products of
  minibatch factors a_i (m, p) and b_i (m, q) (EP on a layered network: its energy gradient is
  -rho(s_k)^T rho(s_{k+1}) / m). Applied in place with one ``addmm_`` per term, so the update of
  a 784 x 500 weight never writes a dense temporary;
- :class:`RowSum`: grad = c * (sum over rows of b) / divisor (a bias); :class:`Scaled`:
  grad = c * v / divisor (a bias whose sum the network computed with the others').

:func:`apply_update` is the one update: theta <- theta - lr * grad for every parameter in
``grads``. A parameter held on hardware (:meth:`~memprop.networks.AbstractNetwork.place`) takes
the crossbar's one programming path (requested change -> pulses -> devices -> one read-out); an
exact holder (the ideal device) and a plain Parameter take the same in-place arithmetic, so
training on ideal devices is bit-identical to training without devices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .._validate import positive
from ..errors import ConfigError
from ..networks.factored import OuterProducts, RowSum, Scaled

Factored = OuterProducts | RowSum | Scaled
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


@torch.no_grad()
def apply_update(network, grads: Mapping[str, Grad], lr, *, alive: torch.Tensor | None = None,
                 norms: bool = False) -> dict:
    """theta <- theta - lr * grad for every parameter in ``grads`` (see the module docstring).

    Args:
        network: any :class:`~memprop.networks.AbstractNetwork`.
        grads: gradient estimates by parameter name (dense or factored).
        lr: one rate, a rate per name, or a tensor broadcasting against each parameter (e.g.
            (C, 1, 1): one rate per configuration of stacked weights).
        alive: (C,) bool for stacked weights: configurations with a non-finite gradient, or whose
            updated exact weights would not be finite, are marked dead (in place) and never
            updated again; their updates are zero, so their weights stay the last finite ones.
        norms: also return, per configuration (stacked) or as a 0-d tensor, the Frobenius norm
            of this update over all parameters (``"norm"``).

    Returns:
        ``{"stats": {name: what the holder's programming cost}, "norm": tensor or None}``.
    """
    stats: dict = {}
    total = None
    stacked = alive is not None or isinstance(lr, torch.Tensor)
    params, modules = network._parameters, network._modules
    for name, g in grads.items():
        rate = _rate(lr, name)
        holder = modules.get(name)
        if holder is None:
            target = params.get(name)
            if target is None:
                raise ConfigError(f"grads names {name!r}, not a trainable tensor of the network "
                                  f"({list(network.weight_names)})")
            exact = True
        else:
            holder = network.holder(name)
            target, exact = holder.weight, holder.exact
        if stacked:
            gd = dense(g)
            if alive is not None and exact:
                # judged on the updated weights: a non-finite gradient makes them non-finite, and
                # so does a finite step that overflows them; such a configuration keeps its last
                # finite weights and is frozen for good. One reduction tests them: a sum is
                # finite iff every term is, unless it overflows (weights near 1e308: diverged too)
                step = rate * gd
                new = target - step
                alive &= torch.isfinite(new.flatten(1).sum(1))
                keep = alive.view(-1, *([1] * (gd.ndim - 1)))
                torch.where(keep, new, target, out=target)
                if norms:
                    step = torch.where(keep, step, 0.0)
            elif alive is not None:  # on hardware the devices bound the weights: judge the gradient
                alive &= torch.isfinite(gd).flatten(1).all(1)
                step = torch.where(alive.view(-1, *([1] * (gd.ndim - 1))), rate * gd.nan_to_num(0.0), 0.0)
                stats[name] = holder.program(-step)
            else:
                step = rate * gd
                if not exact:
                    stats[name] = holder.program(-step)
                else:
                    target.sub_(step)
            if norms:
                sq = step.flatten(1).norm(dim=1) if step.ndim > 1 else step.norm()
                total = sq if total is None else (total.square() + sq.square()).sqrt()
            continue
        if not exact:
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


def _add_norm(total, t: torch.Tensor) -> torch.Tensor:
    n = t.norm()
    return n if total is None else (total.square() + n.square()).sqrt()
