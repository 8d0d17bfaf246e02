r"""The device interface: a memristor's conductance response to programming pulses.

Conventions (docs/devices.md, "Conventions"): g is a device's conductance in siemens; a pulse
count n is signed, n > 0 potentiating (G up) and n < 0 depressing (G down), and may be
real-valued (amplitude modulation, a fraction of a nominal pulse); u = (g - G_min) / (G_max -
G_min) is the normalised conductance in [0, 1].

Every pulsed model has a conductance range [G_min, G_max], a number of states n_states (P =
n_states - 1 nominal pulses span the range, so the nominal step is
dG = (G_max - G_min) / (n_states - 1)) and an up/down asymmetry a in (-1, 1): potentiation takes
P_up = P / (1 + a) pulses to span the range and depression P_down = P / (1 - a). A model is a
*flow in pulse count*: the response to a train of n pulses is a closed form whose composition
is exact (n pulses then m pulses = n + m pulses), so a pulse train costs one vectorised
expression, never a loop over pulses or devices.

Per-device parameters (device-to-device variation) are a dict of tensors shaped like ``g``
(``AbstractPulsedDevice.sample_params``) passed to ``update`` as ``params``; without it the
nominal values apply to every device.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import torch

from .. import _rng
from .._validate import in_range, positive, positive_int
from ..errors import ConfigError
from .nonideal import NonIdeal

Params = dict[str, torch.Tensor]


class AbstractDevice(abc.ABC):
    """A device model: a frozen config with a pure ``update`` and ``read``."""

    __slots__ = ()

    MODEL: ClassVar[str]
    """The model's name in TOML files and on the command line."""

    @abc.abstractmethod
    def update(self, g: torch.Tensor, n_pulses: torch.Tensor | float, *,
               generator: torch.Generator | None = None, params: Params | None = None) -> torch.Tensor:
        """The conductances after applying ``n_pulses`` (signed, per device) to ``g``; pure."""

    @abc.abstractmethod
    def read(self, g: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """What a read of conductances ``g`` returns (with read noise when configured)."""


class AbstractPulsedDevice(AbstractDevice):
    """A bounded device with finitely many states, moved by pulses along a closed-form curve.

    Final subclasses define the fields ``g_min``, ``g_max``, ``n_states``, ``asymmetry``,
    ``energy_per_pulse`` and ``nonideal`` (plus their shape parameters) and implement
    ``_pulse_train`` and ``_shape``.
    """

    __slots__ = ()

    g_min: float
    g_max: float
    n_states: int
    asymmetry: float
    energy_per_pulse: float
    nonideal: NonIdeal

    _SHAPE_RANGE: ClassVar[dict[str, tuple[float, float]]] = {}
    """Allowed range of each shape parameter (per-device draws are clipped into it)."""

    # ----------------------------------------------------------------- model-specific parts
    @abc.abstractmethod
    def _pulse_train(self, u: torch.Tensor, n: torch.Tensor, p: Params) -> torch.Tensor:
        """Normalised conductance after n signed pulses from u, noise-free, inside [0, 1]."""

    @abc.abstractmethod
    def _shape(self) -> dict[str, float]:
        """The model's shape parameters by name (e.g. nonlinearities), nominal values."""

    # ----------------------------------------------------------------------- derived values
    @property
    def pulses_full_range(self) -> int:
        """P = n_states - 1: nominal pulses that span [G_min, G_max]."""
        return self.n_states - 1

    @property
    def dg(self) -> float:
        """The nominal step dG = (G_max - G_min) / (n_states - 1), in siemens."""
        return (self.g_max - self.g_min) / (self.n_states - 1)

    def nominal_params(self) -> dict[str, float]:
        """Every parameter the update uses: g_min, g_max, P, asymmetry and the shape ones."""
        return {"g_min": self.g_min, "g_max": self.g_max, "P": float(self.n_states - 1),
                "asymmetry": self.asymmetry, **self._shape()}

    def _params(self, params: Params | None, like: torch.Tensor) -> Params:
        """Nominal values as 0-d tensors, overridden by per-device tensors where given."""
        out = {k: torch.tensor(v, dtype=like.dtype, device=like.device)
               for k, v in self.nominal_params().items()}
        if params:
            out.update({k: v.to(like.dtype) for k, v in params.items()})
        return out

    # ------------------------------------------------------------------------- the update
    def update(self, g, n_pulses, *, generator=None, params=None):
        """Apply signed pulse counts ``n_pulses`` to conductances ``g`` (shapes broadcast).

        The model's closed form moves each device along its curve; cycle-to-cycle noise then adds
        N(0, sigma_c2c (G_max - G_min) sqrt(|n|)); the result is clipped to [G_min, G_max]. A
        device given zero pulses keeps its conductance exactly (no noise either).
        """
        n = torch.as_tensor(n_pulses, dtype=g.dtype, device=g.device)
        p = self._params(params, g)
        c2c = self.nonideal.c2c
        xi = None
        if c2c > 0:
            shape = torch.broadcast_shapes(g.shape, n.shape)
            xi = _rng.normal(shape, generator=generator, dtype=g.dtype, device=g.device)
        return self.move(g, n, p, c2c=c2c, xi=xi)

    def move(self, g: torch.Tensor, n: torch.Tensor, p: Params, *, c2c: float | torch.Tensor = 0.0,
             xi: torch.Tensor | None = None) -> torch.Tensor:
        """``update`` with every parameter given: ``p`` the full parameter set (tensors
        broadcasting against ``g``, e.g. one value per stacked configuration), ``c2c`` the
        cycle-to-cycle spread (a number or such a tensor) and ``xi`` its standard normal draws
        (None: no write noise). Pure; ``update`` draws ``xi`` and calls this (a programming step
        calls :meth:`moved` on the moving devices alone)."""
        return torch.where(n == 0, g, self.moved(g, n, p, c2c=c2c, xi=xi))

    def moved(self, g: torch.Tensor, n: torch.Tensor, p: Params, *, c2c: float | torch.Tensor = 0.0,
              xi: torch.Tensor | None = None) -> torch.Tensor:
        """The closed form of :meth:`move` for devices that receive pulses (n != 0): each device
        along its curve, plus write noise, clipped to its range. Elementwise in every argument, so
        a caller may apply it to the moving devices alone, gathered into vectors
        (:func:`memprop.crossbar.crossbar.move_in_place`)."""
        g_min, g_max = p["g_min"], p["g_max"]
        span = g_max - g_min
        u = ((g - g_min) / span).clamp(0.0, 1.0)
        u_new = self._pulse_train(u, n, p)
        g_new = g_min + span * u_new
        if xi is not None:
            g_new = g_new + c2c * span * n.abs().sqrt() * xi
        return torch.minimum(torch.maximum(g_new, g_min), g_max)

    def read(self, g, *, generator=None):
        """G (1 + sigma_read xi), one independent draw per device; G itself without read noise."""
        s = self.nonideal.read_noise
        if s == 0:
            return g
        xi = _rng.normal(tuple(g.shape), generator=generator, dtype=g.dtype, device=g.device)
        return g * (1.0 + s * xi)

    def drift(self, g: torch.Tensor, elapsed: torch.Tensor) -> torch.Tensor:
        """G_0 (max(t, t_0) / t_0)^-nu after ``elapsed`` seconds t since programming."""
        nu = self.nonideal.drift_nu
        if nu == 0:
            return g
        t0 = self.nonideal.drift_t0
        return g * (elapsed.to(g.dtype).clamp_min(t0) / t0).pow(-nu)

    # ---------------------------------------------------------------- per-device draws
    def sample_params(self, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64, device=None) -> Params | None:
        """Per-device parameters under device-to-device variation (None when sigma_d2d = 0).

        Relative spread for the lower bound, the range, the number of pulses P and the shape
        parameters; additive spread for the asymmetry. Draws are clipped to stay valid (range at
        least 5 % of nominal, P >= 1, |a| <= 0.95, shapes inside their allowed range), which
        matters only for spreads well beyond the 30 % of the literature.
        """
        s = self.nonideal.d2d
        if s == 0:
            return None

        def xi() -> torch.Tensor:
            return _rng.normal(shape, generator=generator, dtype=dtype, device=device)

        g_min = (self.g_min * (1.0 + s * xi())).clamp_min(0.0)
        span = ((self.g_max - self.g_min) * (1.0 + s * xi())).clamp_min(0.05 * (self.g_max - self.g_min))
        out = {
            "g_min": g_min,
            "g_max": g_min + span,
            "P": ((self.n_states - 1) * (1.0 + s * xi())).clamp_min(1.0),
            "asymmetry": (self.asymmetry + s * xi()).clamp(-0.95, 0.95),
        }
        for key, value in self._shape().items():
            lo, hi = self._SHAPE_RANGE[key]
            out[key] = (value * (1.0 + s * xi())).clamp(lo, hi)
        return out

    def sample_stuck(self, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64, device=None
                     ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(stuck, high): which devices are stuck, and which of those at G_max (None if none)."""
        f = self.nonideal.stuck_fraction
        if f == 0:
            return None
        stuck = _rng.uniform(shape, generator=generator, dtype=dtype, device=device) < f
        high = _rng.uniform(shape, generator=generator, dtype=dtype, device=device) < self.nonideal.stuck_high
        return stuck, high


MAX_STATES = 1 << 24
"""Most conductance states a pulsed model accepts: 2^24 steps span the range at float32 resolution."""


def check_common(dev: AbstractPulsedDevice) -> None:
    """Validate the fields every pulsed model shares; ConfigError names the field."""
    positive("g_min", dev.g_min, allow_zero=True)
    positive("g_max", dev.g_max)
    if not dev.g_min < dev.g_max:
        raise ConfigError(
            f"g_min must be less than g_max (the conductance range [G_min, G_max] in siemens), "
            f"got g_min={dev.g_min!r} >= g_max={dev.g_max!r}"
        )
    positive_int("n_states", dev.n_states, minimum=2)
    if dev.n_states > MAX_STATES:
        raise ConfigError(f"n_states must be an integer in 2..{MAX_STATES:,} (2^24: finer steps than float32 "
                          f"resolves; for an analog device use model 'ideal'), got {dev.n_states!r}")
    in_range("asymmetry", dev.asymmetry, -1.0, 1.0, closed=False)
    positive("energy_per_pulse", dev.energy_per_pulse, allow_zero=True)
    if not isinstance(dev.nonideal, NonIdeal):
        raise ConfigError(f"nonideal must be a NonIdeal, got {type(dev.nonideal).__name__}")


def directional(n: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """Per device, ``up`` where the pulses potentiate (n > 0) and ``down`` elsewhere."""
    return torch.where(n > 0, up, down)


def pulse_energy(g_min: float, g_max: float, *, voltage: float = 2.0, width: float = 10e-9) -> float:
    """Estimated energy of one write pulse, V^2 G_mean t_w, in joules.

    The presets' sources (docs/devices.md, "Presets") give no pulse energies; the presets use
    this estimate with NeuroSim V3.0's generic analog cell pulse (2 V, 10 ns) at the mean
    conductance. Replace it with a measured value (``energy_per_pulse``) when one is known.
    """
    return voltage * voltage * 0.5 * (g_min + g_max) * width


def finite_float(name: str, value: float) -> float:
    """A finite real number (shape parameters may be negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return value
