"""Fitting device models to measured sweeps, the CSV checks, and `memprop device fit`."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from memprop import cli
from memprop.cli import device as device_cli
from memprop.cli import options as cli_options
from memprop.devices import (
    ConstantStepDevice,
    ExpStepDevice,
    NonIdeal,
    PowerStepDevice,
    SoftBoundsDevice,
    load_device,
)
from memprop.devices.fit import fit_device, read_sweeps, synthetic_sweeps, write_sweeps_csv
from memprop.errors import ConfigError, DataError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_fit_recovers_an_exponential_device_exactly_from_noise_free_data():
    true = ExpStepDevice(g_min=2e-6, g_max=2e-5, n_states=97, asymmetry=0.02, nl_up=2.4, nl_down=-4.88)
    result = fit_device(synthetic_sweeps(true, cycles=2), "exponential")
    dev = result.device
    # Noise-free data: what is left is the optimiser's tolerance and the rounding of P to whole
    # states (the sweeps span 94 / 98 pulses, so a is refitted to 96 states to within 1e-3).
    assert isinstance(dev, ExpStepDevice) and dev.n_states == 97
    assert dev.g_min == pytest.approx(true.g_min, rel=1e-3)
    assert dev.g_max == pytest.approx(true.g_max, rel=1e-3)
    assert dev.nl_up == pytest.approx(2.4, abs=0.01) and dev.nl_down == pytest.approx(-4.88, abs=0.01)
    assert dev.asymmetry == pytest.approx(0.02, abs=2e-3)
    assert result.rmse / (true.g_max - true.g_min) < 1e-4 and result.c2c < 1e-4


def test_fit_recovers_parameters_and_write_noise_from_noisy_data():
    # sigma_c2c = 0.5 % of the range per pulse, 6 cycles (about 1150 points). The write noise is
    # a random walk along each sweep (about 5 % of the range after 95 pulses), which biases the
    # curve fit: the tolerances (0.3 on the labels, 5 % of the range on the bounds, 20 % on
    # sigma_c2c, whose estimate from ~1150 one-step residuals has a ~2 % standard error) cover it.
    true = ExpStepDevice(g_min=1e-6, g_max=1e-5, n_states=97, nl_up=2.4, nl_down=-4.88,
                         nonideal=NonIdeal(c2c=0.005))
    result = fit_device(synthetic_sweeps(true, cycles=6, generator=gen(1)), "exponential")
    dev, span = result.device, true.g_max - true.g_min
    assert abs(dev.g_min - true.g_min) < 0.05 * span and abs(dev.g_max - true.g_max) < 0.05 * span
    assert dev.nl_up == pytest.approx(2.4, abs=0.3) and dev.nl_down == pytest.approx(-4.88, abs=0.3)
    assert dev.nonideal.c2c == pytest.approx(0.005, rel=0.2)


@pytest.mark.parametrize("true", [
    SoftBoundsDevice(n_states=50, asymmetry=0.2),
    ConstantStepDevice(n_states=41, asymmetry=0.0),
    PowerStepDevice(n_states=30, gamma_up=1.5, gamma_down=0.3, asymmetry=-0.1),
], ids=lambda d: d.MODEL)
def test_fit_recovers_the_other_models(true):
    result = fit_device(synthetic_sweeps(true, cycles=2), true.MODEL)
    dev = result.device
    # noise-free data: relative 1e-3 is the optimiser's stopping tolerance with margin
    assert dev.n_states == true.n_states
    assert dev.g_min == pytest.approx(true.g_min, rel=1e-3) and dev.g_max == pytest.approx(true.g_max, rel=1e-3)
    assert dev.asymmetry == pytest.approx(true.asymmetry, abs=1e-3)
    if isinstance(true, PowerStepDevice):
        assert dev.gamma_up == pytest.approx(true.gamma_up, abs=1e-3)
        assert dev.gamma_down == pytest.approx(true.gamma_down, abs=1e-3)


def test_csv_round_trip_and_cli(tmp_path):
    true = ExpStepDevice(n_states=33, nl_up=1.5, nl_down=-2.0, nonideal=NonIdeal(c2c=0.002))
    csv_path = write_sweeps_csv(synthetic_sweeps(true, cycles=2, generator=gen(2)), tmp_path / "meas.csv")
    sweeps = read_sweeps(csv_path)
    assert [s.name for s in sweeps.sweeps] == ["ltp_1", "ltd_1", "ltp_2", "ltd_2"]
    parser = argparse.ArgumentParser(prog="memprop")
    sub = parser.add_subparsers(dest="command", required=True)
    device_cli.add_parser(sub)
    args = parser.parse_args(["device", "fit", str(csv_path), "--model", "exponential"])
    assert args.func(args) == 0
    fitted = load_device(tmp_path / "meas.toml")
    assert isinstance(fitted, ExpStepDevice) and fitted.n_states == 33
    assert fitted.nl_up == pytest.approx(1.5, abs=0.3)
    assert (tmp_path / "meas_fit.png").stat().st_size > 1000
    args = parser.parse_args(["device", "fit", str(csv_path), "--model", "soft-bounds", "--out",
                              str(tmp_path / "sb.toml"), "--no-plot"])
    assert device_cli.fit_command(args) == 0
    assert load_device(tmp_path / "sb.toml").MODEL == "soft-bounds"


def test_plot_fit_returns_a_figure(tmp_path):
    from matplotlib.figure import Figure

    from memprop.plotting import save
    from memprop.plotting.devices import plot_fit

    true = SoftBoundsDevice(n_states=20)
    sweeps = synthetic_sweeps(true, cycles=1)
    result = fit_device(sweeps, "soft-bounds")
    fig = plot_fit(sweeps, result)
    assert isinstance(fig, Figure) and not list(tmp_path.iterdir())  # drawing writes nothing
    path = save(fig, tmp_path / "fit.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_cli_prints_a_json_summary(tmp_path, capsys):
    true = SoftBoundsDevice(n_states=20)
    csv_path = write_sweeps_csv(synthetic_sweeps(true, cycles=1), tmp_path / "d.csv")
    assert cli.main(["device", "fit", str(csv_path), "--model", "soft-bounds", "--no-plot"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "soft-bounds" and out["n_states"] == 20 and out["toml"].endswith("d.toml")
    assert "plot" not in out and not (tmp_path / "d_fit.png").exists()


def _write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(n=8, up=None, down=None):
    up = up or [1.0 + k for k in range(n)]
    down = down or [float(n - k) for k in range(n)]
    return "pulse,ltp,ltd\n" + "".join(f"{k},{u},{d}\n" for k, (u, d) in enumerate(zip(up, down)))


def test_bad_data_get_a_clear_error(tmp_path):
    ok = _write(tmp_path, _rows(), "ok.csv")
    assert len(read_sweeps(ok).sweeps) == 2
    cases = [
        (_rows().replace("3,4.0,", "3,nan,"), r"bad\.csv.*'ltp'.*NaN"),
        (_rows(up=[1, 5, 2, 6, 1, 3, 0.5, 2]), r"bad\.csv.*'ltp'.*not monotone"),
        (_rows(down=[float(k) for k in range(8)]), r"'ltd'.*not monotone"),
        (_rows(n=3), r"'ltp'.*too few points"),
        (_rows().replace("ltd", "gmax"), r"'gmax'.*neither"),
        (_rows().replace("2,3.0,", "2,abc,"), r"'ltp', row 4.*not a number"),
        (_rows().replace("2,3.0,", "2,,"), r"'ltp'.*empty cell"),
        ("pulse,ltp\n" + "".join(f"{k},{k + 1}\n" for k in range(8)), "depression"),
        (_rows().replace("\n1,", "\n0,"), "strictly increasing"),
        ("pulse,ltp,ltd\n", "data rows"),
    ]
    for text, match in cases:
        with pytest.raises(DataError, match=match):
            read_sweeps(_write(tmp_path, text))
    with pytest.raises(DataError, match="no such file"):
        read_sweeps(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="exponential"):
        fit_device(read_sweeps(ok), "memristor")


def test_training_commands_device_options(tmp_path):
    from memprop.crossbar import CrossbarConfig
    from memprop.devices import PRESETS, IdealDevice, save_device

    parser = argparse.ArgumentParser()
    cli_options.add_device_options(parser)
    assert cli_options.crossbar_config(parser.parse_args([])) is None  # default: no devices
    cfg = cli_options.crossbar_config(parser.parse_args(["--device", "ideal"]))
    assert cfg == CrossbarConfig(device=IdealDevice())
    cfg = cli_options.crossbar_config(parser.parse_args(
        ["--device", "AG-A-SI", "--w-max", "0.5", "--pairing", "two", "--scheme", "deterministic"]))
    assert (cfg.device, cfg.w_max, cfg.pairing, cfg.scheme) == (PRESETS["ag-a-si"], 0.5, "two", "deterministic")
    path = save_device(SoftBoundsDevice(n_states=9), tmp_path / "mine.toml")
    assert cli_options.crossbar_config(parser.parse_args(["--device", str(path)])).device == SoftBoundsDevice(n_states=9)
    with pytest.raises(ConfigError, match="hzo-fefet"):
        cli_options.crossbar_config(parser.parse_args(["--device", "unobtainium"]))
