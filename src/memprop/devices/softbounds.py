r"""Soft bounds, aihwkit's linear step with gamma = 1 (docs/devices.md, "Soft bounds").

The step shrinks linearly to zero at the bound it moves towards. In normalised conductance u,
one pulse moves u by alpha_+ (1 - u) up or alpha_- u down, so a train of n pulses gives the
closed form

.. math::
    u \leftarrow 1 - (1 - u)(1 - \alpha_+)^{n} \ (n > 0), \qquad
    u \leftarrow u\,(1 - \alpha_-)^{|n|} \ (n < 0),

    \alpha_+ = \min\Big(\frac{2(1 + a)}{P}, 1\Big), \quad \alpha_- = \min\Big(\frac{2(1 - a)}{P}, 1\Big),

i.e. dw_up = a_up (1 - w / w_max), dw_down = a_down (1 - w / w_min) with the range centred on 0.
The nominal step dG (1 +/- a) is the step at mid-range (u = 1/2), as in aihwkit's soft-bounds
device, so that about n_states levels span the range. Cycle-to-cycle noise then follows
:mod:`memprop.devices.nonideal`. (Li-ECRAM, Tang et al. IEDM 2018, is soft-bounds-like.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .base import AbstractPulsedDevice, check_common, directional
from .nonideal import NonIdeal


@dataclass(frozen=True, kw_only=True, slots=True)
class SoftBoundsDevice(AbstractPulsedDevice):
    r"""Soft bounds: u <- u + alpha_+ (1 - u) per potentiating pulse, u <- u - alpha_- u per
    depressing pulse (closed form for n pulses in the module docstring). Final class."""

    MODEL: ClassVar[str] = "soft-bounds"

    g_min: float = 1e-6
    """Minimum conductance G_min (the lower asymptote), in siemens."""
    g_max: float = 1e-5
    """Maximum conductance G_max (the upper asymptote), in siemens."""
    n_states: int = 64
    """Number of levels n_states (>= 2): the mid-range step is (G_max - G_min) / (n_states - 1)."""
    asymmetry: float = 0.0
    """Up/down asymmetry a in (-1, 1): mid-range steps dG (1 + a) up and dG (1 - a) down."""
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
        alpha_up = (2.0 * (1.0 + a) / P).clamp(max=1.0)
        alpha_down = (2.0 * (1.0 - a) / P).clamp(max=1.0)
        m = n.abs()
        up = 1.0 - (1.0 - u) * (1.0 - alpha_up).pow(m)
        down = u * (1.0 - alpha_down).pow(m)
        return directional(n, up, down)
