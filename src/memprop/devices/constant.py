r"""Constant step with hard bounds (docs/devices.md, "Constant step, hard bounds").

In normalised conductance u = (g - G_min) / (G_max - G_min), a train of n pulses moves

.. math::
    u \leftarrow \operatorname{clip}\big(u + n\,\delta_\pm,\ 0,\ 1\big), \qquad
    \delta_+ = \frac{1 + a}{P}, \quad \delta_- = \frac{1 - a}{P}, \quad P = n_\text{states} - 1,

(n > 0 uses delta_+, n < 0 delta_-), i.e. g <- clip(g + d dG (1 +/- a), G_min, G_max) per pulse,
then cycle-to-cycle noise (see :mod:`memprop.devices.nonideal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .base import AbstractPulsedDevice, check_common, directional
from .nonideal import NonIdeal


@dataclass(frozen=True, kw_only=True, slots=True)
class ConstantStepDevice(AbstractPulsedDevice):
    r"""Constant step dG (1 +/- a) per pulse, clipped at the bounds. Final class."""

    MODEL: ClassVar[str] = "constant-step"

    g_min: float = 1e-6
    """Minimum conductance G_min, in siemens."""
    g_max: float = 1e-5
    """Maximum conductance G_max, in siemens."""
    n_states: int = 64
    """Number of conductance levels n_states (>= 2); P = n_states - 1 nominal pulses span the range."""
    asymmetry: float = 0.0
    """Up/down asymmetry a in (-1, 1): steps dG (1 + a) up and dG (1 - a) down (dimensionless)."""
    energy_per_pulse: float = 1e-12
    """Energy E_p of one programming pulse, in joules."""
    nonideal: NonIdeal = field(default_factory=NonIdeal)
    """Non-idealities (all off by default)."""

    def __post_init__(self):
        check_common(self)

    def _shape(self):
        return {}

    def _pulse_train(self, u, n, p):
        a, P = p["asymmetry"], p["P"]
        step = directional(n, (1.0 + a) / P, (1.0 - a) / P)
        return (u + n * step).clamp(0.0, 1.0)
