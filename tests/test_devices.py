"""Device models: bounds, zero pulses, closed forms, noise statistics, presets, TOML files."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from memprop.devices import (
    PRESETS,
    ConstantStepDevice,
    ExpStepDevice,
    IdealDevice,
    NonIdeal,
    PowerStepDevice,
    SoftBoundsDevice,
    a_of_nl,
    c_to_nl,
    device_to_toml,
    load_device,
    resolve_device,
    save_device,
)
from memprop.errors import ConfigError

F64 = torch.float64

# Every pulsed model, with asymmetry and with the shape parameters away from their defaults.
ALL_DEVICES = [
    ConstantStepDevice(n_states=16, asymmetry=0.2),
    SoftBoundsDevice(n_states=16, asymmetry=-0.3),
    ExpStepDevice(n_states=32, nl_up=2.4, nl_down=-4.88, asymmetry=0.1),
    ExpStepDevice(n_states=32, nl_up=-3.0, nl_down=1.5),
    PowerStepDevice(n_states=24, gamma_up=0.5, gamma_down=2.0, asymmetry=0.1),
    *PRESETS.values(),
]
IDS = [f"{d.MODEL}-{i}" for i, d in enumerate(ALL_DEVICES)]


def quiet(device):
    """The device without non-idealities (for the closed-form checks)."""
    return dataclasses.replace(device, nonideal=NonIdeal())


def noisy(device, **kw):
    return dataclasses.replace(device, nonideal=NonIdeal(**{"c2c": 0.2, "d2d": 0.3, **kw}))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_state(device, n=4000, seed=0):
    g = gen(seed)
    u = torch.rand(n, generator=g, dtype=F64)
    pulses = torch.randint(-3 * device.n_states, 3 * device.n_states + 1, (n,), generator=g).to(F64)
    return device.g_min + (device.g_max - device.g_min) * u, pulses


@pytest.mark.parametrize("device", ALL_DEVICES, ids=IDS)
def test_never_leaves_its_bounds(device):
    g, n = random_state(device)
    for dev in (quiet(device), noisy(device)):
        params = dev.sample_params(tuple(g.shape), generator=gen(1))
        lo = device.g_min if params is None else params["g_min"]
        hi = device.g_max if params is None else params["g_max"]
        out = dev.update(g, n, generator=gen(2), params=params)
        moved = n != 0  # unmoved devices keep their state exactly, even outside their own range
        assert bool(((out >= lo) & (out <= hi))[moved].all())
        # a long train in either direction ends at (or inside) the bound
        top = dev.update(g, torch.full_like(g, 10.0 * device.n_states), generator=gen(3), params=params)
        assert bool((top <= hi).all())


@pytest.mark.parametrize("device", ALL_DEVICES + [IdealDevice()], ids=IDS + ["ideal"])
def test_zero_pulses_change_nothing(device):
    g, _ = random_state(device) if not isinstance(device, IdealDevice) else (torch.rand(100, dtype=F64), None)
    dev = device if isinstance(device, IdealDevice) else noisy(device)
    params = None if isinstance(device, IdealDevice) else dev.sample_params(tuple(g.shape), generator=gen())
    assert torch.equal(dev.update(g, torch.zeros_like(g), generator=gen(), params=params), g)


@pytest.mark.parametrize("device", ALL_DEVICES, ids=IDS)
def test_monotone_response_and_exact_composition(device):
    dev = quiet(device)
    g, _ = random_state(device, n=500)
    for sign in (1.0, -1.0):
        a = dev.update(g, torch.full_like(g, sign * 3))
        b = dev.update(a, torch.full_like(g, sign * 4))
        assert bool((sign * (a - g) >= 0).all())
        # a pulse train is a flow: 3 pulses then 4 pulses = 7 pulses (closed form, no loop)
        torch.testing.assert_close(b, dev.update(g, torch.full_like(g, sign * 7)), rtol=0, atol=1e-12 * dev.g_max)


def test_exponential_pulse_train_follows_the_ltp_and_ltd_curves():
    # docs/devices.md, "Exponential (NeuroSim)": G_LTP(P) = B (1 - exp(-P/A)) + G_min,
    # G_LTD = G_max - B (1 - exp(-k/A)) after k depressing pulses from G_max; A = a(NL) P_max,
    # B = (G_max - G_min) / (1 - exp(-P_max / A)).
    dev = quiet(PRESETS["ag-a-si"])
    P = dev.n_states - 1
    for direction, nl, pulses_full, start in ((1, 2.4, P / (1 + dev.asymmetry), dev.g_min),
                                              (-1, -4.88, P / (1 - dev.asymmetry), dev.g_max)):
        A = a_of_nl(abs(nl)) * pulses_full
        B = (dev.g_max - dev.g_min) / (1 - math.exp(-pulses_full / A))
        g = torch.tensor([start], dtype=F64)
        for k in range(1, 60):  # one pulse at a time: each moves one step along the curve
            g = dev.update(g, torch.tensor([float(direction)], dtype=F64))
            expected = start + direction * B * (1 - math.exp(-k / A))
            assert float(g) == pytest.approx(expected, rel=1e-9)


def test_neurosim_nonlinearity_table():
    # Values of NeuroSim V3.0's getParamA table; the interpolation is within 0.1 % of it.
    for nl, a in ((0.01, 126.268958), (0.04, 31.566827), (0.63, 1.997332), (1.0, 1.251653),
                  (2.4, 0.499181), (4.88, 0.200303), (9.0, 0.022810)):
        assert a_of_nl(nl) == pytest.approx(a, rel=1e-3)
        assert c_to_nl(1 / a) == pytest.approx(nl, rel=1e-3)
    assert a_of_nl(0.0) == math.inf and c_to_nl(0.0) == 0.0
    assert a_of_nl(-2.4) == pytest.approx(-0.499181, rel=1e-3)


def test_constant_soft_and_power_closed_forms():
    k = torch.arange(0, 30, dtype=F64)
    dev = ConstantStepDevice(n_states=21, asymmetry=0.25)
    dg = dev.dg
    up = dev.update(torch.full_like(k, dev.g_min), k)
    torch.testing.assert_close(up, (dev.g_min + k * dg * 1.25).clamp(max=dev.g_max))
    soft = SoftBoundsDevice(n_states=21, asymmetry=0.0)
    alpha = 2 / 20
    up = soft.update(torch.full_like(k, soft.g_min), k)
    torch.testing.assert_close(up, soft.g_min + (soft.g_max - soft.g_min) * (1 - (1 - alpha) ** k))
    # gamma = 0 is the constant step; gamma = 1 the continuous soft bound exp(-delta n)
    p0 = PowerStepDevice(n_states=21, gamma_up=0.0, gamma_down=0.0, asymmetry=0.25)
    torch.testing.assert_close(p0.update(torch.full_like(k, p0.g_min), k),
                               dev.update(torch.full_like(k, dev.g_min), k))
    p1 = PowerStepDevice(n_states=21, gamma_up=1.0, gamma_down=1.0)
    delta = 2.0 / 20
    torch.testing.assert_close(p1.update(torch.full_like(k, p1.g_max), -k),
                               p1.g_min + (p1.g_max - p1.g_min) * torch.exp(-delta * k))


def test_ideal_device_is_exact():
    g = torch.randn(50, dtype=F64)
    dg = torch.randn(50, dtype=F64)
    assert torch.equal(IdealDevice().update(g, dg), g + dg)
    assert IdealDevice().read(g) is g


def test_cycle_to_cycle_statistics():
    # Mid-range devices with many states: no clipping, so the write noise is exactly
    # N(0, c2c (G_max - G_min) sqrt(n)). With N = 40000 draws the standard error of the sample
    # std is 1/sqrt(2N) = 0.35 % and of the mean 0.5 %: 3 % and 3 % are > 5 standard errors.
    c2c, n_pulses, N = 0.01, 4.0, 40000
    dev = ConstantStepDevice(n_states=1001, nonideal=NonIdeal(c2c=c2c))
    g = torch.full((N,), 0.5 * (dev.g_min + dev.g_max), dtype=F64)
    n = torch.full_like(g, n_pulses)
    z = (dev.update(g, n, generator=gen(7)) - quiet(dev).update(g, n)) / (c2c * (dev.g_max - dev.g_min) * 2.0)
    assert float(z.std()) == pytest.approx(1.0, abs=0.03)
    assert abs(float(z.mean())) < 0.03
    # seeded: the same generator seed gives the same noise
    assert torch.equal(dev.update(g, n, generator=gen(7)), dev.update(g, n, generator=gen(7)))


def test_device_to_device_statistics():
    # Per-device draws p_i = p (1 + s xi): with N = 40000 the standard error of a relative std
    # of 0.1 is 0.1 / sqrt(2N) = 0.00035; 0.005 is > 10 standard errors (clipping at s = 0.1
    # is a > 9-sigma event for P and the range).
    s, N = 0.1, 40000
    dev = ExpStepDevice(n_states=101, nl_up=2.0, nl_down=-3.0, asymmetry=0.1, nonideal=NonIdeal(d2d=s))
    p = dev.sample_params((N,), generator=gen(3))
    for key, nominal in (("P", 100.0), ("nl_up", 2.0), ("nl_down", -3.0)):
        rel = p[key] / nominal - 1
        assert float(rel.std()) == pytest.approx(s, abs=0.005), key
        assert abs(float(rel.mean())) < 0.005, key
    span = (p["g_max"] - p["g_min"]) / (dev.g_max - dev.g_min) - 1
    assert float(span.std()) == pytest.approx(s, abs=0.005)
    assert float(p["asymmetry"].std()) == pytest.approx(s, abs=0.005)  # additive spread
    assert float(p["asymmetry"].mean()) == pytest.approx(0.1, abs=0.005)
    assert bool((p["g_max"] > p["g_min"]).all())
    again = dev.sample_params((N,), generator=gen(3))
    assert all(torch.equal(p[k], again[k]) for k in p)
    assert quiet(dev).sample_params((N,), generator=gen(3)) is None  # off by default


def test_read_noise_stuck_faults_and_drift():
    N = 40000
    dev = ConstantStepDevice(nonideal=NonIdeal(read_noise=0.05, stuck_fraction=0.2, stuck_high=0.25,
                                               drift_nu=0.1, drift_t0=2.0))
    g = torch.full((N,), 5e-6, dtype=F64)
    rel = dev.read(g, generator=gen(1)) / g - 1
    # standard error of the std: 0.05 / sqrt(2N) = 1.8e-4; tolerance 0.002 is > 10 SE
    assert float(rel.std()) == pytest.approx(0.05, abs=0.002)
    stuck, high = dev.sample_stuck((N,), generator=gen(2))
    # binomial standard errors: sqrt(0.2 * 0.8 / N) = 0.002; sqrt(0.25 * 0.75 / 8000) = 0.005
    assert float(stuck.double().mean()) == pytest.approx(0.2, abs=0.01)
    assert float(high[stuck].double().mean()) == pytest.approx(0.25, abs=0.025)
    t = torch.tensor([0.0, 1.0, 2.0, 20.0, 200.0], dtype=F64)
    torch.testing.assert_close(dev.drift(torch.ones(5, dtype=F64), t),
                               torch.tensor([1.0, 1.0, 1.0, 10.0 ** -0.1, 100.0 ** -0.1], dtype=F64))
    assert quiet(dev).sample_stuck((N,), generator=gen(2)) is None


def test_presets_reproduce_the_published_table():
    # docs/devices.md, "Presets" (NeuroSim V3.0 Table II): states, nonlinearity, R_on, on/off, cycle-to-cycle.
    table = {
        "ag-a-si": (99, 2.4, -4.88, 26e6, 12.5, 0.035),
        "taox-hfox": (128, 0.04, -0.63, 100e3, 10.0, 0.037),
        "pcmo": (50, 3.68, -6.76, 23e6, 6.84, 0.01),
        "alox-hfo2": (40, 1.94, -0.61, 16.9e3, 4.43, 0.05),
        "gst-pcm": (110, 0.105, 2.4, 4.71e3, 19.8, 0.015),
        "epiram": (64, 0.5, -0.5, 81e3, 50.2, 0.02),
        "hzo-fefet": (32, 1.75, 1.46, 559e3, 45.0, 0.005),
    }
    assert set(PRESETS) == set(table)
    for name, (states, up, down, r_on, on_off, c2c) in table.items():
        dev = PRESETS[name]
        assert name == name.lower() and PRESETS[name].__doc__ is not None
        assert (dev.n_states, dev.nl_up, dev.nl_down, dev.nonideal.c2c) == (states, up, down, c2c)
        assert 1 / dev.g_max == pytest.approx(r_on) and dev.g_max / dev.g_min == pytest.approx(on_off)
    # Ag:a-Si: 97 / 100 levels, i.e. about 96 / 99 pulses across the range (within one pulse)
    ag = PRESETS["ag-a-si"]
    assert abs(98 / (1 + ag.asymmetry) - 96) < 1 and abs(98 / (1 - ag.asymmetry) - 99) < 1


def test_resolve_device(tmp_path):
    assert isinstance(resolve_device("ideal"), IdealDevice)
    assert resolve_device("Ag-a-Si") is PRESETS["ag-a-si"]
    path = save_device(PRESETS["epiram"], tmp_path / "epi.toml")
    assert resolve_device(str(path)) == PRESETS["epiram"]
    with pytest.raises(ConfigError, match="ag-a-si"):  # lists the valid names
        resolve_device("nonsense")


@pytest.mark.parametrize("device", ALL_DEVICES + [IdealDevice(), noisy(PRESETS["pcmo"], read_noise=0.01,
                                                                      stuck_fraction=0.1, drift_nu=0.05)])
def test_toml_round_trip(device, tmp_path):
    path = save_device(device, tmp_path / "dev.toml", comment="a test device\nsecond line")
    assert load_device(path) == device
    assert device_to_toml(load_device(path)) == device_to_toml(device)


def test_toml_errors(tmp_path):
    (tmp_path / "a.toml").write_text('model = "exponential"\nn_states = 1\n')
    with pytest.raises(ConfigError, match=r"a\.toml.*n_states"):
        load_device(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text('model = "exponential"\nnl_upp = 1.0\n')
    with pytest.raises(ConfigError, match="nl_upp"):
        load_device(tmp_path / "b.toml")
    (tmp_path / "c.toml").write_text('model = "memristor"\n')
    with pytest.raises(ConfigError, match="soft-bounds"):
        load_device(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text('[device]\nmodel = "soft-bounds"\nn_states = 9\n[device.nonideal]\nc2c = 0.1\n')
    assert load_device(tmp_path / "d.toml") == SoftBoundsDevice(n_states=9, nonideal=NonIdeal(c2c=0.1))
    (tmp_path / "e.toml").write_text('model = "power"\n[nonideal]\nstuck_fraction = 2.0\n')
    with pytest.raises(ConfigError, match="stuck_fraction"):
        load_device(tmp_path / "e.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_device(tmp_path / "missing.toml")


@pytest.mark.parametrize("cls", [ConstantStepDevice, SoftBoundsDevice, ExpStepDevice, PowerStepDevice])
def test_bad_configurations_name_the_field(cls):
    with pytest.raises(ConfigError, match="g_min"):
        cls(g_min=2e-5, g_max=1e-5)
    with pytest.raises(ConfigError, match="g_min"):
        cls(g_min=1e-5, g_max=1e-5)
    with pytest.raises(ConfigError, match="n_states"):
        cls(n_states=1)
    with pytest.raises(ConfigError, match="n_states"):
        cls(n_states=32.0)
    with pytest.raises(ConfigError, match="asymmetry"):
        cls(asymmetry=1.0)
    with pytest.raises(ConfigError, match="energy_per_pulse"):
        cls(energy_per_pulse=-1.0)
    with pytest.raises(ConfigError, match="nonideal"):
        cls(nonideal={"c2c": 0.1})


def test_bad_shape_and_nonideal_parameters():
    with pytest.raises(ConfigError, match="nl_up"):
        ExpStepDevice(nl_up=9.5)
    with pytest.raises(ConfigError, match="nl_down"):
        ExpStepDevice(nl_down=float("nan"))
    with pytest.raises(ConfigError, match="gamma_down"):
        PowerStepDevice(gamma_down=-0.1)
    for field, value in (("stuck_fraction", 1.5), ("stuck_fraction", -0.1), ("stuck_high", 2.0),
                         ("c2c", -0.1), ("d2d", float("inf")), ("read_noise", -1.0),
                         ("drift_nu", 1.5), ("drift_t0", 0.0)):
        with pytest.raises(ConfigError, match=field):
            NonIdeal(**{field: value})


def test_configs_are_frozen_and_defaults_are_off():
    dev = ExpStepDevice()
    with pytest.raises(dataclasses.FrozenInstanceError):
        dev.n_states = 3
    assert not NonIdeal().any and not dev.nonideal.any
    assert dataclasses.replace(dev, n_states=8).n_states == 8
