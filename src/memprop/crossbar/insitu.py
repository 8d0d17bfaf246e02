r"""Totals over the crossbars of an in situ run.

In situ training puts a network's weights on crossbars
(:meth:`memprop.networks.AbstractNetwork.on_crossbars`, or ``network.place(name, holder)``);
the learning layer's one update (:func:`memprop.learning.apply_update`, used by ``sgd_step``
and ``train_epoch``) then programs every update through them, and the network reads the
hardware's weights. With an :class:`~memprop.devices.IdealDevice` the weights after each update
are bit-identical to training without devices, and no random number is drawn::

    xbars = network.on_crossbars(CrossbarConfig(device=resolve_device("ag-a-si"), w_max=0.5),
                                 generator=torch.Generator().manual_seed(seed + 1))
    for x, y in data:
        sgd_step(network, rule.gradients(network, x, y, generator=gen), lr)
    totals = run_counters(xbars)                       # pulses, events, energy_j, ...

Read noise. The weights the network reads are one *read* of the crossbar (with read noise when
the device has it), fixed until the next write or ``network.refresh()``: each relaxation must
see one fixed vector field for the convergence-based solvers to converge, and physically the
relaxation integrates the fast noise of the analog read-out. Call ``network.refresh()`` before a
relaxation to draw a fresh read; EP's free and nudged phases then share one draw (the
favourable case for EP's phase contrast). ``Crossbar.read_matvec`` gives a fresh draw per
matrix-vector product for code that does its own products.
"""

from __future__ import annotations

from collections.abc import Mapping

from .crossbar import Crossbar


def run_counters(crossbars: Mapping[str, Crossbar]) -> dict[str, float | int]:
    """Totals over crossbars: updates (steps), pulses, events, energy_j, devices."""
    out: dict[str, float | int] = {"updates": 0, "pulses": 0, "events": 0, "energy_j": 0.0, "devices": 0}
    for xb in crossbars.values():
        c = xb.counters()
        out["updates"] = max(out["updates"], c["updates"])
        for key in ("pulses", "events", "energy_j", "devices"):
            out[key] += c[key]
    return out
