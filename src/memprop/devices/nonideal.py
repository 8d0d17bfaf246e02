r"""Non-idealities shared by every pulsed device model, each off by default.

- device-to-device variation: each device draws its own parameters once (per crossbar, seeded),
  p_i = p (1 + sigma_d2d xi_i) for the bounds' offset, the conductance range, the number of
  states and the shape parameters, and a_i = a + sigma_d2d xi_i for the up/down asymmetry
  (additive, since the nominal asymmetry is usually 0);
- cycle-to-cycle write noise: each pulse adds N(0, sigma_c2c (G_max - G_min)) to the
  conductance, so an update of n pulses adds N(0, sigma_c2c (G_max - G_min) sqrt(n)) (NeuroSim's
  convention, in which the presets' cycle-to-cycle figures, docs/devices.md "Presets", are given);
- read noise: every read returns G (1 + sigma_read xi), independently per device and per read;
- stuck-at faults: a fraction p_stuck of the devices never moves, a share q_high of them at
  G_max and the rest at G_min (measured HfO2 arrays: 10 % to 13.5 %, Gong, Rasch et al., IEDM
  2022);
- conductance drift (phase-change memory): G(t) = G_0 (t / t_0)^{-nu} for a time t >= t_0 since
  the device was last programmed (nu about 0.05 to 0.1 for PCM).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import in_range, positive


@dataclass(frozen=True, kw_only=True, slots=True)
class NonIdeal:
    """The non-idealities of a device model (all off by default). Final class."""

    d2d: float = 0.0
    """Device-to-device relative spread sigma_d2d of every parameter (dimensionless, >= 0)."""
    c2c: float = 0.0
    """Cycle-to-cycle write noise sigma_c2c per pulse, as a fraction of G_max - G_min (>= 0)."""
    read_noise: float = 0.0
    """Relative read noise sigma_read: each read returns G (1 + sigma_read xi) (>= 0)."""
    stuck_fraction: float = 0.0
    """Fraction p_stuck of the devices stuck at a bound, in [0, 1]."""
    stuck_high: float = 0.5
    """Share q_high of the stuck devices stuck at G_max (the others at G_min), in [0, 1]."""
    drift_nu: float = 0.0
    """Drift exponent nu of G(t) = G_0 (t / t_0)^-nu (dimensionless, in [0, 1])."""
    drift_t0: float = 1.0
    """Drift reference time t_0 after programming, in seconds (> 0)."""

    def __post_init__(self):
        positive("d2d", self.d2d, allow_zero=True)
        positive("c2c", self.c2c, allow_zero=True)
        positive("read_noise", self.read_noise, allow_zero=True)
        in_range("stuck_fraction", self.stuck_fraction, 0.0, 1.0)
        in_range("stuck_high", self.stuck_high, 0.0, 1.0)
        in_range("drift_nu", self.drift_nu, 0.0, 1.0)
        positive("drift_t0", self.drift_t0)

    @property
    def any(self) -> bool:
        """True when at least one non-ideality is switched on."""
        return bool(self.d2d or self.c2c or self.read_noise or self.stuck_fraction or self.drift_nu)
