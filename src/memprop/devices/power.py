r"""Power step (Fusi & Abbott, Nat. Neurosci. 2007; docs/devices.md, "Power step").

With omega = (G_max - g) / (G_max - G_min) = 1 - u, a potentiating pulse moves u by
delta_+ omega^gamma_+ and a depressing pulse by -delta_- (1 - omega)^gamma_-. The model is taken
as the flow of these steps in pulse count, du/dp = delta_+ (1 - u)^gamma_+ (up) and
du/dp = -delta_- u^gamma_- (down), so that a train of n pulses has the closed form

.. math::
    y(n) = \Big(\max\big(y_0^{1-\gamma} - (1 - \gamma)\,\delta\,n,\ 0\big)\Big)^{1/(1-\gamma)}
    \quad (\gamma \ne 1), \qquad y(n) = y_0\,e^{-\delta n} \quad (\gamma = 1),

with y = 1 - u for potentiation and y = u for depression. To first order in delta one pulse is
Fusi and Abbott's step; unlike the discrete step, pulse trains compose exactly. gamma = 0 is the
constant step with hard bounds, gamma = 1 the (continuous) soft bounds; gamma < 1 reaches the
bound in finitely many pulses, gamma > 1 never does. The step sizes are set so that the step at
mid-range (u = 1/2) is the nominal dG (1 +/- a):
delta_+ = 2^gamma_+ (1 + a) / P and delta_- = 2^gamma_- (1 - a) / P, P = n_states - 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .._validate import in_range
from .base import AbstractPulsedDevice, check_common, directional
from .nonideal import NonIdeal

GAMMA_MAX = 10.0


def power_flow(y: torch.Tensor, t: torch.Tensor, delta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """y after flowing dy/dt = -delta y^gamma for a time t >= 0, from y in [0, 1]."""
    k = 1.0 - gamma
    linear = k.abs() < 1e-9
    k_safe = torch.where(linear, torch.ones_like(k), k)
    # y = 0 is a fixed point; powers of 0 are kept out of the expression (and of its gradient,
    # which the fit takes): 0^k is inf for k < 0 and d(0^k)/dk is NaN
    pos = y > 0
    y_safe = torch.where(pos, y, torch.ones_like(y))
    base = (y_safe.pow(k_safe) - k_safe * delta * t).clamp_min(0.0)
    alive = pos & (base > 0)  # base reaches 0 when gamma < 1 drives y onto the bound
    flowed = torch.where(alive, torch.where(alive, base, torch.ones_like(base)).pow(1.0 / k_safe), 0.0)
    return torch.where(linear, y * torch.exp(-delta * t), flowed)


@dataclass(frozen=True, kw_only=True, slots=True)
class PowerStepDevice(AbstractPulsedDevice):
    r"""Power step: du/dp = delta_+ omega^gamma_+ up, -delta_- (1 - omega)^gamma_- down,
    omega = 1 - u (closed form in the module docstring). Final class."""

    MODEL: ClassVar[str] = "power"
    _SHAPE_RANGE: ClassVar[dict[str, tuple[float, float]]] = {
        "gamma_up": (0.0, GAMMA_MAX), "gamma_down": (0.0, GAMMA_MAX)}

    g_min: float = 1e-6
    """Minimum conductance G_min, in siemens."""
    g_max: float = 1e-5
    """Maximum conductance G_max, in siemens."""
    n_states: int = 64
    """Number of levels n_states (>= 2): the mid-range step is (G_max - G_min) / (n_states - 1)."""
    asymmetry: float = 0.0
    """Up/down asymmetry a in (-1, 1): mid-range steps dG (1 + a) up and dG (1 - a) down."""
    gamma_up: float = 1.0
    """Potentiation exponent gamma_+ in [0, 10] (dimensionless)."""
    gamma_down: float = 1.0
    """Depression exponent gamma_- in [0, 10] (dimensionless)."""
    energy_per_pulse: float = 1e-12
    """Energy E_p of one programming pulse, in joules."""
    nonideal: NonIdeal = field(default_factory=NonIdeal)
    """Non-idealities (all off by default)."""

    def __post_init__(self):
        check_common(self)
        in_range("gamma_up", self.gamma_up, 0.0, GAMMA_MAX)
        in_range("gamma_down", self.gamma_down, 0.0, GAMMA_MAX)

    def _shape(self):
        return {"gamma_up": self.gamma_up, "gamma_down": self.gamma_down}

    def _pulse_train(self, u, n, p):
        a, P = p["asymmetry"], p["P"]
        g_up, g_down = p["gamma_up"], p["gamma_down"]
        gamma = directional(n, g_up, g_down)
        delta = directional(n, 2.0 ** g_up * (1.0 + a) / P, 2.0 ** g_down * (1.0 - a) / P)
        y = directional(n, 1.0 - u, u)
        y_new = power_flow(y, n.abs(), delta, gamma)
        return directional(n, 1.0 - y_new, y_new).clamp(0.0, 1.0)
