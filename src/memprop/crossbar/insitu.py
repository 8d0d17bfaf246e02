r"""In situ training: a network's parameters held on crossbars, updated through the devices.

The learning rules are unchanged: they produce gradients from the network as usual. The study
builds crossbars once (:func:`crossbars_for`), then replaces :func:`memprop.learning.sgd_step`
by :func:`apply_update`, which routes each parameter's update -lr grad through its crossbar and
writes what the hardware then holds back into the network's parameter tensors, in place::

    xbars = crossbars_for(network, CrossbarConfig(device=resolve_device("ag-a-si"), w_max=0.5),
                          generator=torch.Generator().manual_seed(seed + 1))
    for x, y in data:
        grads = rule.gradients(network, x, y, generator=gen)
        apply_update(network, grads, lr, xbars)        # instead of sgd_step(network, grads, lr)
    totals = run_counters(xbars)                       # pulses, events, energy_j, ...

With an :class:`~memprop.devices.IdealDevice` the parameters after ``apply_update`` are
bit-identical to ``sgd_step``'s, and no random number is drawn.

Read noise. The weights written back are one *read* of the crossbar (with read noise when the
device has it), and stay fixed until the next write or :func:`read_weights` call: each
relaxation must see one fixed vector field for the convergence-based solvers to converge, and
physically the relaxation integrates the fast noise of the analog read-out. Call
:func:`read_weights` before each relaxation (e.g. before each example's estimate, and before each
evaluation) to draw a fresh read; EP's free and nudged phases then share one draw (the
favourable case for EP's phase contrast). ``Crossbar.read_matvec`` gives a fresh draw per
matrix-vector product for code that does its own products.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import torch

from .._validate import positive
from ..errors import ConfigError
from .crossbar import Crossbar, CrossbarConfig, ProgramStats

if TYPE_CHECKING:  # networks sit above the crossbar layer; only their interface is used here
    from ..networks.base import AbstractNetwork


def crossbars_for(network: AbstractNetwork, config: CrossbarConfig, *,
                  generator: torch.Generator | None = None, names: Collection[str] | None = None,
                  symmetric: bool | None = None,
                  masks: Mapping[str, torch.Tensor] | None = None) -> dict[str, Crossbar]:
    """One crossbar per parameter of ``network`` (or per name in ``names``), initialised from it.

    The network's parameters are then overwritten in place with what the crossbars hold (clipped
    to w_max, faults, variation, read noise): training starts from the hardware's state.

    Args:
        symmetric: whether square parameters are symmetric matrices (one parameter per neuron
            pair); default: a square parameter that is exactly symmetric now.
        masks: connectivity per parameter name; default: ``network.mask`` for ``"W"`` when the
            network has one (the recurrent models), none otherwise.
    """
    params = network.parameters
    names = list(params) if names is None else list(names)
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ConfigError(f"names {unknown} are not parameters of the network; it has {list(params)}")
    masks = dict(masks or {})
    if "W" in params and "W" not in masks:
        mask = getattr(network, "mask", None)
        if isinstance(mask, torch.Tensor):
            masks["W"] = mask
    out = {}
    for name in names:
        W = params[name]
        square = W.ndim >= 2 and W.shape[-1] == W.shape[-2]
        sym = (square and bool(torch.equal(W, W.mT))) if symmetric is None else (symmetric and square)
        out[name] = Crossbar(W, config, mask=masks.get(name), symmetric=sym, generator=generator)
        with torch.no_grad():
            W.copy_(out[name].read())
    return out


def apply_update(network: AbstractNetwork, grads: Mapping[str, torch.Tensor],
                 lr: float | Mapping[str, float], crossbars: Mapping[str, Crossbar]
                 ) -> dict[str, ProgramStats]:
    """Mirror of :func:`memprop.learning.sgd_step`, through the crossbars.

    For every parameter in ``grads``: theta <- theta - lr * grad on its crossbar (parameters
    without one are updated exactly, as by ``sgd_step``), then the parameter tensor receives one
    read of the crossbar, in place. ``lr`` is one rate or a rate per parameter name.

    Returns:
        The programming cost of this step, per parameter with a crossbar.
    """
    params = network.parameters
    stats = {}
    with torch.no_grad():
        for name, g in grads.items():
            rate = lr[name] if isinstance(lr, Mapping) else lr
            positive(f"lr[{name!r}]" if isinstance(lr, Mapping) else "lr", rate, allow_zero=True)
            xb = crossbars.get(name)
            if xb is None:
                params[name].sub_(g, alpha=rate)
                continue
            stats[name] = xb.apply_gradient(g, rate)
            params[name].copy_(xb.read())
    return stats


def read_weights(network: AbstractNetwork, crossbars: Mapping[str, Crossbar], *,
                 generator: torch.Generator | None = None) -> None:
    """Write a fresh read of every crossbar into the network's parameters (in place).

    Use it before a relaxation to draw new read noise (and to let drift show after
    ``Crossbar.advance``); without read noise or drift it changes nothing.
    """
    params = network.parameters
    with torch.no_grad():
        for name, xb in crossbars.items():
            params[name].copy_(xb.read(generator=generator))


def run_counters(crossbars: Mapping[str, Crossbar]) -> dict[str, float | int]:
    """Totals over crossbars: updates (steps), pulses, events, energy_j, devices."""
    out: dict[str, float | int] = {"updates": 0, "pulses": 0, "events": 0, "energy_j": 0.0, "devices": 0}
    for xb in crossbars.values():
        c = xb.counters()
        out["updates"] = max(out["updates"], c["updates"])
        for key in ("pulses", "events", "energy_j", "devices"):
            out[key] += c[key]
    return out
