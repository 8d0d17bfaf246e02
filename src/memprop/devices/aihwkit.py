r"""IBM aihwkit's pulsed device configs as memprop devices, and back, without importing aihwkit.

aihwkit (github.com/IBM/aihwkit, read at version 1.1.0) describes a device in normalised weight
units: bounds w_min <= 0 <= w_max, a step dw_min, an up/down bias ``up_down`` and a shape per
class. memprop describes it physically (G_min, G_max in siemens, n_states, asymmetry a,
shape). The mapping (docs/devices.md, "aihwkit mapping", has the field-by-field table):

- weights map affinely onto conductances, u = (w - w_min) / (w_max - w_min) =
  (g - G_min) / (G_max - G_min); the conductance range is not part of an aihwkit config, so the
  caller passes it (``g_min``, ``g_max``); exported devices get the symmetric weight range
  [-w_max, w_max], which is memprop's ``reference`` signed-weight encoding;
- steps: aihwkit's C++ simulator (rpu_pulsed_device.cpp, ``populate``) applies ``up_down``
  one-sidedly, s_+ = dw_min (1 + min(up_down, 0)) and s_- = dw_min (1 - max(up_down, 0)) (its
  docstring's dw_min (1 +/- up_down) is not what it does); the source is followed here;
- n_states = P + 1 with P the number of nominal pulses across the range, rounded to an integer
  (for the exact classes below, the only change an import makes to a step: a factor within
  1 +/- 1 / (2 P));
- noise: c2c = dw_min_std dw_min / (w_max - w_min) (aihwkit's sigma_c2c = dw_min dw_min_std as a
  fraction of the range) and d2d = dw_min_dtod (memprop has one relative spread for every
  per-device parameter);

and class by class (noise off, u in [0, 1], n pulses):

========================  =====================  ==================================================
aihwkit                   memprop                match
========================  =====================  ==================================================
ConstantStepDevice        ConstantStepDevice     exact: u += s_+/R, u -= s_-/R, clipped
SoftBoundsDevice          SoftBoundsDevice       exact: alpha_+ = s_+ / w_max, alpha_- = s_- / |w_min|
LinearStepDevice          ExpStepDevice          exact: NeuroSim's exponential is LinearStep, with
                                                 gamma = tanh(c / 2) for symmetric bounds
                                                 (c = 1 / a(NL), see below);
                                                 gamma_up = gamma_down = 1 is SoftBoundsDevice
PowStepDevice             PowerStepDevice        nearest: memprop flows, aihwkit steps; trains
                                                 differ by about K(gamma) / P of the range
ExpStepDevice             ExpStepDevice          nearest: least-squares fit (import only)
IdealDevice               IdealDevice            exact
========================  =====================  ==================================================

Why LinearStep is the exponential model: NeuroSim's G(P) = B (1 - e^{-P/A}) + G_min moves by
dG/dP = (B + G_min - G) / A, a step that is affine in G, which is what aihwkit's LinearStep step
s (1 - gamma w / w_ref) is. Pulse by pulse both are the affine map u <- u + k (u* - u), with
k = 1 - e^{-c/P_+} and u* = 1 / (1 - e^{-c}) for memprop, so the match is exact, not a fit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._validate import positive
from ..errors import ConfigError
from .base import AbstractDevice, AbstractPulsedDevice
from .constant import ConstantStepDevice
from .exponential import NL_MAX, ExpStepDevice, c_to_nl, exp_curve, exp_inverse, nl_to_c
from .ideal import IdealDevice
from .nonideal import NonIdeal
from .power import GAMMA_MAX, PowerStepDevice
from .softbounds import SoftBoundsDevice
from .toml import _tomllib

_PULSED: dict[str, Any] = {
    "construction_seed": 0, "corrupt_devices_prob": 0.0, "corrupt_devices_range": 0.1,
    "count_pulses": False, "diffusion": 0.0, "diffusion_dtod": 0.0, "drift": None,
    "dw_min": 0.001, "dw_min_dtod": 0.3, "dw_min_dtod_log_normal": False, "dw_min_std": 0.3,
    "enforce_consistency": True, "lifetime": 0.0, "lifetime_dtod": 0.0, "perfect_bias": False,
    "reset": 0.0, "reset_dtod": 0.0, "reset_std": 0.01, "up_down": 0.0, "up_down_dtod": 0.01,
    "w_max": 0.6, "w_max_dtod": 0.3, "w_min": -0.6, "w_min_dtod": 0.3,
}
_WRITE_NOISE: dict[str, Any] = {"write_noise_std": 0.0, "apply_write_noise_on_set": True}
_REVERSE: dict[str, Any] = {"mult_noise": True, "reverse_up": False, "reverse_down": False,
                            "reverse_offset": 0.01}

AIHWKIT_DEFAULTS: dict[str, dict[str, Any]] = {
    "ConstantStepDevice": dict(_PULSED),
    "LinearStepDevice": {**_PULSED, "gamma_up": 0.0, "gamma_down": 0.0, "gamma_up_dtod": 0.05,
                         "gamma_down_dtod": 0.05, "allow_increasing": False,
                         "mean_bound_reference": True, **_WRITE_NOISE, **_REVERSE},
    "SoftBoundsDevice": {**_PULSED, **_WRITE_NOISE, **_REVERSE},
    "ExpStepDevice": {**_PULSED, "A_up": 0.00081, "A_down": 0.36833, "gamma_up": 12.44625,
                      "gamma_down": 12.78785, "a": 0.244, "b": 0.2425, "dw_min_std_add": 0.0,
                      "dw_min_std_slope": 0.0, **_WRITE_NOISE},
    "PowStepDevice": {**_PULSED, "pow_gamma": 1.0, "pow_gamma_dtod": 0.1, "pow_up_down": 0.0,
                      "pow_up_down_dtod": 0.0, **_WRITE_NOISE},
    "IdealDevice": {"construction_seed": 0, "diffusion": 0.0, "lifetime": 0.0, "reset_std": 0.01},
}
"""The aihwkit classes this module reads, with every field of each and aihwkit 1.1.0's default
(``src/aihwkit/simulator/configs/devices.py``; ``drift`` is a DriftParameter whose ``nu`` must be 0)."""

SUPPORTED = tuple(AIHWKIT_DEFAULTS)
"""aihwkit class names :func:`from_aihwkit` accepts."""

_OFF = {
    "corrupt_devices_prob": "memprop's stuck-at faults sit at G_min or G_max, aihwkit's corrupt "
                            "devices at a random weight",
    "diffusion": "memprop has no weight diffusion",
    "lifetime": "memprop has no weight decay",
    "write_noise_std": "memprop has no hidden-weight write noise",
    "dw_min_std_add": "memprop's cycle-to-cycle noise is one additive term",
    "dw_min_std_slope": "memprop's cycle-to-cycle noise is one additive term",
}
"""Fields that must be 0 (no memprop counterpart) and why."""

_C_MAX = float(nl_to_c(NL_MAX))
"""Largest curvature |c| the exponential model's labels reach (NL = +/- 9)."""


# --------------------------------------------------------------------------------- reading
def _fields(config: Any) -> tuple[str, dict[str, Any]]:
    """The class name and the fields of an aihwkit device object or mapping (defaults filled)."""
    if isinstance(config, AbstractDevice):
        raise ConfigError(f"config is already a memprop device ({type(config).__name__}); "
                          f"from_aihwkit takes an aihwkit device or a mapping with 'class'")
    if isinstance(config, Mapping):
        given = dict(config)
        if "class" not in given:
            raise ConfigError(f"an aihwkit device mapping needs a 'class' key, one of "
                              f"{', '.join(SUPPORTED)}; got keys {sorted(given)}")
        name = given.pop("class")
        if not isinstance(name, str):
            raise ConfigError(f"'class' must be an aihwkit class name (a string), got {name!r}")
    else:
        name = type(config).__name__
        given = None
    if name not in AIHWKIT_DEFAULTS:
        raise ConfigError(f"aihwkit device class {name!r} is not supported; supported: "
                          f"{', '.join(SUPPORTED)}")
    defaults = AIHWKIT_DEFAULTS[name]
    if given is None:  # an object: a dataclass shows all its fields, anything else what it has
        if dataclasses.is_dataclass(config):
            given = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        else:
            given = {k: getattr(config, k) for k in defaults if hasattr(config, k)}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(map(repr, unknown))} for aihwkit {name}; "
                          f"valid fields: {', '.join(sorted(defaults))}")
    values = {**defaults, **given}
    for key, value in values.items():
        _check_type(name, key, value, defaults[key])
    return name, values


def _check_type(cls: str, key: str, value: Any, default: Any) -> None:
    if key == "drift":
        nu = value.get("nu", 0.0) if isinstance(value, Mapping) else getattr(value, "nu", 0.0)
        if nu != 0:
            raise ConfigError(f"aihwkit {cls}.drift.nu={nu!r} is not supported: aihwkit drifts the signed "
                              f"weight towards 0, memprop's drift_nu the conductance; allowed: 0")
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"aihwkit {cls}.{key} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"aihwkit {cls}.{key} must be an integer, got {value!r}")
    elif (isinstance(value, bool) or not isinstance(value, (int, float))
          or not math.isfinite(value)):
        raise ConfigError(f"aihwkit {cls}.{key} must be a finite number, got {value!r}")


# ------------------------------------------------------------------------ shared pieces
def _scales(base: float, up_down: float, enforce: bool) -> tuple[float, float]:
    """aihwkit's one-sided split: (base (1 + min(b, 0)), base (1 - max(b, 0))), abs'ed if enforced."""
    up, down = base * (1.0 + min(up_down, 0.0)), base * (1.0 - max(up_down, 0.0))
    return (abs(up), abs(down)) if enforce else (up, down)


def _split(up: float, down: float) -> tuple[float, float]:
    """The (base, bias) that :func:`_scales` turns into (up, down) (inverse of the split)."""
    if up == down:
        return up, 0.0
    if up > down:
        return up, 1.0 - down / up
    return down, up / down - 1.0


def _n_states(P: float, cls: str) -> int:
    """n_states = round(P) + 1 for P nominal pulses across the range (at least 2 states)."""
    if not math.isfinite(P) or round(P) < 1:
        raise ConfigError(f"aihwkit {cls}: dw_min gives {P:.3g} pulses across [w_min, w_max]; "
                          f"memprop needs at least 1 (n_states >= 2): lower dw_min")
    return int(round(P)) + 1


def _affine_to_curve(alpha: float, beta: float, where: str) -> tuple[float, float]:
    """(P_d, c) of the exponential curve whose step is alpha - beta x per pulse.

    In the coordinate x in [0, 1] measured from the bound a pulse moves away from, memprop's
    exponential model moves x <- x + k (x* - x) with k = 1 - e^{-c / P_d} and
    x* = 1 / (1 - e^{-c}); so c = -ln(1 - beta / alpha) and P_d = -c / ln(1 - beta).
    """
    if not alpha > 0 or not alpha - beta > 0:
        at = "the bound it starts from" if not alpha > 0 else "the bound it moves to"
        raise ConfigError(f"{where}: the step vanishes or reverses at {at} (step alpha - beta x "
                          f"with alpha={alpha:.6g}, beta={beta:.6g}); memprop's models need a "
                          f"positive step across the whole range")
    if beta == 0:
        return 1.0 / alpha, 0.0
    if not beta < 1:
        raise ConfigError(f"{where}: one pulse overshoots the curve's asymptote (beta={beta:.6g} "
                          f">= 1); lower dw_min")
    c = -math.log1p(-beta / alpha)
    if abs(c) > _C_MAX:
        raise ConfigError(f"{where}: curvature c={c:.6g} is beyond the exponential model's "
                          f"labels (|c| <= {_C_MAX:.4g}, NL in [-9, 9])")
    return -c / math.log1p(-beta), c


def _curve_to_affine(P_d: float, c: float) -> tuple[float, float]:
    """(alpha, beta): the first pulse's step f_c(1 / P_d) and the slope 1 - e^{-c / P_d}."""
    if c == 0:
        return 1.0 / P_d, 0.0
    return math.expm1(-c / P_d) / math.expm1(-c), -math.expm1(-c / P_d)


def _bounds(cls: str, v: dict[str, Any]) -> float:
    """Check aihwkit's bounds (the interval must hold 0) and dw_min; the range R = w_max - w_min."""
    if not (v["w_min"] <= 0.0 <= v["w_max"]) or not v["w_min"] < v["w_max"]:
        raise ConfigError(f"aihwkit {cls}: [w_min, w_max] = [{v['w_min']!r}, {v['w_max']!r}] must "
                          f"contain 0 and have w_min < w_max")
    if not v["dw_min"] > 0:
        raise ConfigError(f"aihwkit {cls}.dw_min must be > 0, got {v['dw_min']!r}")
    if not -1.0 < v["up_down"] < 1.0:
        raise ConfigError(f"aihwkit {cls}.up_down must lie in (-1, 1) (both steps positive), "
                          f"got {v['up_down']!r}")
    for key, why in _OFF.items():
        if v.get(key, 0.0) != 0:
            raise ConfigError(f"aihwkit {cls}.{key}={v[key]!r} is not supported ({why}); allowed: 0")
    return v["w_max"] - v["w_min"]


def _asym(x_up: float, x_down: float) -> tuple[float, float]:
    """(P, a) from the per-pulse fractions (1 + a) / P and (1 - a) / P."""
    return 2.0 / (x_up + x_down), (x_up - x_down) / (x_up + x_down)


# ------------------------------------------------------------------------------- import
def from_aihwkit(config: Any, *, g_min: float = 1e-6, g_max: float = 1e-5,
                 energy_per_pulse: float | None = None, max_deviation: float = 0.05) -> AbstractDevice:
    r"""The memprop device equivalent to an aihwkit device config.

    Args:
        config: an aihwkit device (read by its class name and attributes; aihwkit itself is not
            imported) or a mapping ``{"class": "SoftBoundsDevice", ...}`` with aihwkit's field
            names; missing fields take aihwkit 1.1.0's defaults (:data:`AIHWKIT_DEFAULTS`).
        g_min: G_min in siemens that w_min maps to (an aihwkit config has no conductances).
        g_max: G_max in siemens that w_max maps to.
        energy_per_pulse: E_p in joules (default: the memprop model's default).
        max_deviation: for ``ExpStepDevice`` only, the largest allowed distance, as a fraction of
            the range, between aihwkit's pulse trains and those of the fitted model (see below).

    The mapping (module docstring; docs/devices.md, "aihwkit mapping"): u = (w - w_min) / R with
    R = w_max - w_min; s_+/- from dw_min and up_down (one-sided, as aihwkit's source does);
    nominal pulses P rounded to an integer, n_states = P + 1;
    NonIdeal(c2c = dw_min_std dw_min / R, d2d = dw_min_dtod).

    - ConstantStep: P = 2 R / (s_+ + s_-), a = (s_+ - s_-) / (s_+ + s_-).
    - SoftBounds (and LinearStep with gamma_up = gamma_down = 1), with w_min < 0 < w_max and no
      ``reverse_*`` (else as LinearStep): alpha_+ = s_+ / w_max,
      alpha_- = s_- / |w_min|, P = 4 / (alpha_+ + alpha_-), a = (alpha_+ - alpha_-) / (alpha_+ + alpha_-).
    - LinearStep: per direction the step is affine in u, alpha - beta x (x = u up, 1 - u down);
      :func:`_affine_to_curve` gives (P_+/-, c_+/-), then P = 2 / (1 / P_+ + 1 / P_-),
      a = P / P_+ - 1, nl_up = c_to_nl(c_+), nl_down = c_to_nl(-c_-).
    - PowStep: gamma_+ = pow_gamma (1 + min(pow_up_down, 0)), gamma_- = pow_gamma
      (1 - max(pow_up_down, 0)), and (1 +/- a) / P = s_+/- / (R 2^{gamma_+/-}).
    - ExpStep: the step (s_d / R) max(1 - A_d e^{+/- gamma_d z}, 0), z = 2 a w / R + b, is fitted
      by least squares on [0, 1] with the affine step of the exponential model, then mapped as
      LinearStep. ConfigError when the fitted trains stray further than ``max_deviation``.

    Raises:
        ConfigError: an unsupported class (the message lists the supported ones), unknown fields
            (named), or values memprop cannot represent (the field, its value and what is allowed).
    """
    positive("max_deviation", max_deviation)
    cls, v = _fields(config)
    kw: dict[str, Any] = {"g_min": g_min, "g_max": g_max}
    if energy_per_pulse is not None:
        kw["energy_per_pulse"] = energy_per_pulse
    if cls == "IdealDevice":
        for key in ("diffusion", "lifetime"):
            if v[key] != 0:
                raise ConfigError(f"aihwkit IdealDevice.{key}={v[key]!r} is not supported "
                                  f"({_OFF[key]}); allowed: 0")
        return IdealDevice()
    R = _bounds(cls, v)
    s_up, s_down = _scales(v["dw_min"], v["up_down"], v["enforce_consistency"])
    nonideal = NonIdeal(c2c=v["dw_min_std"] * v["dw_min"] / R, d2d=v["dw_min_dtod"])
    kw["nonideal"] = nonideal

    if cls == "ConstantStepDevice":
        P, a = _asym(s_up / R, s_down / R)
        return ConstantStepDevice(n_states=_n_states(P, cls), asymmetry=a, **kw)

    if cls == "PowStepDevice":
        g_up, g_down = _scales(v["pow_gamma"], v["pow_up_down"], v["enforce_consistency"])
        for key, g in (("up", g_up), ("down", g_down)):
            if not 0.0 <= g <= GAMMA_MAX:
                raise ConfigError(
                    f"aihwkit PowStepDevice: pow_gamma={v['pow_gamma']!r} with pow_up_down="
                    f"{v['pow_up_down']!r} gives gamma_{key}={g!r}; memprop allows [0, {GAMMA_MAX}]")
        P, a = _asym(s_up / (R * 2.0 ** g_up), s_down / (R * 2.0 ** g_down))
        return PowerStepDevice(n_states=_n_states(P, cls), asymmetry=a, gamma_up=g_up,
                               gamma_down=g_down, **kw)

    if cls == "ExpStepDevice":
        return _from_exp_step(v, R, s_up, s_down, kw, max_deviation)

    # LinearStepDevice and SoftBoundsDevice: steps s (1 - gamma w / w_ref), clipped at the bounds
    for key in ("reverse_up", "reverse_down"):
        if v[key] and not v["mult_noise"]:
            raise ConfigError(f"aihwkit {cls}.{key}=True needs mult_noise=True (aihwkit's own rule)")
    if cls == "SoftBoundsDevice":
        gamma_up = gamma_down = 1.0
    else:
        gamma_up, gamma_down = v["gamma_up"], v["gamma_down"]
        if not v["allow_increasing"]:  # aihwkit takes |gamma| unless increasing steps are allowed
            gamma_up, gamma_down = abs(gamma_up), abs(gamma_down)
    ref_up = v["w_min"] - v["reverse_offset"] if v["reverse_up"] else v["w_max"]
    ref_down = v["w_max"] + v["reverse_offset"] if v["reverse_down"] else v["w_min"]
    soft = (gamma_up == gamma_down == 1.0 and not v["reverse_up"] and not v["reverse_down"]
            and v["w_min"] < 0.0 < v["w_max"])
    if soft:
        P, a = _asym(s_up / (2.0 * v["w_max"]), s_down / (-2.0 * v["w_min"]))
        return SoftBoundsDevice(n_states=_n_states(P, cls), asymmetry=a, **kw)
    # gamma' = gamma / w_ref (aihwkit sets the slope to 0 where the reference is 0)
    k_up = gamma_up / ref_up if ref_up != 0 else 0.0
    k_down = gamma_down / ref_down if ref_down != 0 else 0.0
    where = f"aihwkit {cls} (gamma_up={gamma_up!r}, gamma_down={gamma_down!r})"
    up = _affine_to_curve(s_up / R * (1.0 - k_up * v["w_min"]), s_up * k_up, f"{where}: up step")
    down = _affine_to_curve(s_down / R * (1.0 - k_down * v["w_max"]), -s_down * k_down,
                            f"{where}: down step")
    return _exp_device(up, down, cls, kw)


def _exp_device(up: tuple[float, float], down: tuple[float, float], cls: str,
                kw: dict[str, Any]) -> ExpStepDevice:
    """The exponential device with P_+ pulses and curvature c_+ up, and (P_-, c_-) down (mirrored)."""
    (P_up, c_up), (P_down, c_down) = up, down
    P, a = _asym(1.0 / P_up, 1.0 / P_down)
    return ExpStepDevice(n_states=_n_states(P, cls), asymmetry=a, nl_up=c_to_nl(c_up),
                         nl_down=c_to_nl(-c_down), **kw)


def _from_exp_step(v: dict[str, Any], R: float, s_up: float, s_down: float, kw: dict[str, Any],
                   max_deviation: float) -> ExpStepDevice:
    """Nearest exponential device to aihwkit's ExpStep: least-squares affine fit of its step.

    In x (distance from the starting bound, as a fraction of the range) aihwkit's step is
    h(x) = (s / R) max(1 - A e^{+/- gamma z}, 0) with z = 2 a w / R + b; the fit h ~ alpha - beta x
    minimises the squared step error over x in [0, 1] (uniform grid of 1025 points).
    """
    x = torch.linspace(0.0, 1.0, 1025, dtype=torch.float64)
    w_up = v["w_min"] + R * x  # w along an up sweep, and along a down sweep (from w_max)
    w_down = v["w_max"] - R * x
    h_up = s_up / R * (1.0 - v["A_up"] * torch.exp(v["gamma_up"] * (2.0 * v["a"] * w_up / R + v["b"])))
    h_down = s_down / R * (1.0 - v["A_down"] * torch.exp(-v["gamma_down"] * (2.0 * v["a"] * w_down / R + v["b"])))
    fits = []
    for key, h in (("up", h_up), ("down", h_down)):
        if not bool((h > 0).all()):
            i = int(torch.nonzero(h <= 0)[0])
            w = float(w_up[i] if key == "up" else w_down[i])
            raise ConfigError(
                f"aihwkit ExpStepDevice: A_{key}={v['A_' + key]!r}, gamma_{key}={v['gamma_' + key]!r}, "
                f"a={v['a']!r}, b={v['b']!r} make the {key} step vanish at w={w:.4g} inside "
                f"[w_min, w_max]; memprop's models reach their bounds")
        xm, hm = x.mean(), h.mean()
        beta = float(-((x - xm) * (h - hm)).sum() / ((x - xm) ** 2).sum())
        alpha = float(hm) + beta * float(xm)
        fits.append(_affine_to_curve(alpha, beta, f"aihwkit ExpStepDevice {key} step (fitted)"))
    dev = _exp_device(fits[0], fits[1], "ExpStepDevice", kw)
    P = dev.n_states - 1
    curves = ((P / (1.0 + dev.asymmetry), float(nl_to_c(dev.nl_up))),
              (P / (1.0 - dev.asymmetry), -float(nl_to_c(dev.nl_down))))
    worst = max(_sweep_deviation(x, h, P_d, c) for h, (P_d, c) in zip((h_up, h_down), curves))
    if worst > max_deviation:
        raise ConfigError(
            f"aihwkit ExpStepDevice (A_up={v['A_up']!r}, A_down={v['A_down']!r}, gamma_up="
            f"{v['gamma_up']!r}, gamma_down={v['gamma_down']!r}, a={v['a']!r}, b={v['b']!r}): the "
            f"nearest exponential model strays {worst:.3g} of the range from aihwkit's pulse "
            f"trains, above max_deviation={max_deviation!r}; pass a larger max_deviation to accept it")
    return dev


def _sweep_deviation(x: torch.Tensor, h: torch.Tensor, P_d: float, c: float) -> float:
    """Largest |x_aihwkit - x_memprop| over sweeps to the far bound from x0 = 0, 1/4, 1/2, 3/4.

    aihwkit's position after n pulses is taken from its pulse count n(x) = int dx / h(x)
    (trapezoids; the continuum limit of its steps, within O(1 / P) of them); memprop's is its
    exact closed form f_c(f_c^{-1}(x0) + n / P_d).
    """
    inv = 1.0 / h
    n = torch.cat([inv.new_zeros(1), torch.cumulative_trapezoid(inv, x)])
    c_t = torch.tensor(c, dtype=x.dtype)
    worst = 0.0
    for i0 in (0, len(x) // 4, len(x) // 2, 3 * len(x) // 4):
        s0 = exp_inverse(x[i0], c_t)
        xm = exp_curve((s0 + (n[i0:] - n[i0]) / P_d).clamp(0.0, 1.0), c_t)
        worst = max(worst, float((xm - x[i0:]).abs().max()))
    return worst


# ------------------------------------------------------------------------------- export
def to_aihwkit(device: AbstractDevice, *, w_max: float = 1.0) -> dict[str, Any]:
    """The aihwkit mapping ``{"class": ..., fields...}`` of a memprop device.

    The weight range is [-w_max, w_max] (memprop's ``reference`` encoding of a signed weight on
    one device). G_min, G_max and energy_per_pulse have no aihwkit field and are dropped: pass
    them back to :func:`from_aihwkit` to round-trip. Every field that shapes the pulse response
    is written, so ``aihwkit...SoftBoundsDevice(**fields)`` (without "class") rebuilds it.

    ConstantStepDevice, SoftBoundsDevice and PowerStepDevice export to the aihwkit class of the
    same model; ExpStepDevice exports to LinearStepDevice (the exact equivalent, see the module
    docstring), with gamma = tanh(c / 2) per direction.

    Raises:
        ConfigError: non-idealities aihwkit's device configs cannot hold (read noise, stuck-at
            faults, drift), or an unknown device type.
    """
    if isinstance(w_max, bool) or not isinstance(w_max, (int, float)) or not 0 < w_max < math.inf:
        raise ConfigError(f"w_max must be a finite number > 0, got {w_max!r}")
    if isinstance(device, IdealDevice):
        return {"class": "IdealDevice"}
    if not isinstance(device, AbstractPulsedDevice):
        raise ConfigError(f"device must be a memprop device, got {type(device).__name__}")
    nd = device.nonideal
    for key, why in (("read_noise", "aihwkit sets read noise on the tile's forward pass "
                                    "(rpu_config.forward), not on the device"),
                     ("stuck_fraction", "aihwkit's corrupt devices stick at a random weight, not "
                                        "at G_min or G_max"),
                     ("drift_nu", "aihwkit drifts the signed weight, not the conductance")):
        if getattr(nd, key) != 0:
            raise ConfigError(f"nonideal.{key}={getattr(nd, key)!r} has no aihwkit device "
                              f"counterpart ({why}); allowed for export: 0")
    R = 2.0 * w_max
    P, a = float(device.n_states - 1), device.asymmetry
    extra: dict[str, Any] = {}  # the class's own fields
    if isinstance(device, ConstantStepDevice):
        name = "ConstantStepDevice"
        s_up, s_down = R * (1.0 + a) / P, R * (1.0 - a) / P
    elif isinstance(device, SoftBoundsDevice):
        name = "SoftBoundsDevice"
        extra["mult_noise"] = False  # additive noise: closer to memprop's than multiplicative
        # alpha = 2 (1 +/- a) / P unclamped: aihwkit clips a step beyond the bound, as memprop does
        s_up, s_down = w_max * 2.0 * (1.0 + a) / P, w_max * 2.0 * (1.0 - a) / P
    elif isinstance(device, PowerStepDevice):
        name = "PowStepDevice"
        s_up = R * 2.0 ** device.gamma_up * (1.0 + a) / P
        s_down = R * 2.0 ** device.gamma_down * (1.0 - a) / P
        pow_gamma, pow_up_down = _split(device.gamma_up, device.gamma_down)
        extra.update(pow_gamma=pow_gamma, pow_up_down=pow_up_down, pow_gamma_dtod=nd.d2d,
                     pow_up_down_dtod=0.0)
    elif isinstance(device, ExpStepDevice):
        name = "LinearStepDevice"
        gammas, scales = [], []
        for P_d, c in ((P / (1.0 + a), float(nl_to_c(device.nl_up))),
                       (P / (1.0 - a), -float(nl_to_c(device.nl_down)))):
            alpha, beta = _curve_to_affine(P_d, c)
            step = alpha - 0.5 * beta  # the step at mid-range, w = 0: s / R
            scales.append(R * step)
            gammas.append(beta / (2.0 * step))  # = tanh(c / 2)
        s_up, s_down = scales
        extra.update(gamma_up=gammas[0], gamma_down=gammas[1],
                     gamma_up_dtod=nd.d2d * abs(gammas[0]), gamma_down_dtod=nd.d2d * abs(gammas[1]),
                     allow_increasing=min(gammas) < 0, mean_bound_reference=True, mult_noise=False)
    else:
        raise ConfigError(f"device {type(device).__name__} has no aihwkit mapping")
    dw_min, up_down = _split(s_up, s_down)
    d2d = nd.d2d  # every spread aihwkit has separately is memprop's one d2d
    return {"class": name, "dw_min": dw_min, "up_down": up_down, "w_min": -float(w_max),
            "w_max": float(w_max), "dw_min_std": nd.c2c * R / dw_min, "dw_min_dtod": d2d,
            "up_down_dtod": d2d, "w_min_dtod": d2d, "w_max_dtod": d2d, **extra}


# --------------------------------------------------------------------------------- files
def import_device(path: str | os.PathLike, **kwargs: Any) -> AbstractDevice:
    """Read an aihwkit-style mapping (with "class") from a .json or .toml file; see :func:`from_aihwkit`.

    Keyword arguments (``g_min``, ``g_max``, ...) go to :func:`from_aihwkit`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"aihwkit device file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from e
    elif suffix == ".toml":
        tomllib = _tomllib()
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from e
    else:
        raise ConfigError(f"aihwkit device file must end in .json or .toml, got {str(path)!r}")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an aihwkit device must be a table/object, got {type(data).__name__}")
    try:
        return from_aihwkit(data, **kwargs)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def export_device(device_or_name: AbstractDevice | str, **kwargs: Any) -> dict[str, Any]:
    """The aihwkit mapping of a device, a preset name, ``"ideal"`` or a device .toml path.

    Keyword arguments (``w_max``) go to :func:`to_aihwkit`.
    """
    from .presets import resolve_device

    return to_aihwkit(resolve_device(device_or_name), **kwargs)
