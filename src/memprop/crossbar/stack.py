r"""A stack of configurations of one weight tensor, each on its own crossbar.

Studies train C configurations of a network together as one tensor program: the weights carry a
leading configuration dimension, W of shape (C, ...). :class:`CrossbarStack` holds such a
tensor with configuration c on a crossbar of ``configs[c]`` (any device, encoding and pulse
scheme, each with its own random generator, so that a configuration's numbers do not depend on
what else shares its stack). Configurations on the ideal device keep their exact weights: an
update adds the request exactly, as without devices.

Programming is one tensor program per *group*: configurations whose crossbars differ only in
numbers (the same device model, encoding, pulse scheme and pairing, with or without
device-to-device variation; no drift or read noise) are programmed together, every
per-configuration number (states, bounds, asymmetry, shape parameters, w_max, cap, write noise)
a tensor over the group's leading dimension, and write noise and stuck devices per configuration
(none where a configuration has none). A group holds its crossbars' conductances, pulse counts,
read-outs and counters as one tensor each (the crossbars' buffers are views of it), so an update
copies nothing per configuration. Each configuration still draws its rounding and write noise
from its own generator, in the order its own crossbar would, so the result is bit-identical to
programming the crossbars one by one (``tests/test_crossbar.py``). Configurations that fit no
group (drift, read noise) are programmed by their own crossbar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import _rng
from .._validate import tensor as check_tensor
from ..devices import AbstractPulsedDevice
from ..errors import ConfigError
from . import crossbar as _crossbar
from .crossbar import (
    Crossbar,
    CrossbarConfig,
    ProgramStats,
    move_in_place,
    read_out,
)
from .holder import AbstractWeightHolder
from .pulses import pulse_sizes


def _group_key(xb: Crossbar) -> tuple | None:
    """What crossbars programmed as one tensor must share (None: program it alone). Write noise
    and stuck devices are per-configuration tensors (zero noise, no stuck device where a
    configuration has none); device-to-device draws make every parameter a tensor of the
    conductances' shape, so configurations with them group apart from those without."""
    cfg, dev = xb.config, xb.config.device
    if cfg.ideal or not isinstance(dev, AbstractPulsedDevice):
        return None
    ni = dev.nonideal
    if ni.drift_nu != 0 or ni.read_noise != 0:  # reads and drift stay per crossbar
        return None
    return (type(dev), cfg.signed, cfg.scheme, cfg.pairing, xb.symmetric, xb.shape, xb.mask is None,
            bool(xb._param_names), xb.w_dtype)


_COUNTERS = ("n_updates", "n_events", "n_pulses", "energy_j", "clock")
_STATE = ("g", "pulses", "weight_") + _COUNTERS
"""The crossbar buffers a group holds as one tensor each (each crossbar's buffer a view)."""


class _Group:
    """Crossbars of one group key, programmed as one tensor (see the module docstring): the
    vectorised form of :meth:`Crossbar.program` with a leading configuration dimension."""

    def __init__(self, rows: list[int], crossbars: list[Crossbar]):
        self.rows, self.xbs = rows, crossbars
        self._const: dict | None = None
        self._rows: torch.Tensor | None = None
        self._views: list = []
        self.state: dict[str, torch.Tensor] = {}
        self._bind()

    def _bind(self) -> None:
        """Hold the crossbars' state as one tensor per buffer, each crossbar's buffer a view of
        it; again whenever a crossbar's buffer was replaced (e.g. moved to another device)."""
        state = self.state
        if state and all(xb._buffers[name] is view for xb, name, view in self._views):
            return
        for name in _STATE:  # loop over the held buffers
            state[name] = torch.stack([getattr(xb, name) for xb in self.xbs])
            for c, xb in enumerate(self.xbs):  # loop over configurations: point each at its row
                setattr(xb, name, state[name][c])
        self._views = [(xb, name, xb._buffers[name]) for name in _STATE for xb in self.xbs]
        self._const = None
        self._rows = None

    def row_index(self, device: torch.device) -> torch.Tensor:
        """The group's rows of the stack, as an index tensor on ``device`` (made once)."""
        if self._rows is None or self._rows.device != device:
            self._rows = torch.tensor(self.rows, device=device)
        return self._rows

    def _constants(self, like: torch.Tensor) -> dict:
        """Per-configuration numbers as tensors (built once per torch device)."""
        if self._const is not None and self._const["device"] == like.device:
            return self._const
        xbs, f64, dev = self.xbs, torch.float64, like.device
        G = len(xbs)
        gshape = tuple(xbs[0].g.shape)
        col = (G,) + (1,) * len(gshape)  # one number per configuration, broadcasting over devices

        def per_config(values) -> torch.Tensor:
            return torch.tensor(values, dtype=f64, device=dev).view(col)

        devices = [xb.config.device for xb in xbs]
        per_device = any(xb._param_names for xb in xbs)
        params = {}
        for name in devices[0].nominal_params():
            if per_device:  # device-to-device draws: one value per device, nominal where none
                params[name] = torch.stack([
                    (xb._params() or {}).get(name, torch.tensor(d.nominal_params()[name], dtype=f64,
                                                                device=dev)).to(f64).expand(gshape)
                    for xb, d in zip(xbs, devices)])
            else:
                params[name] = per_config([d.nominal_params()[name] for d in devices])
        wcol = (G,) + (1,) * len(xbs[0].shape)  # one number per configuration, against the weights

        def per_weight(values) -> torch.Tensor:
            return torch.tensor(values, dtype=f64, device=dev).view(wcol)

        scale = per_config([(d.n_states - 1) / (2.0 * xb.config.w_max) for xb, d in zip(xbs, devices)])
        # The request per device: +r on G_+, -r on G_- (differential), or +r (reference); -(x s) is
        # x (-s) exactly, so one product gives both signs.
        sign = torch.tensor([1.0, -1.0] if gshape[0] == 2 else [1.0], dtype=f64,
                            device=dev).view((1, -1) + (1,) * (len(gshape) - 1))
        absent = ~torch.stack([xb.present for xb in xbs])
        noisy = [d.nonideal.c2c > 0 for d in devices]
        stuck = [xb.stuck for xb in xbs]
        self._const = {
            "device": dev, "gshape": gshape, "params": params,
            "signed_scale": scale * sign,
            "absent": absent if bool(absent.any()) else None,
            "cap": per_config([float(d.n_states - 1 if xb.config.max_pulses is None else xb.config.max_pulses)
                               for xb, d in zip(xbs, devices)]),
            "c2c": per_config([d.nonideal.c2c for d in devices]),
            "noisy": noisy if any(noisy) else None,
            "energy": torch.tensor([d.energy_per_pulse for d in devices], dtype=f64, device=dev),
            "seconds": torch.tensor([xb.config.seconds_per_update for xb in xbs], dtype=f64, device=dev),
            "g_min": per_weight([d.g_min for d in devices]),
            "g_max": per_weight([d.g_max for d in devices]),
            "w_max": per_weight([xb.config.w_max for xb in xbs]),
            "stuck": None if all(t is None for t in stuck) else torch.stack([
                torch.zeros_like(xb.present) if t is None else t for xb, t in zip(xbs, stuck)]),
            "mask": None if xbs[0].mask is None else torch.stack([xb.mask for xb in xbs]),
        }
        return self._const

    def program(self, delta_w: torch.Tensor) -> tuple[torch.Tensor, list[ProgramStats]]:
        """Program ``delta_w`` (G, *shape); returns the read-out weights (G, *shape) and the
        cost per configuration."""
        self._bind()
        xbs, state = self.xbs, self.state
        first = xbs[0]
        cfg, dev = first.config, first.config.device
        g = state["g"]
        k = self._constants(g)
        gshape = k["gshape"]
        r = delta_w.detach().to(torch.float64).unsqueeze(1) * k["signed_scale"]
        if k["absent"] is not None:
            r.masked_fill_(k["absent"], 0.0)
        draws = None
        if cfg.scheme == "stochastic":  # each configuration's rounding from its own stream
            draws = torch.empty_like(r)
            for c, xb in enumerate(xbs):  # loop over configurations: each from its own generator
                draws[c] = _rng.uniform(gshape, generator=xb.generator, dtype=r.dtype, device=r.device)
        size = pulse_sizes(r, cfg.scheme, max_pulses=k["cap"], draws=draws)
        xi = None
        if k["noisy"] is not None:  # then its write noise, as Crossbar.program draws them
            xi = torch.zeros_like(g)  # no write noise where c2c = 0
            for c, (xb, noisy) in enumerate(zip(xbs, k["noisy"])):  # loop over configurations
                if noisy:
                    xi[c] = _rng.normal(gshape, generator=xb.generator, dtype=g.dtype, device=g.device)
        G = len(xbs)
        # the moving devices and their pulses (amplitude: the step's fraction)
        moving, moved = move_in_place(dev, g, size, r, k["params"], c2c=k["c2c"], xi=xi, stuck=k["stuck"])
        config = moving.div(g[0].numel(), rounding_mode="floor")  # each moving device's configuration
        events = torch.bincount(config, minlength=G)
        if cfg.scheme == "amplitude":  # one pulse per moving device; the real sizes in the devices' order
            state["pulses"].put_(moving, torch.ones_like(moved), accumulate=True)
            pulses, total = events.to(torch.float64), size.flatten(1).sum(1)
        else:  # integer counts: any order gives the same sums
            state["pulses"].put_(moving, moved, accumulate=True)
            pulses = total = torch.bincount(config, weights=moved, minlength=G)
        energy = total * k["energy"]  # total: the nominal pulses per configuration
        requested = r.abs().flatten(1).sum(1)
        # The read-out (no read noise, no drift in a group), the device axis first as read_out wants.
        w = read_out(g.movedim(1, 0), signed=cfg.signed, g_min=k["g_min"], g_max=k["g_max"], w_max=k["w_max"],
                     mirror=first.symmetric and cfg.pairing == "one", mask=k["mask"], dtype=first.weight_.dtype)
        state["n_pulses"].add_(pulses)
        state["n_events"].add_(events)
        state["energy_j"].add_(energy)
        state["n_updates"].add_(1)
        state["clock"].add_(k["seconds"])
        state["weight_"].copy_(w)
        stats = [ProgramStats(pulses=int(round(p_)), events=int(e_), energy_j=en_, requested=rq_)
                 for p_, e_, en_, rq_ in zip(pulses.tolist(), events.tolist(), energy.tolist(), requested.tolist())]
        return w, stats


class CrossbarStack(AbstractWeightHolder):
    """C configurations of one weight tensor, configuration c on a crossbar of ``configs[c]``.
    Final class.

    Args:
        W: initial weights, (C, ...) with one configuration per row of the leading dimension.
        configs: one :class:`CrossbarConfig` per configuration (or one for all).
        mask: connectivity broadcastable to W (e.g. (C, n, n) or (n, n)); no device where False.
        symmetric: each configuration is a symmetric matrix (one parameter per neuron pair).
        generators: one seeded generator per configuration (device variation, rounding, write
            and read noise), apart from the learning rule's streams.
    """

    def __init__(self, W: torch.Tensor, configs: CrossbarConfig | Sequence[CrossbarConfig], *,
                 mask: torch.Tensor | None = None, symmetric: bool = False,
                 generators: Sequence[torch.Generator | None] | None = None):
        super().__init__()
        W = check_tensor("W", W)
        if W.ndim < 2:
            raise ConfigError(f"W must carry a leading configuration dimension, got shape {tuple(W.shape)}")
        C = W.shape[0]
        configs = [configs] * C if isinstance(configs, CrossbarConfig) else list(configs)
        if len(configs) != C:
            raise ConfigError(f"configs must give one CrossbarConfig per configuration ({C}), got {len(configs)}")
        generators = [None] * C if generators is None else list(generators)
        if len(generators) != C:
            raise ConfigError(f"generators must give one generator per configuration ({C}), got {len(generators)}")
        masks = None if mask is None else mask.to(W.device).expand(W.shape)
        self.register_buffer("weight_", W.detach().clone())
        self.crossbars = nn.ModuleList()
        for c in range(C):  # loop over configurations (one crossbar each)
            xb = Crossbar(W[c].detach(), configs[c], mask=None if masks is None else masks[c],
                          symmetric=symmetric, generator=generators[c])
            self.crossbars.append(xb)
            if not xb.exact:
                self.weight_[c].copy_(xb.weight)
        self.programmed = [c for c, xb in enumerate(self.crossbars) if not xb.exact]
        """Configurations on non-ideal devices (the others are updated exactly)."""
        self._exact = [c for c, xb in enumerate(self.crossbars) if xb.exact]
        by_key: dict[tuple, list[int]] = {}
        self._alone: list[int] = []
        for c in self.programmed:  # loop over configurations: which are programmed together
            key = _group_key(self.crossbars[c])
            if key is None:
                self._alone.append(c)
            else:
                by_key.setdefault(key, []).append(c)
        self._groups = []
        for rows in by_key.values():
            # Chunks of at most CHUNK_ELEMENTS conductances (at least one configuration), so that
            # each operation's tensors stay in a core's cache: a whole group of large crossbars
            # spills and costs more than its configurations one by one.
            size = max(1, _crossbar.CHUNK_ELEMENTS // self.crossbars[rows[0]].g.numel())
            for i in range(0, len(rows), size):  # loop over chunks of the group
                chunk = rows[i:i + size]
                self._groups.append(_Group(chunk, [self.crossbars[c] for c in chunk]))
        self._alone.sort()

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_

    @property
    def exact(self) -> bool:
        return not self.programmed

    @property
    def symmetric_readout(self) -> bool:
        return all(xb.symmetric_readout for xb in self.crossbars)

    @property
    def generators(self) -> dict[str, torch.Generator]:
        return {f"crossbar{c}": xb.generator for c, xb in enumerate(self.crossbars)
                if xb.generator is not None}

    def program(self, delta_w: torch.Tensor) -> list[ProgramStats | None]:
        """Add ``delta_w`` (C, ...) exactly, then program configuration c's part as pulses on its
        crossbar and read it back, for every configuration on a non-ideal device."""
        if tuple(delta_w.shape) != tuple(self.weight_.shape):
            raise ConfigError(f"delta_w must have shape {tuple(self.weight_.shape)}, got {tuple(delta_w.shape)}")
        for c in self._exact:  # loop over the ideal configurations: the exact update
            self.weight_[c].add_(delta_w[c])
        stats: list[ProgramStats | None] = [None] * len(self.crossbars)
        for group in self._groups:  # loop over groups: each one tensor program
            rows = group.row_index(delta_w.device)
            w, group_stats = group.program(delta_w.index_select(0, rows))
            self.weight_.index_copy_(0, rows, w)
            for c, st in zip(group.rows, group_stats):
                stats[c] = st
        for c in self._alone:  # loop over the configurations programmed alone
            stats[c] = self.crossbars[c].program(delta_w[c])
            self.weight_[c].copy_(self.crossbars[c].weight)
        return stats

    def refresh(self, generator: torch.Generator | None = None) -> None:
        for c in self.programmed:
            self.crossbars[c].refresh(generator)
            self.weight_[c].copy_(self.crossbars[c].weight)

    def counters(self) -> list[dict[str, float | int]]:
        """Each configuration's crossbar counters (an ideal one counts devices, no pulses)."""
        return [xb.counters() for xb in self.crossbars]
