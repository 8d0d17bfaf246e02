r"""A crossbar of memristive devices holding one weight tensor, read and programmed in place.

Read-out (Kirchhoff): the currents are I_i = sum_j G_ij v_j; with the signed encodings of
:mod:`memprop.crossbar.mapping` the network sees the effective weights
W = (G_+ - G_-) / G_scale (or (G - G_ref) / G_scale), including stuck devices, asymmetric pairs,
drift and, on a read, read noise.

Programming: a requested change Delta W (the learning rule's -lr grad) becomes, per device, a
requested number of nominal pulses r = Delta W (n_states - 1) / (2 w_max) (the differential pair
splits it evenly: +r on G_+ and -r on G_-), then pulses by the configured scheme
(:mod:`memprop.crossbar.pulses`), then the device model moves each conductance
(:meth:`memprop.devices.AbstractDevice.update`). The conductances are buffers changed only by
:meth:`Crossbar.program`.

Symmetric recurrent weights (W = W^T, one parameter per neuron pair) are stored either with one
device (or pair) per neuron pair (``pairing="one"``: the upper triangle, mirrored, so symmetry is
exact) or with one per matrix entry (``pairing="two"``: w_ij and w_ji are separate devices that
receive the same requests but drift apart under variation, noise and faults; the network then
runs on the asymmetric matrix the hardware has).

An ideal device (:class:`memprop.devices.IdealDevice`) keeps the weights themselves in
:attr:`Crossbar.weight`: the crossbar is then :attr:`~Crossbar.exact`, and the learning layer
updates ``weight`` in place with the floating-point operations of the device-free path, so that
in situ training on ideal devices is bit-identical to training without devices.

A crossbar is an :class:`~memprop.crossbar.holder.AbstractWeightHolder`: placed on a network
under a weight's name, it is what the network's dynamics read (``weight``, the last read-out).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import torch

from .. import _rng
from .._validate import choice, positive, positive_int
from .._validate import tensor as check_tensor
from ..devices import AbstractDevice, AbstractPulsedDevice, IdealDevice
from ..errors import ConfigError
from .holder import AbstractWeightHolder
from .mapping import SIGNED, conductances_to_weights, weights_to_conductances
from .pulses import SCHEMES, pulse_sizes

PAIRINGS = ("one", "two")
"""Devices per neuron pair of a symmetric weight matrix."""

CHUNK_ELEMENTS = 1 << 16
"""Most conductances one tensor operation of a programming step touches (512 KiB in float64):
a crossbar (or a group of a stack, :mod:`memprop.crossbar.stack`) is programmed in chunks of at
most this many devices, so that each operation's tensors stay in a core's cache. Measured with
``benchmarks/crossbar_program.py`` (1 thread, 2 MiB L2 per core): the device study's EP stack
(18 crossbars of 2 x 100 x 100 devices) took 20.3 ms per update as whole groups, 14.3, 15.1 and
15.4 ms in chunks of 2, 3 and 4 configurations, 15.0 ms one by one; one 784 x 500 differential
crossbar took 32.3 ms whole and 24.3, 23.6 and 24.8 ms in chunks of 2^15, 2^16 and 2^17
(73.0 ms whole and 44.5 ms in chunks of 2^16 with write noise)."""


GATHER_MULTIPLE = 64
"""The moving devices of a programming step are gathered into vectors padded to a multiple of
this many (the last index repeated), so that every element takes the vectorised path of torch's
CPU kernels (their scalar remainder loop can round a transcendental function differently)."""


def moving_devices(sizes: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The devices that receive pulses (``sizes`` != 0, from
    :func:`~memprop.crossbar.pulses.pulse_sizes`): their indices into ``sizes`` read as one
    vector in row-major order (as ``torch.take`` reads a tensor), padded to a multiple of
    :data:`GATHER_MULTIPLE`, and how many there are before the padding."""
    flat = sizes.reshape(-1).nonzero().squeeze(1)
    m = flat.numel()
    pad = -m % GATHER_MULTIPLE
    if m and pad:
        flat = torch.cat([flat, flat[-1:].expand(pad)])
    return flat, m


def gatherer(shape: torch.Size, flat: torch.Tensor):
    """``at(t)``: the entries of ``t`` (a tensor broadcasting against ``shape``, or a number) at the
    devices ``flat`` of a tensor of ``shape``, as one vector (a number, or one element, as it is).
    A parameter with one value per configuration, (C, 1, ..., 1), is read through one index."""
    shape = tuple(shape)
    offsets: dict[tuple[int, ...], torch.Tensor] = {}

    def at(t):
        if not torch.is_tensor(t):
            return t
        if t.numel() == 1:
            return t.reshape(())
        tshape = (1,) * (len(shape) - t.ndim) + tuple(t.shape)
        if tshape == shape:
            return torch.take(t, flat)
        off = offsets.get(tshape)
        if off is None:  # the index into t of each device: its coordinates along t's own axes
            off, inner, stride = None, 1, 1
            for d in range(len(shape) - 1, -1, -1):  # loop over axes, last first
                if tshape[d] != 1:
                    coord = flat.div(inner, rounding_mode="floor")
                    if d:
                        coord = coord.remainder_(shape[d])
                    term = coord.mul_(stride) if stride != 1 else coord
                    off = term if off is None else off.add_(term)
                    stride *= tshape[d]
                inner *= shape[d]
            offsets[tshape] = off
        return torch.take(t, off)

    return at


def move_in_place(device: AbstractPulsedDevice, g: torch.Tensor, sizes: torch.Tensor, r: torch.Tensor,
                  params: dict, *, c2c: float | torch.Tensor = 0.0, xi: torch.Tensor | None = None,
                  start: torch.Tensor | None = None,
                  stuck: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the devices that receive pulses (``sizes`` != 0, from
    :func:`~memprop.crossbar.pulses.pulse_sizes`; their sign is the request ``r``'s), in place in
    ``g``; every other device keeps its conductance exactly. Returns the moving devices (their
    indices into ``sizes`` read as one vector, :func:`moving_devices` without the padding) and
    their pulse sizes, for the caller's counters.

    The model's closed form (:meth:`~memprop.devices.AbstractPulsedDevice.moved`) runs on the
    moving devices alone, gathered into vectors: an update moves a few per cent of the devices
    (EP's small steps under stochastic rounding), and the model's arithmetic, tens of operations
    per device for a nonlinear curve, shrinks with them. Every operation is elementwise, so each
    device gets the numbers a pass over all of them would give it.

    Args:
        device: the pulsed model.
        g: conductances (any shape; a view is fine), updated in place.
        sizes: pulses per device, g's shape (amplitude scheme: the step's fraction).
        r: the request per device, g's shape: the sign of each device's move.
        params: the model's parameters, tensors broadcasting against g (or 0-d).
        c2c: the write noise spread, a number or a tensor broadcasting against g.
        xi: the write noise's standard normal draws, g's shape (None: no noise).
        start: where a moving device starts from, g's shape (drift: its drifted conductance);
            default g.
        stuck: devices that keep their conductance whatever they receive, g's shape.
    """
    flat, m = moving_devices(sizes)
    moved = torch.take(sizes, flat)
    if m:
        at = gatherer(g.shape, flat)
        n = torch.copysign(moved, torch.take(r, flat))
        g_new = device.moved(at(g if start is None else start), n, {name: at(t) for name, t in params.items()},
                             c2c=at(c2c), xi=None if xi is None else at(xi))
        if stuck is not None:
            g_new = torch.where(at(stuck), at(g), g_new)
        g.put_(flat[:m], g_new[:m])
    return flat[:m], moved[:m]


@dataclass(frozen=True, kw_only=True, slots=True)
class CrossbarConfig:
    """How weights sit on devices and how updates become pulses. Final class."""

    device: AbstractDevice = field(default_factory=IdealDevice)
    """The device model (``IdealDevice()``: the paper's exact weights)."""
    signed: str = "differential"
    """Signed-weight encoding: ``differential`` pair or ``reference`` (one device, fixed G_ref)."""
    w_max: float = 1.0
    """Weight magnitude w_max mapped onto the full conductance range (dimensionless, > 0);
    larger weights are clipped. Choose it to cover the trained weights."""
    pairing: str = "one"
    """Symmetric matrices: ``one`` device (pair) per neuron pair, or ``two`` (w_ij, w_ji apart)."""
    scheme: str = "stochastic"
    """Pulse scheme: ``deterministic``, ``stochastic`` (unbiased rounding) or ``amplitude``."""
    max_pulses: int | None = None
    """Cap on the pulses one device receives per update (default n_states - 1: a full sweep)."""
    seconds_per_update: float = 1.0
    """Time between programming steps, in seconds (the drift clock advances by it per update)."""

    def __post_init__(self):
        if not isinstance(self.device, AbstractDevice):
            raise ConfigError(f"device must be an AbstractDevice, got {type(self.device).__name__}")
        choice("signed", self.signed, SIGNED)
        positive("w_max", self.w_max)
        choice("pairing", self.pairing, PAIRINGS)
        choice("scheme", self.scheme, SCHEMES)
        if self.max_pulses is not None:
            positive_int("max_pulses", self.max_pulses)
        positive("seconds_per_update", self.seconds_per_update, allow_zero=True)

    @property
    def ideal(self) -> bool:
        return isinstance(self.device, IdealDevice)


@dataclass(frozen=True, slots=True)
class ProgramStats:
    """What one programming step cost."""

    pulses: int
    """Pulses sent (amplitude modulation: one per device moved)."""
    events: int
    """Devices that received at least one pulse."""
    energy_j: float
    """Programming energy, in joules (pulses x energy_per_pulse; amplitude modulation: the
    equivalent number of nominal pulses x energy_per_pulse)."""
    requested: float
    """Sum over devices of |r|, the requested nominal pulses before rounding and capping."""


def read_out(g: torch.Tensor, *, signed: str, g_min, g_max, w_max, mirror: bool, mask: torch.Tensor | None,
             dtype: torch.dtype) -> torch.Tensor:
    """The weights conductances ``g`` (leading device axis) hold, as the network reads them:
    ``mirror`` copies the upper triangle (one device per neuron pair) below the diagonal, and
    entries outside ``mask`` are 0. ``g_min``, ``g_max``, ``w_max``: numbers, or tensors broadcasting
    against the weights (one per stacked configuration)."""
    w = conductances_to_weights(g, signed=signed, g_min=g_min, g_max=g_max, w_max=w_max)
    if mirror:  # the upper triangle holds the pair's device: W[i, j] = W[j, i] from it
        w = torch.where(_upper(w.shape[-1], w.device), w, w.mT)
    if mask is not None:
        w = torch.where(mask, w, 0.0)
    return w.to(dtype)


@functools.lru_cache(maxsize=8)
def _upper(n: int, device: torch.device) -> torch.Tensor:
    """The (n, n) upper triangle with the diagonal, as a mask (made once per size and device;
    read, never written)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).triu()


class Crossbar(AbstractWeightHolder):
    """The devices holding one weight tensor. Final class.

    Args:
        W: the initial weights: (n, n) recurrent, (C, n, n) for C configurations, a rectangular
            (n_in, n_out) layer, or any shape (e.g. a bias vector).
        config: the device and the encoding, pairing and pulse scheme.
        mask: connectivity, broadcastable to W (e.g. (n, n) for (C, n, n)); entries where it is
            False hold no device and stay exactly 0.
        symmetric: W is a symmetric matrix in its last two dimensions (one parameter per pair).
        generator: the seeded source of every random draw of this crossbar (device-to-device
            draws and faults now; rounding, write and read noise later). Keep it apart from the
            learning rule's generator, so that device randomness does not shift the rule's stream.
    """

    def __init__(self, W: torch.Tensor, config: CrossbarConfig | None = None, *,
                 mask: torch.Tensor | None = None, symmetric: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        config = CrossbarConfig() if config is None else config
        W = check_tensor("W", W)
        if not W.is_floating_point():
            raise ConfigError(f"W must be a floating-point tensor, got dtype {W.dtype}")
        if symmetric:
            if W.ndim < 2 or W.shape[-1] != W.shape[-2]:
                raise ConfigError(f"a symmetric W must be square in its last two dimensions, got {tuple(W.shape)}")
            if not torch.equal(W, W.mT):
                raise ConfigError("W must be exactly symmetric when symmetric=True")
        self.config = config
        self.shape = tuple(W.shape)
        self.w_dtype = W.dtype
        self.symmetric = bool(symmetric)
        self.generator = generator
        device = W.device

        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
                raise ConfigError("mask must be a boolean tensor")
            try:
                mask = mask.to(device).expand(self.shape).clone()
            except RuntimeError as e:
                raise ConfigError(f"mask of shape {tuple(mask.shape)} does not broadcast to W {self.shape}") from e
        self.register_buffer("mask", mask)
        present = torch.ones(self.shape, dtype=torch.bool, device=device) if mask is None else mask.clone()
        if self.symmetric and config.pairing == "one":
            n = self.shape[-1]
            present &= torch.ones(n, n, dtype=torch.bool, device=device).triu()
        self._param_names: list[str] = []

        for name in ("n_updates", "n_events", "n_pulses", "energy_j", "clock"):
            self.register_buffer(name, torch.zeros((), dtype=torch.float64, device=device))

        if config.ideal:
            self.register_buffer("present", present)
            self.register_buffer("weight_", W.detach().clone())
            self.register_buffer("pulses", torch.zeros(self.shape, dtype=torch.float64, device=device))
            return

        dev = config.device
        if not isinstance(dev, AbstractPulsedDevice):  # pragma: no cover - only two device kinds
            raise ConfigError(f"unsupported device {type(dev).__name__}")
        k = 2 if config.signed == "differential" else 1
        gshape = (k, *self.shape)
        present = present.expand(gshape).clone()
        self.register_buffer("present", present)

        params = dev.sample_params(gshape, generator=generator, dtype=torch.float64, device=device)
        for name, value in (params or {}).items():
            self.register_buffer(f"param_{name}", value)
            self._param_names.append(name)

        g, clipped = weights_to_conductances(W.detach().to(torch.float64), signed=config.signed,
                                             g_min=dev.g_min, g_max=dev.g_max, w_max=config.w_max)
        clipped &= present.any(0)
        if bool(clipped.any()):
            warnings.warn(
                f"{int(clipped.sum())} of {int(present.any(0).sum())} weights exceed w_max={config.w_max} "
                f"(max |w| = {float(W.abs().max()):.3g}) and were clipped; raise w_max to cover them",
                stacklevel=2,
            )
        g_lo, g_hi = self._bounds(g)
        g = torch.minimum(torch.maximum(g, g_lo), g_hi)  # each device inside its own range
        stuck = dev.sample_stuck(gshape, generator=generator, dtype=torch.float64, device=device)
        if stuck is not None:
            is_stuck, high = stuck
            g = torch.where(is_stuck, torch.where(high, g_hi, g_lo), g)
            self.register_buffer("stuck", is_stuck & present)
        else:
            self.register_buffer("stuck", None)
        g = torch.where(present, g, torch.full_like(g, 0.5 * (dev.g_min + dev.g_max)))
        self.register_buffer("g", g)
        self.register_buffer("t_programmed", torch.zeros(gshape, dtype=torch.float64, device=device))
        self.register_buffer("pulses", torch.zeros(gshape, dtype=torch.float64, device=device))
        self.register_buffer("weight_", self.read())  # what the network reads: one read-out

    # ------------------------------------------------------------- the holder interface
    @property
    def weight(self) -> torch.Tensor:
        """The weights the network reads: the last read-out (ideal: the exact weights)."""
        return self.weight_

    @property
    def exact(self) -> bool:
        return self.config.ideal

    @property
    def symmetric_readout(self) -> bool:
        return not (self.symmetric and self.config.pairing == "two")

    @property
    def generators(self) -> dict[str, torch.Generator]:
        return {} if self.generator is None else {"crossbar": self.generator}

    def refresh(self, generator: torch.Generator | None = None) -> None:
        """One read of every device into :attr:`weight` (a no-op on the ideal device)."""
        if not self.config.ideal:
            self.weight_.copy_(self.read(generator=generator))

    # ------------------------------------------------------------------ helpers
    @property
    def device_model(self) -> AbstractDevice:
        return self.config.device

    def _params(self) -> dict[str, torch.Tensor] | None:
        if not self._param_names:
            return None
        return {name: getattr(self, f"param_{name}") for name in self._param_names}

    def _bounds(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self._params()
        dev = self.config.device
        if p is None:
            return (torch.full_like(like, dev.g_min), torch.full_like(like, dev.g_max))
        return p["g_min"], p["g_max"]

    def _conductances_now(self) -> torch.Tensor:
        """The stored conductances after drift up to the crossbar's clock."""
        dev = self.config.device
        if dev.nonideal.drift_nu == 0:
            return self.g
        drifted = dev.drift(self.g, self.clock - self.t_programmed)
        return drifted if self.stuck is None else torch.where(self.stuck, self.g, drifted)

    def _to_weights(self, g: torch.Tensor) -> torch.Tensor:
        dev = self.config.device
        return read_out(g, signed=self.config.signed, g_min=dev.g_min, g_max=dev.g_max, w_max=self.config.w_max,
                        mirror=self.symmetric and self.config.pairing == "one", mask=self.mask,
                        dtype=self.weight_.dtype if hasattr(self, "weight_") else self.w_dtype)

    def _check_delta(self, name: str, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != self.shape:
            raise ConfigError(f"{name} must be a tensor of shape {self.shape}, got "
                              f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        return t

    # ------------------------------------------------------------------- read-out
    def weights(self) -> torch.Tensor:
        """The effective weights the hardware holds now (no read noise), W's shape and dtype."""
        if self.config.ideal:
            return self.weight_.clone()
        return self._to_weights(self._conductances_now())

    def read(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One read of the weights: every device read once, with read noise when configured.

        Uses ``generator`` (default: the crossbar's). Without read noise this is ``weights()``.
        """
        if self.config.ideal or self.config.device.nonideal.read_noise == 0:
            return self.weights()
        g = self.config.device.read(self._conductances_now(),
                                    generator=self.generator if generator is None else generator)
        return self._to_weights(g)

    noisy_weights = read

    def read_matvec(self, v: torch.Tensor, *, transpose: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Currents of one read-out, in weight units: I_i = sum_j W_ij v_j over the last axis of v
        (``transpose``: I_j = sum_i W_ij v_i), with a fresh read-noise draw per call."""
        W = self.read(generator=generator)
        return torch.matmul(v, W if transpose else W.mT)

    # ------------------------------------------------------------------ programming
    def apply_gradient(self, grad: torch.Tensor, lr: float) -> ProgramStats:
        """theta <- theta - lr * grad through the devices (the rule's update, in situ).

        On an ideal device this is ``weight.sub_(grad, alpha=lr)``: the operation of ``sgd_step``.
        """
        self._check_delta("grad", grad)
        if self.config.ideal:
            self.weight_.sub_(grad, alpha=lr)
            return self._count_ideal(grad if lr != 0 else torch.zeros_like(grad))
        return self.program(grad * (-lr))

    def program(self, delta_w: torch.Tensor) -> ProgramStats:
        """Program a requested weight change ``delta_w`` (W's shape) as pulses, then read the
        devices once into :attr:`weight`; returns the cost.

        The random draws of the step (rounding, then write noise) are made for every device at
        once; the arithmetic then runs over chunks of at most :data:`CHUNK_ELEMENTS` devices (the
        same numbers, each device's own arithmetic, in a cache-sized working set)."""
        self._check_delta("delta_w", delta_w)
        cfg = self.config
        if cfg.ideal:
            self.weight_.add_(delta_w)
            return self._count_ideal(delta_w)
        dev = cfg.device
        gshape = tuple(self.g.shape)
        k = gshape[0]
        r_all = delta_w.detach().to(torch.float64).reshape(-1) * ((dev.n_states - 1) / (2.0 * cfg.w_max))
        cap = dev.n_states - 1 if cfg.max_pulses is None else cfg.max_pulses
        like = dict(dtype=self.g.dtype, device=self.g.device)
        draws = None if cfg.scheme != "stochastic" else \
            _rng.uniform(gshape, generator=self.generator, **like).view(k, -1)
        c2c = dev.nonideal.c2c
        xi = None if c2c == 0 else _rng.normal(gshape, generator=self.generator, **like).view(k, -1)
        params = {name: t if t.ndim == 0 else t.reshape(k, -1) for name, t in dev._params(self._params(), self.g).items()}
        drifting = dev.nonideal.drift_nu > 0
        now = self._conductances_now().reshape(k, -1) if drifting else None
        g_all, present, sent_all = self.g.view(k, -1), self.present.view(k, -1), self.pulses.view(k, -1)
        t_all = self.t_programmed.view(k, -1)
        stuck = None if self.stuck is None else self.stuck.view(k, -1)
        step = max(1, CHUNK_ELEMENTS // k)
        pulses, events, size_total, requested = 0.0, 0, 0.0, 0.0
        for a in range(0, g_all.shape[1], step):  # loop over chunks of devices
            part = slice(a, a + step)
            r_w = r_all[part]
            r = torch.stack([r_w, -r_w]) if cfg.signed == "differential" else r_w.unsqueeze(0)
            r = torch.where(present[:, part], r, torch.zeros_like(r))
            size = pulse_sizes(r, cfg.scheme, max_pulses=cap, draws=None if draws is None else draws[:, part])
            moving, moved = move_in_place(dev, g_all[:, part], size, r,
                                          {name: t if t.ndim == 0 else t[:, part] for name, t in params.items()},
                                          c2c=c2c, xi=None if xi is None else xi[:, part],
                                          start=None if now is None else now[:, part],
                                          stuck=None if stuck is None else stuck[:, part])
            m = moving.numel()
            if m:
                if drifting:  # a programmed device's drift clock starts again
                    t_all[:, part].put_(moving, self.clock.expand(m))
                if cfg.scheme == "amplitude":  # one pulse per moving device
                    sent_all[:, part].put_(moving, torch.ones_like(moved), accumulate=True)
                    pulses += m
                    size_total += float(size.sum())  # the real sizes, summed in the devices' order
                else:  # integer counts: any order gives the same sums
                    sent_all[:, part].put_(moving, moved, accumulate=True)
                    count = float(moved.sum())
                    pulses += count
                    size_total += count
                events += m
            requested += float(r.abs().sum())
        energy = size_total * dev.energy_per_pulse
        self.n_pulses.add_(pulses)
        self.n_events.add_(events)
        self.energy_j.add_(energy)
        self.n_updates.add_(1)
        self.clock.add_(cfg.seconds_per_update)
        self.refresh()
        return ProgramStats(pulses=int(round(pulses)), events=events, energy_j=energy, requested=requested)

    def _count_ideal(self, delta: torch.Tensor) -> ProgramStats:
        events = int(((delta != 0) & self.present).sum())
        self.n_events.add_(events)
        self.n_updates.add_(1)
        self.clock.add_(self.config.seconds_per_update)
        return ProgramStats(pulses=0, events=events, energy_j=0.0, requested=0.0)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without programming (drift acts on the next read)."""
        positive("seconds", seconds, allow_zero=True)
        self.clock.add_(seconds)

    # ------------------------------------------------------------------- counters
    @property
    def n_devices(self) -> int:
        """Number of physical devices (a differential pair counts two)."""
        return int(self.present.sum())

    def counters(self) -> dict[str, float | int]:
        """Totals since construction (or ``reset_counters``): updates, pulses, events, energy.

        ``pulses_per_device_*`` are over the physical devices. An ideal crossbar sends no pulses:
        its ``events`` count the weights that changed.
        """
        per_device = self.pulses[self.present]
        return {
            "updates": int(self.n_updates),
            "pulses": int(round(float(self.n_pulses))),
            "events": int(self.n_events),
            "energy_j": float(self.energy_j),
            "devices": self.n_devices,
            "pulses_per_device_mean": float(per_device.mean()) if per_device.numel() else 0.0,
            "pulses_per_device_max": float(per_device.max()) if per_device.numel() else 0.0,
        }

    def reset_counters(self) -> None:
        """Zero the pulse, event, energy and update counters (not the clock)."""
        for t in (self.n_updates, self.n_events, self.n_pulses, self.energy_j, self.pulses):
            t.zero_()

    def conductance_histogram(self, bins: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """(counts, edges) of the physical devices' conductances over [G_min, G_max] (drift incl.)."""
        if self.config.ideal:
            raise ConfigError("an ideal crossbar holds weights, not conductances; use weights()")
        positive_int("bins", bins)
        dev = self.config.device
        g = self._conductances_now()[self.present].to(torch.float64)
        lo = min(dev.g_min, float(g.min())) if g.numel() else dev.g_min
        hi = max(dev.g_max, float(g.max())) if g.numel() else dev.g_max
        counts = torch.histc(g, bins=bins, min=lo, max=hi)
        return counts, torch.linspace(lo, hi, bins + 1, dtype=torch.float64)

    def extra_repr(self) -> str:
        c = self.config
        return (f"shape={self.shape}, device={type(c.device).__name__}, signed={c.signed}, "
                f"w_max={c.w_max}, pairing={c.pairing if self.symmetric else '-'}, scheme={c.scheme}")

