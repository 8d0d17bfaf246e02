r"""Exponential LTP/LTD: the standard fit of measured pulse responses (NeuroSim's model).

A device sits at a pulse position x on a saturating exponential curve (docs/devices.md,
"Exponential (NeuroSim)"):

.. math::
    G_\text{LTP}(P) = B\,(1 - e^{-P/A}) + G_\text{min}, \qquad
    G_\text{LTD}(P) = -B\,(1 - e^{(P - P_\text{max})/A}) + G_\text{max},

    B = \frac{G_\text{max} - G_\text{min}}{1 - e^{-P_\text{max}/A}}, \qquad A = a(\mathrm{NL})\,P_\text{max}.

A pulse moves the device one step along the curve of its direction from its current position:
x = G^{-1}(g), then g <- G(clip(x +/- n, 0, P_max)). In normalised form, with s = x / P_max in
[0, 1] and the curvature c = P_max / A = 1 / a(NL),

.. math::
    f_c(s) = \frac{1 - e^{-c s}}{1 - e^{-c}}, \qquad
    f_c^{-1}(u) = -\frac{\ln\big(1 - u (1 - e^{-c})\big)}{c},

    u \leftarrow f_c\big(\operatorname{clip}(f_c^{-1}(u) + n / P_\pm, 0, 1)\big),

which is exact for any train of n pulses (c -> 0 is the linear device). Potentiation uses
c_up and P_+ = P / (1 + a), depression c_down and P_- = P / (1 - a), P = n_states - 1.
Per pulse the step is affine in u, u <- u + k (u* - u) with k = 1 - e^{-c/P_+} and
u* = 1 / (1 - e^{-c}) (soft bounds towards a virtual bound beyond the range), which makes this
model aihwkit's LinearStepDevice exactly (docs/devices.md, "aihwkit mapping").

Nonlinearity labels follow NeuroSim (Chen et al., "NeuroSim+", IEDM 2017; MLP_NeuroSim V3.0,
``formula.cpp: getParamA``): |NL| in [0, 9] maps to a(|NL|) by NeuroSim's table, and the sign of
NL is the sign of A. For potentiation NL > 0 is the usual saturating curve (large steps near
G_min); for depression NL < 0 is the usual saturating curve (large steps near G_max). So the
Ag:a-Si preset (docs/devices.md, "Presets") is ``nl_up=2.4, nl_down=-4.88``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .._validate import in_range
from ..errors import ConfigError
from .base import AbstractPulsedDevice, check_common, directional
from .nonideal import NonIdeal

# NeuroSim's normalised-A table (getParamA, labels 0.01 to 9 in steps of 0.01) is very nearly
# a(NL) = p(NL) / NL with a slowly varying p. These are NL x a(NL) read from that table at the
# labels below (a(0.01) = 126.268958, a(1) = 1.251653, a(2.4) = 0.499181 via interpolation,
# a(9) = 0.022810, ...); piecewise-linear interpolation of p reproduces the table to within
# 0.1 % (checked at 0.04, 0.63, 2.4 and 4.88 in the tests), and p(0) extrapolates the first two.
_NL_KNOTS = (0.0, 0.01, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5,
             7.0, 7.5, 8.0, 8.5, 9.0)
_NL_TIMES_A = (1.2627017, 1.26268958, 1.2625807, 1.2599385, 1.251653, 1.237746, 1.21807,
               1.1924125, 1.16049, 1.121946, 1.076356, 1.0232235, 0.96203, 0.892298, 0.813714,
               0.726375, 0.630973, 0.52893, 0.422248, 0.3133695, 0.20529)
NL_MAX = 9.0
"""Largest |NL| label of NeuroSim's table."""


def nl_to_c(nl: torch.Tensor | float) -> torch.Tensor:
    """Curvature c = P_max / A = sign(NL) / a(|NL|) of a NeuroSim nonlinearity label (0 -> 0).

    Differentiable in ``nl`` (the fit refines labels with autograd); labels beyond +/-9 are
    clipped to the table's end.
    """
    nl = torch.as_tensor(nl, dtype=torch.float64 if not torch.is_tensor(nl) else None)
    if not nl.is_floating_point():
        nl = nl.double()
    knots = torch.tensor(_NL_KNOTS, dtype=nl.dtype, device=nl.device)
    vals = torch.tensor(_NL_TIMES_A, dtype=nl.dtype, device=nl.device)
    x = nl.abs().clamp(max=NL_MAX)
    i = torch.searchsorted(knots, x.detach().reshape(-1).contiguous(), right=True)
    i = i.clamp(1, len(_NL_KNOTS) - 1).reshape(x.shape)
    x0, x1, y0, y1 = knots[i - 1], knots[i], vals[i - 1], vals[i]
    p = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return torch.sign(nl) * x / p


def a_of_nl(nl: float) -> float:
    """NeuroSim's normalised A = A / P_max for a label (infinite for NL = 0, the linear device)."""
    c = float(nl_to_c(float(nl)))
    return math.inf if c == 0 else 1.0 / c


def c_to_nl(c: float) -> float:
    """The label NL whose curvature is ``c`` (inverse of :func:`nl_to_c`), clipped to +/-9."""
    target = abs(float(c))
    if target == 0:
        return 0.0
    if target >= float(nl_to_c(NL_MAX)):
        return math.copysign(NL_MAX, c)
    lo, hi = 0.0, NL_MAX
    for _ in range(60):  # bisection on a monotone scalar function: 2^-60 of the bracket
        mid = 0.5 * (lo + hi)
        if float(nl_to_c(mid)) < target:
            lo = mid
        else:
            hi = mid
    return math.copysign(0.5 * (lo + hi), c)


def exp_curve(s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """f_c(s) = (1 - e^{-c s}) / (1 - e^{-c}); the linear f(s) = s where |c| is tiny."""
    small = c.abs() < 1e-9
    c_safe = torch.where(small, torch.ones_like(c), c)
    return torch.where(small, s, torch.expm1(-c_safe * s) / torch.expm1(-c_safe))


def exp_inverse(u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """f_c^{-1}(u) = -ln(1 - u (1 - e^{-c})) / c; u itself where |c| is tiny."""
    small = c.abs() < 1e-9
    c_safe = torch.where(small, torch.ones_like(c), c)
    return torch.where(small, u, -torch.log1p(u * torch.expm1(-c_safe)) / c_safe)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExpStepDevice(AbstractPulsedDevice):
    r"""Exponential LTP/LTD: u <- f_c(clip(f_c^{-1}(u) + n / P_+/-, 0, 1)) (module docstring).

    Final class.
    """

    MODEL: ClassVar[str] = "exponential"
    _SHAPE_RANGE: ClassVar[dict[str, tuple[float, float]]] = {
        "nl_up": (-NL_MAX, NL_MAX), "nl_down": (-NL_MAX, NL_MAX)}

    g_min: float = 1e-6
    """Minimum conductance G_min, in siemens."""
    g_max: float = 1e-5
    """Maximum conductance G_max, in siemens."""
    n_states: int = 64
    """Number of levels n_states (>= 2); P_max = n_states - 1 nominal pulses span the range."""
    asymmetry: float = 0.0
    """Up/down asymmetry a in (-1, 1): P_max / (1 + a) pulses potentiate across the range and
    P_max / (1 - a) depress across it (dimensionless)."""
    nl_up: float = 1.0
    """Potentiation nonlinearity label NL_LTP in [-9, 9] (NeuroSim's; 0 = linear), dimensionless."""
    nl_down: float = -1.0
    """Depression nonlinearity label NL_LTD in [-9, 9] (NeuroSim's sign: < 0 saturates near
    G_min), dimensionless."""
    energy_per_pulse: float = 1e-12
    """Energy E_p of one programming pulse, in joules."""
    nonideal: NonIdeal = field(default_factory=NonIdeal)
    """Non-idealities (all off by default)."""

    def __post_init__(self):
        check_common(self)
        for name in ("nl_up", "nl_down"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            in_range(name, value, -NL_MAX, NL_MAX)

    def _shape(self):
        return {"nl_up": self.nl_up, "nl_down": self.nl_down}

    def _pulse_train(self, u, n, p):
        a, P = p["asymmetry"], p["P"]
        c = directional(n, nl_to_c(p["nl_up"]).to(u.dtype), nl_to_c(p["nl_down"]).to(u.dtype))
        pulses = directional(n, P / (1.0 + a), P / (1.0 - a))
        s = exp_inverse(u, c)
        return exp_curve((s + n / pulses).clamp(0.0, 1.0), c).clamp(0.0, 1.0)
