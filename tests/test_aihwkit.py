"""aihwkit interop: round trips, pulse trains against aihwkit's update equations, duck typing, errors.

The reference below is written from aihwkit's documentation (the docstrings of
``aihwkit.simulator.configs.devices``, version 1.1.0), one pulse at a time, noise off; aihwkit
itself is not needed. One point follows aihwkit's C++ source instead of its docstring: the
up/down bias ``up_down`` (and PowStep's ``pow_up_down``) is one-sided, s_+ = dw_min
(1 + min(b, 0)) and s_- = dw_min (1 - max(b, 0)), not dw_min (1 +/- b) (rpu_pulsed_device.cpp and
rpu_powstep_device.cpp, ``populate``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import types

import pytest
import torch

from memprop.devices import (
    PRESET_SOURCES,
    PRESETS,
    ConstantStepDevice,
    ExpStepDevice,
    IdealDevice,
    NonIdeal,
    PowerStepDevice,
    SoftBoundsDevice,
    a_of_nl,
    export_device,
    from_aihwkit,
    import_device,
    load_device,
    preset_table,
    preset_toml,
    to_aihwkit,
)
from memprop.devices.aihwkit import AIHWKIT_DEFAULTS
from memprop.errors import ConfigError

F64 = torch.float64
QUIET = {"dw_min_std": 0.0, "dw_min_dtod": 0.0}  # noise off for the pulse-train comparisons


# ------------------------------------------------------------------ aihwkit's equations
def one_sided(base: float, bias: float) -> tuple[float, float]:
    """aihwkit's (up, down) split of a base value by a bias (its source, not its docstring)."""
    return base * (1 + min(bias, 0.0)), base * (1 - max(bias, 0.0))


def aihwkit_pulse(cls: str, p: dict, w: float, d: int) -> float:
    """One pulse (d = +1 up, -1 down) of aihwkit's ``cls`` with fields ``p``, noise off."""
    lo, hi = p["w_min"], p["w_max"]
    s_up, s_down = one_sided(p["dw_min"], p["up_down"])
    if cls == "ConstantStepDevice":  # w <- clip(w + d dw^d)
        w = w + s_up if d > 0 else w - s_down
    elif cls in ("LinearStepDevice", "SoftBoundsDevice"):
        # w <- w + d dw^d (1 + gamma^d w), gamma^+ = -|gamma_up| / w_max, gamma^- = -|gamma_down| / w_min;
        # SoftBounds is the LinearStep with gamma_up = gamma_down = 1
        g_up, g_down = (1.0, 1.0) if cls == "SoftBoundsDevice" else (p["gamma_up"], p["gamma_down"])
        if not p.get("allow_increasing", False):
            g_up, g_down = abs(g_up), abs(g_down)
        w = w + s_up * (1 - g_up * w / hi) if d > 0 else w - s_down * (1 - g_down * w / lo)
    elif cls == "ExpStepDevice":
        # w <- w + d max(y, 0) dw^d, y = 1 - A^d exp(d gamma^d z), z = 2 a w / (w_max - w_min) + b
        z = 2 * p["a"] * w / (hi - lo) + p["b"]
        if d > 0:
            w = w + s_up * max(1 - p["A_up"] * math.exp(p["gamma_up"] * z), 0.0)
        else:
            w = w - s_down * max(1 - p["A_down"] * math.exp(-p["gamma_down"] * z), 0.0)
    elif cls == "PowStepDevice":
        # omega = (w_max - w) / (w_max - w_min): up dw^+ omega^gamma+, down dw^- (1 - omega)^gamma-
        g_up, g_down = one_sided(p["pow_gamma"], p["pow_up_down"])
        omega = (hi - w) / (hi - lo)
        w = w + s_up * omega ** g_up if d > 0 else w - s_down * (1 - omega) ** g_down
    else:
        raise AssertionError(cls)
    return min(max(w, lo), hi)


def trains(lo: float, hi: float, P: int, seed: int = 0) -> list[tuple[float, list[int]]]:
    """(start weight, pulse signs): up, down, alternating and mixed trains from five starts."""
    rng = random.Random(seed)
    out = []
    for w0 in (lo, lo + 0.25 * (hi - lo), 0.0, hi - 0.2 * (hi - lo), hi):
        out += [(w0, [1] * (2 * P)), (w0, [-1] * (2 * P)), (w0, [1, -1] * P), (w0, [1, 1, -1] * P),
                (w0, [rng.choice((1, -1)) for _ in range(2 * P)])]
    return out


def worst_train_error(mapping: dict, **kwargs) -> tuple:
    """The device from_aihwkit returns, and the largest distance (fraction of the range) between
    its pulse-by-pulse trains and aihwkit's, over :func:`trains`."""
    cls = mapping["class"]
    p = {**AIHWKIT_DEFAULTS[cls], **{k: v for k, v in mapping.items() if k != "class"}}
    dev = from_aihwkit(mapping, g_min=0.0, g_max=1.0, **kwargs)  # then g = u
    lo, hi = p["w_min"], p["w_max"]
    runs = trains(lo, hi, dev.n_states - 1)
    length = max(len(seq) for _, seq in runs)
    runs = [(w0, seq[:length] + [0] * (length - len(seq))) for w0, seq in runs]
    w = [w0 for w0, _ in runs]
    g = torch.tensor([(w0 - lo) / (hi - lo) for w0 in w], dtype=F64)
    worst = 0.0
    for k in range(length):
        signs = [seq[k] for _, seq in runs]
        w = [aihwkit_pulse(cls, p, wi, d) if d else wi for wi, d in zip(w, signs)]
        g = dev.update(g, torch.tensor(signs, dtype=F64))
        ref = torch.tensor([(wi - lo) / (hi - lo) for wi in w], dtype=F64)
        worst = max(worst, float((g - ref).abs().max()))
    return dev, worst


# ------------------------------------------------------------------- pulse trains
EXACT = 1e-9  # float64 rounding over a few hundred pulses, as a fraction of the range


@pytest.mark.parametrize("fields", [
    {"dw_min": 0.02},                                        # P = 1.2 / 0.02 = 60
    {"dw_min": 0.025, "up_down": 0.4},                       # steps 0.025 / 0.015: P = 60, a = 0.25
    {"dw_min": 0.025, "up_down": 0.4, "w_min": -0.3, "w_max": 0.9},
])
def test_constant_step_trains_are_exact(fields):
    dev, err = worst_train_error({"class": "ConstantStepDevice", **QUIET, **fields})
    assert isinstance(dev, ConstantStepDevice) and dev.n_states == 61
    assert err < EXACT


@pytest.mark.parametrize("cls, fields, states", [
    ("SoftBoundsDevice", {"dw_min": 0.02, "up_down": 0.5}, 81),  # alpha 1/30, 1/60: P = 80
    ("SoftBoundsDevice", {"dw_min": 0.02, "w_min": -0.25, "w_max": 1.0}, 41),  # alpha .02, .08
    ("LinearStepDevice", {"dw_min": 0.02, "up_down": 0.5, "gamma_up": 1.0, "gamma_down": -1.0}, 81),
])
def test_soft_bounds_trains_are_exact(cls, fields, states):
    dev, err = worst_train_error({"class": cls, **QUIET, **fields})
    assert isinstance(dev, SoftBoundsDevice) and dev.n_states == states
    assert err < EXACT


@pytest.mark.parametrize("device", [
    ExpStepDevice(n_states=41, nl_up=2.4, nl_down=-4.88, asymmetry=0.1),
    ExpStepDevice(n_states=33, nl_up=-3.0, nl_down=1.5, asymmetry=-0.2),
    ExpStepDevice(n_states=50, nl_up=0.0, nl_down=0.0),
    PRESETS["alox-hfo2"], PRESETS["hzo-fefet"],
], ids=["ag-like", "increasing", "linear", "alox-hfo2", "hzo-fefet"])
def test_exponential_devices_are_aihwkit_linear_step_exactly(device):
    # NeuroSim's exponential curve is LinearStep's affine step: the trains agree to rounding
    mapping = to_aihwkit(dataclasses.replace(device, nonideal=NonIdeal()))
    assert mapping["class"] == "LinearStepDevice"
    dev, err = worst_train_error(mapping)
    assert dev.n_states == device.n_states
    assert err < EXACT


def test_linear_step_with_unrounded_states():
    # Asymmetric bounds and gammas: P is not an integer and is rounded; each step then changes
    # by a factor within 1 +/- 1 / (2 P), so trains of up to 2 P pulses differ by < 1 / P.
    dev, err = worst_train_error({"class": "LinearStepDevice", **QUIET, "dw_min": 0.02,
                                  "up_down": -0.2, "w_min": -0.5, "w_max": 1.0,
                                  "gamma_up": 0.3, "gamma_down": 0.6})
    assert isinstance(dev, ExpStepDevice) and dev.nl_up > 0 > dev.nl_down
    assert err < 1.0 / (dev.n_states - 1)


@pytest.mark.parametrize("gamma, bound", [(0.0, EXACT), (0.5, 0.35), (1.0, 0.45), (2.0, 0.9)])
def test_power_step_trains_are_near(gamma, bound):
    # memprop's power step is the flow of aihwkit's discrete step: the same first pulse, trains
    # apart by about K(gamma) / P of the range (measured here K = 0.26, 0.37, 0.77 for gamma 0.5,
    # 1, 2; gamma = 0 is the constant step, exact). dw_min = 0.02 2^gamma gives P = 60.
    dev, err = worst_train_error({"class": "PowStepDevice", **QUIET, "pow_gamma": gamma,
                                  "dw_min": 0.02 * 2.0 ** gamma})
    assert isinstance(dev, PowerStepDevice) and dev.n_states == 61
    assert err < (bound / 60 if gamma else EXACT)


def test_power_step_with_up_down_biases():
    # gamma_+ = 1.5 (1 - 0) and gamma_- = 1.5 (1 - 0.4) (one-sided); P = 61.3 rounds to 61:
    # the flow's K(gamma) / P plus the rounding's 1 / (2 P) at most (measured 0.37 / P)
    dev, err = worst_train_error({"class": "PowStepDevice", **QUIET, "pow_gamma": 1.5,
                                  "pow_up_down": 0.4, "dw_min": 0.05, "up_down": -0.3})
    assert (dev.n_states, dev.gamma_up, dev.gamma_down) == (62, 1.5, pytest.approx(0.9, rel=1e-12))
    assert err < 1.2 / (dev.n_states - 1)


@pytest.mark.parametrize("fields, bound", [
    ({}, 0.045),                                             # aihwkit's defaults
    ({"A_up": 0.05, "A_down": 0.05, "gamma_up": 4.0, "gamma_down": 4.0, "a": 0.5, "b": 0.0}, 0.03),
])
def test_exp_step_is_the_nearest_exponential(fields, bound):
    # aihwkit's ExpStep has no exact memprop model: the fitted exponential device follows its
    # trains to within a few % of the range. Measured here (dw_min 0.02, P = 64 and 66): 0.041
    # and 0.027, nearly all from the alternating and random trains (up or down sweeps alone:
    # 0.019 and 0.020 for the defaults); with dw_min 0.005 (P = 256) 0.040 and 0.025, so the
    # gap is the model's, not the discreteness's.
    dev, err = worst_train_error({"class": "ExpStepDevice", **QUIET, "dw_min": 0.02, **fields})
    assert isinstance(dev, ExpStepDevice)
    assert err < bound


# ----------------------------------------------------------------------- round trips
ROUND_TRIP = [
    ConstantStepDevice(n_states=16, asymmetry=0.2),
    ConstantStepDevice(n_states=2, asymmetry=-0.5, nonideal=NonIdeal(c2c=0.01, d2d=0.2)),
    SoftBoundsDevice(n_states=16, asymmetry=-0.3),
    SoftBoundsDevice(n_states=2, nonideal=NonIdeal(c2c=0.02)),
    ExpStepDevice(n_states=32, nl_up=2.4, nl_down=-4.88, asymmetry=0.1),
    ExpStepDevice(n_states=32, nl_up=-3.0, nl_down=1.5),
    ExpStepDevice(n_states=200, nl_up=8.0, nl_down=-8.0, nonideal=NonIdeal(d2d=0.3)),
    PowerStepDevice(n_states=24, gamma_up=0.5, gamma_down=2.0, asymmetry=0.1),
    PowerStepDevice(n_states=24, gamma_up=3.0, gamma_down=0.0, asymmetry=-0.4),
    PowerStepDevice(n_states=24, gamma_up=0.0, gamma_down=0.0),
    *PRESETS.values(),
]


def assert_same_device(a, b):
    """Equal class and integers; floats within 1e-9 (relative, absolute near 0).

    Float64 rounding through logarithms and exponentials, and LinearStep's parameterisation:
    gamma = tanh(c / 2) leaves 1 - gamma ~ e^-c, so c comes back within ~1e-16 e^c (1e-9 of c
    up to NL 8, c = 19; the labels also go through c_to_nl's bisection, exact to 2^-60 of [0, 9]).
    """
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, NonIdeal):
            assert_same_device(x, y)
        elif isinstance(x, float):
            assert y == pytest.approx(x, rel=1e-9, abs=1e-12), f.name
        else:
            assert x == y, f.name


@pytest.mark.parametrize("device", ROUND_TRIP, ids=[f"{d.MODEL}-{i}" for i, d in enumerate(ROUND_TRIP)])
def test_memprop_aihwkit_memprop_round_trip(device):
    mapping = to_aihwkit(device, w_max=0.6)
    assert set(mapping) - {"class"} <= set(AIHWKIT_DEFAULTS[mapping["class"]])
    assert mapping["w_min"] == -0.6 and mapping["w_max"] == 0.6
    back = from_aihwkit(mapping, g_min=device.g_min, g_max=device.g_max,
                        energy_per_pulse=device.energy_per_pulse)
    assert_same_device(device, back)
    json.dumps(mapping)  # plain JSON values
    assert from_aihwkit(to_aihwkit(IdealDevice())) == IdealDevice()


@pytest.mark.parametrize("nl, tol", [(8.0, 1e-10), (8.5, 1e-6), (8.8, 2e-3)])
def test_round_trip_precision_of_steep_labels(nl, tol):
    # gamma = tanh(c / 2): 1 - gamma ~ e^-c, so c comes back within ~1e-16 e^c (measured relative
    # errors of the labels: 1.7e-11, 3.9e-7, 9.3e-4)
    back = from_aihwkit(to_aihwkit(ExpStepDevice(n_states=200, nl_up=nl, nl_down=-nl)))
    assert back.nl_up == pytest.approx(nl, rel=tol) and back.nl_down == pytest.approx(-nl, rel=tol)


def test_extreme_exponential_labels_export_as_soft_bounds():
    # |NL| near 9 (c = 43.8): gamma = tanh(c / 2) is 1.0 in float64 (and in aihwkit), i.e. soft
    # bounds; the device is one up to 1 - u* ~ e^-c, and to the rounding of P (10.1 -> 10)
    dev = ExpStepDevice(n_states=200, nl_up=9.0, nl_down=-9.0)
    mapping = to_aihwkit(dev)
    assert (mapping["gamma_up"], mapping["gamma_down"]) == (1.0, 1.0)
    soft, err = worst_train_error(mapping)
    assert isinstance(soft, SoftBoundsDevice) and soft.n_states == 11 and err < 0.5 / 10
    u = torch.linspace(0, 1, 11, dtype=F64)
    k = 1 - math.exp(-float(1 / a_of_nl(9.0)) / 199)  # ExpStep's fraction per pulse
    assert k == pytest.approx(0.2, rel=0.02)  # vs SoftBounds' 2 / 10
    quiet = dataclasses.replace(soft, g_min=0.0, g_max=1.0)
    torch.testing.assert_close(dataclasses.replace(dev, g_min=0.0, g_max=1.0).update(u, torch.ones_like(u)),
                               quiet.update(u, torch.ones_like(u)), atol=0.02 * 0.2, rtol=0)


@pytest.mark.parametrize("mapping", [
    {"class": "ConstantStepDevice", "dw_min": 0.025, "up_down": 0.4},
    {"class": "SoftBoundsDevice", "dw_min": 0.02, "up_down": -0.5},
    {"class": "PowStepDevice", "dw_min": 0.04, "pow_gamma": 1.0, "pow_up_down": -0.25, "up_down": 0.1},
    {"class": "LinearStepDevice", "dw_min": 0.02, "gamma_up": 0.25, "gamma_down": -0.5,
     "allow_increasing": True, "up_down": -0.2},
])
def test_aihwkit_memprop_aihwkit_round_trip(mapping):
    # What the device model holds comes back: the bounds, the up/down bias and the shape exactly
    # (1e-9), dw_min up to the rounding of P to an integer (a factor within 1 +/- 1 / (2 P)),
    # and so LinearStep's up_down (its steps are not proportional to 1 / P: measured 1e-5),
    # the noise as the product dw_min_std dw_min (c2c), and every spread as d2d = dw_min_dtod
    # (aihwkit's defaults have up_down_dtod 0.01, which comes back as 0.3).
    dev = from_aihwkit(mapping)
    back = to_aihwkit(dev, w_max=0.6)
    full = {**AIHWKIT_DEFAULTS[mapping["class"]], **mapping}
    assert back["class"] == mapping["class"]
    assert back["dw_min"] == pytest.approx(full["dw_min"], rel=0.5 / (dev.n_states - 1))
    assert back["dw_min"] * back["dw_min_std"] == pytest.approx(full["dw_min"] * full["dw_min_std"], rel=1e-12)
    curved = mapping["class"] == "LinearStepDevice"
    for key in ("up_down", "w_min", "w_max", "dw_min_dtod", "gamma_up", "gamma_down",
                "pow_gamma", "pow_up_down", "allow_increasing"):
        if key in back:
            tol = 0.5 / (dev.n_states - 1) if curved and key == "up_down" else 1e-12
            assert back[key] == pytest.approx(full[key], rel=1e-9, abs=tol), key
    assert back["up_down_dtod"] == back["w_min_dtod"] == back["w_max_dtod"] == full["dw_min_dtod"]


def test_defaults_and_noise_mapping():
    # aihwkit's defaults: w in [-0.6, 0.6], dw_min 0.001 -> 1200 pulses, 1201 states;
    # c2c = dw_min_std dw_min / (w_max - w_min) = 0.3 * 0.001 / 1.2; d2d = dw_min_dtod
    dev = from_aihwkit({"class": "SoftBoundsDevice"})
    assert dev == SoftBoundsDevice(n_states=1201, nonideal=NonIdeal(c2c=0.3 * 0.001 / 1.2, d2d=0.3))
    assert from_aihwkit({"class": "ConstantStepDevice"}).n_states == 1201
    # PowStep's dw_min is the step at the far bound: the mid-range step is dw_min / 2^gamma
    assert from_aihwkit({"class": "PowStepDevice"}).n_states == 2401
    # LinearStep's defaults (gamma 0) are the linear exponential device
    lin = from_aihwkit({"class": "LinearStepDevice"})
    assert (type(lin), lin.nl_up, lin.nl_down, lin.n_states) == (ExpStepDevice, 0.0, 0.0, 1201)
    kw = from_aihwkit({"class": "ConstantStepDevice"}, g_min=2e-6, g_max=4e-5, energy_per_pulse=3e-13)
    assert (kw.g_min, kw.g_max, kw.energy_per_pulse) == (2e-6, 4e-5, 3e-13)
    # exponential devices export to LinearStep with gamma = tanh(c / 2) (symmetric bounds)
    dev = PRESETS["epiram"]
    c = 1.0 / a_of_nl(dev.nl_up)
    assert to_aihwkit(dev)["gamma_up"] == pytest.approx(math.tanh(c / 2), rel=1e-12)


# ------------------------------------------------------------------------ duck typing
class SoftBoundsDevice_:  # noqa: N801 - renamed below: aihwkit's class name, not memprop's
    def __init__(self, **kw):
        self.w_min, self.w_max, self.dw_min, self.up_down = -0.25, 1.0, 0.02, 0.0
        self.dw_min_std, self.dw_min_dtod = 0.0, 0.0
        for k, v in kw.items():
            setattr(self, k, v)


SoftBoundsDevice_.__name__ = "SoftBoundsDevice"


def test_duck_typed_objects():
    obj = SoftBoundsDevice_()
    assert from_aihwkit(obj) == from_aihwkit({"class": "SoftBoundsDevice", **vars(obj)})
    assert from_aihwkit(obj).n_states == 41

    @dataclasses.dataclass
    class PowStepDevice:  # a dataclass stand-in: all its fields are read; drift is an object
        dw_min: float = 0.01
        pow_gamma: float = 0.5
        dw_min_std: float = 0.0
        drift: object = dataclasses.field(default_factory=lambda: types.SimpleNamespace(nu=0.0))

    assert from_aihwkit(PowStepDevice()).gamma_up == 0.5
    with pytest.raises(ConfigError, match=r"PowStepDevice.drift.nu=0.1 is not supported"):
        from_aihwkit(PowStepDevice(drift=types.SimpleNamespace(nu=0.1)))

    @dataclasses.dataclass
    class ConstantStepDevice:
        dw_min: float = 0.01
        dw_step_size: float = 0.1

    with pytest.raises(ConfigError, match="unknown field.*'dw_step_size'"):
        from_aihwkit(ConstantStepDevice())

    class PiecewiseStepDevice:
        dw_min = 0.01

    with pytest.raises(ConfigError, match="PiecewiseStepDevice.*supported: .*ConstantStepDevice.*PowStepDevice"):
        from_aihwkit(PiecewiseStepDevice())


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("mapping, match", [
    ({"class": "SoftBoundsDevice", "dw_minn": 0.1}, r"unknown field\(s\) 'dw_minn'.*valid fields: .*dw_min,"),
    ({"class": "PiecewiseStepDevice"}, "'PiecewiseStepDevice' is not supported; supported: ConstantStepDevice, LinearStep"),
    ({"dw_min": 0.01}, "needs a 'class' key"),
    ({"class": "ConstantStepDevice", "w_min": 0.1}, r"\[w_min, w_max\] = \[0.1, 0.6\] must contain 0"),
    ({"class": "ConstantStepDevice", "dw_min": 0.0}, "dw_min must be > 0, got 0.0"),
    ({"class": "ConstantStepDevice", "dw_min": "big"}, "dw_min must be a finite number, got 'big'"),
    ({"class": "ConstantStepDevice", "dw_min": 5.0}, "dw_min gives 0.24 pulses across"),
    ({"class": "ConstantStepDevice", "up_down": 1.0}, r"up_down must lie in \(-1, 1\).*got 1.0"),
    ({"class": "ConstantStepDevice", "corrupt_devices_prob": 0.1}, "corrupt_devices_prob=0.1 is not supported"),
    ({"class": "ConstantStepDevice", "diffusion": 0.01}, "diffusion=0.01 is not supported"),
    ({"class": "ConstantStepDevice", "drift": {"nu": 0.05}}, r"drift.nu=0.05 is not supported"),
    ({"class": "ConstantStepDevice", "perfect_bias": 1}, "perfect_bias must be true or false"),
    ({"class": "SoftBoundsDevice", "write_noise_std": 0.1}, "write_noise_std=0.1 is not supported"),
    ({"class": "SoftBoundsDevice", "reverse_up": True, "mult_noise": False}, "reverse_up=True needs mult_noise=True"),
    ({"class": "LinearStepDevice", "gamma_up": 1.5}, "gamma_up=1.5.*up step: the step vanishes or reverses"),
    ({"class": "LinearStepDevice", "gamma_up": 1.0}, "gamma_up=1.0.*up step: the step vanishes"),
    ({"class": "PowStepDevice", "pow_gamma": 12.0}, r"pow_gamma=12.0 .*gamma_up=12.0; memprop allows \[0, 10"),
    ({"class": "ExpStepDevice", "A_up": 2.0}, "A_up=2.0, gamma_up=12.44625.*up step vanish at w="),
    ({"class": "ExpStepDevice", "dw_min_std_add": 0.1}, "dw_min_std_add=0.1 is not supported"),
    ({"class": "IdealDevice", "lifetime": 10.0}, "IdealDevice.lifetime=10.0 is not supported"),
])
def test_import_errors_name_the_field(mapping, match):
    with pytest.raises(ConfigError, match=match):
        from_aihwkit(mapping)


def test_exp_step_deviation_guard():
    with pytest.raises(ConfigError, match=r"strays 0.0\d+ of the range.*max_deviation=0.001"):
        from_aihwkit({"class": "ExpStepDevice"}, max_deviation=0.001)
    with pytest.raises(ConfigError, match="already a memprop device"):
        from_aihwkit(SoftBoundsDevice())
    with pytest.raises(ConfigError, match="max_deviation must be a finite number > 0, got 0"):
        from_aihwkit({"class": "ExpStepDevice"}, max_deviation=0)


@pytest.mark.parametrize("nonideal, match", [
    (NonIdeal(read_noise=0.01), "nonideal.read_noise=0.01 has no aihwkit device counterpart"),
    (NonIdeal(stuck_fraction=0.1), "nonideal.stuck_fraction=0.1"),
    (NonIdeal(drift_nu=0.05), "nonideal.drift_nu=0.05"),
])
def test_export_errors(nonideal, match):
    with pytest.raises(ConfigError, match=match):
        to_aihwkit(SoftBoundsDevice(nonideal=nonideal))
    with pytest.raises(ConfigError, match="w_max must be a finite number > 0, got 0"):
        to_aihwkit(SoftBoundsDevice(), w_max=0)


# ------------------------------------------------------------------ presets and files
def test_presets_have_sources_and_a_table():
    assert set(PRESET_SOURCES) == set(PRESETS)
    rows = preset_table()
    assert [r["name"] for r in rows] == list(PRESETS)
    for row in rows:
        dev = PRESETS[row["name"]]
        assert row["source"] == PRESET_SOURCES[row["name"]] and "NeuroSim V3.0" in row["source"]
        assert (row["model"], row["n_states"], row["g_min"], row["g_max"], row["nl_up"],
                row["nl_down"], row["c2c"]) == (dev.MODEL, dev.n_states, dev.g_min, dev.g_max,
                                                dev.nl_up, dev.nl_down, dev.nonideal.c2c)
    json.dumps(rows)
    assert "Jo et al., Nano Letters 10(4)" in PRESET_SOURCES["ag-a-si"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_toml_reads_back(name, tmp_path):
    text = preset_toml(name.upper())
    assert PRESET_SOURCES[name] in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    assert load_device(path) == PRESETS[name]


def test_preset_toml_unknown_name():
    with pytest.raises(ConfigError, match="preset must be one of 'ag-a-si'.*got 'nope'"):
        preset_toml("nope")


def test_import_and_export_files(tmp_path):
    mapping = export_device("taox-hfox")
    assert mapping == to_aihwkit(PRESETS["taox-hfox"]) and export_device("ideal") == {"class": "IdealDevice"}
    (tmp_path / "d.json").write_text(json.dumps(mapping))
    dev = PRESETS["taox-hfox"]
    back = import_device(tmp_path / "d.json", g_min=dev.g_min, g_max=dev.g_max,
                         energy_per_pulse=dev.energy_per_pulse)
    assert_same_device(dev, back)
    (tmp_path / "s.toml").write_text('class = "SoftBoundsDevice"\ndw_min = 0.02\nup_down = 0.5\n'
                                     'dw_min_std = 0.0\ndw_min_dtod = 0.0\n')
    soft = import_device(tmp_path / "s.toml")
    assert soft == SoftBoundsDevice(n_states=81, asymmetry=soft.asymmetry)
    assert soft.asymmetry == pytest.approx(1 / 3, rel=1e-12)
    (tmp_path / "bad.toml").write_text('class = "SoftBoundsDevice"\ngamma = 1.0\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown field\(s\) 'gamma'"):
        import_device(tmp_path / "bad.toml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        import_device(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="must be a table/object, got list"):
        import_device(tmp_path / "list.json")
    (tmp_path / "d.yaml").write_text("class: SoftBoundsDevice\n")
    with pytest.raises(ConfigError, match=r"must end in \.json or \.toml"):
        import_device(tmp_path / "d.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        import_device(tmp_path / "missing.json")


def test_a_device_in_aihwkit_terms_trains_in_situ(tmp_path, capsys):
    """``memprop device import X.json --out x.toml`` then ``memprop train classify --device x.toml``."""
    from memprop.cli import main

    (tmp_path / "x.json").write_text(json.dumps({"class": "SoftBoundsDevice", "dw_min": 0.02, "up_down": 0.1,
                                                 "w_max": 1.0, "w_min": -1.0}))
    assert main(["device", "import", str(tmp_path / "x.json"), "--out", str(tmp_path / "x.toml")]) == 0
    assert main(["train", "classify", "--device", str(tmp_path / "x.toml"), "--hidden", "8", "--classes", "0-1",
                 "--per-class", "10", "--epochs", "1", "--eval-steps", "5", "--no-backprop", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    result = json.loads((tmp_path / "run" / "classify.json").read_text())
    assert result["device"]["model"]["model"] == "soft-bounds" and result["device"]["pulses"] > 0
    assert result["provenance"]["command"].startswith("memprop train classify --device")
