"""The device study (memprop reproduce devices): design, in situ reconstruction training, files,
report section, sweep task and CLI registration."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from memprop import cli
from memprop.crossbar import CrossbarConfig
from memprop.experiments import devices as D
from memprop.experiments.devices import config as DC
from memprop.experiments.devices.run import train_in_situ
from memprop.experiments.devices.sweep import sweep_task
from memprop.experiments.reconstruction import TrainConfig
from memprop.experiments.reconstruction.training import train
from memprop.networks import full_mask

TINY = {"presets": ("epiram",), "states": (4,), "c2c": (0.03,), "d2d": (0.3,), "stuck": (0.05,),
        "epochs": 2, "samples": 2, "rbp_factors": "states", "classification_states": (4,)}


def _patterns(P=3, N=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (P, N), generator=g).to(torch.float64) * 2 - 1


def _w0(N=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    W = (torch.rand(N, N, generator=g, dtype=torch.float64) - 0.5) * 0.2
    return ((W + W.T) / 2) * full_mask(N)


def test_design_covers_every_factor():
    pts = D.design(DC.FULL, 1.0, pairing=True, states=DC.FULL["states"])
    factors = {p.factor for p in pts}
    assert factors == {"reference", "preset", "states", "c2c", "d2d", "stuck", "pairing"}
    states = [p for p in pts if p.factor == "states"]
    assert sorted({p.value for p in states}) == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    assert {p.crossbar.scheme for p in states} == {"deterministic", "stochastic"}
    assert all(p.crossbar.device.n_states == p.value for p in states)
    assert [p.value for p in pts if p.factor == "preset"] == list(DC.PRESETS)
    assert not any(p.factor == "pairing" for p in D.design(DC.FULL, 0.5, pairing=False, states=(4,)))


@pytest.mark.parametrize("rule", ["ep", "rbp"])
def test_in_situ_training_on_ideal_devices_is_the_exact_online_training(rule):
    pats, W0, mask = _patterns(), _w0(), full_mask(12)
    eta = 0.05
    W, counters = train_in_situ(pats, W0, mask, rule=rule, eta=eta, epochs=3,
                                crossbars=[CrossbarConfig(), CrossbarConfig()],
                                generator=torch.Generator().manual_seed(3), device_seed=0)
    # the study's training of the same two configurations without devices: bit for bit
    tc = TrainConfig(epochs=3, max_steps=DC.EP_MAX_STEPS) if rule == "ep" else TrainConfig(epochs=3)
    two = train(pats, W0[None].expand(2, 12, 12), mask, rule=rule, etas=torch.full((2,), eta, dtype=torch.float64),
                cfg=tc, generator=torch.Generator().manual_seed(3))
    assert torch.equal(W, two.W)
    # and one configuration trained alone: its random initial states are drawn from the shared
    # generator for 1 instead of 2 configurations, so they differ, but every relaxation reaches
    # the same fixed point within tol (1e-6)
    ref = train(pats, W0[None], mask, rule=rule, etas=torch.full((1,), eta), cfg=TrainConfig(epochs=3),
                generator=torch.Generator().manual_seed(3))
    assert torch.allclose(W[0], ref.W[0], atol=1e-6, rtol=0)
    assert counters[0]["pulses"] == 0 and counters[0]["energy_j"] == 0.0


def test_in_situ_training_on_a_device_counts_pulses_and_keeps_symmetry():
    pats, W0, mask = _patterns(), _w0(), full_mask(12)
    dev = D.base_device(states=64, c2c=0.01)
    cfgs = [CrossbarConfig(device=dev, pairing="one"), CrossbarConfig(device=dev, pairing="two")]
    W, counters = train_in_situ(pats, W0, mask, rule="ep", eta=0.05, epochs=2, crossbars=cfgs,
                                  generator=torch.Generator().manual_seed(3), device_seed=0)
    assert torch.equal(W[0], W[0].T)  # one device pair per neuron pair: symmetry exact
    assert not torch.equal(W[1], W[1].T)  # two: w_ij and w_ji drift apart under noise
    assert all(c["pulses"] > 0 and c["energy_j"] > 0 for c in counters)
    assert float(W.abs().max()) <= 1.0 + 1e-6  # within w_max
    assert torch.all(W.diagonal(dim1=-2, dim2=-1) == 0)  # no self-connections


def _tiny_study(monkeypatch):
    from memprop.experiments import classification as Cl

    # the module (the package's attribute ``run`` is the function)
    devices_run = importlib.import_module("memprop.experiments.devices.run")

    def tiny_classification(*, quick, seed, epochs=None, torch_device_name="cpu", dtype=None):
        ep = Cl.EPConfig(hidden=(8,), epochs=1, eval_steps=5, seed=seed)
        return Cl.ClassificationConfig(data=Cl.DataConfig(per_class=8, split_seed=seed), ep=ep,
                                       backprop=None, eval_sample=10, torch_device=torch_device_name,
                                       dtype=dtype or "float32")

    monkeypatch.setattr(DC, "QUICK", TINY)  # DevicesConfig.grid reads it
    monkeypatch.setattr(devices_run, "ROUNDING_STATES", 4)
    monkeypatch.setattr(devices_run, "classification_config", tiny_classification)


@pytest.mark.filterwarnings("ignore:.*exceed w_max")  # the tiny net's Glorot W1 reaches 0.66
def test_run_result_files_and_section(tmp_path, monkeypatch):
    from memprop.cli.reproduce import ADAPTERS

    _tiny_study(monkeypatch)
    result = D.run(D.DevicesConfig(quick=True, seed=0, rules=("ep", "rbp")))
    assert not any(tmp_path.iterdir())  # run() computes; the CLI's writer writes
    ADAPTERS["devices"].write(tmp_path, result, {"command": "test"})
    section = D.section(result, command="memprop reproduce devices --quick")
    written = json.loads((tmp_path / "devices.json").read_text())
    assert written.pop("provenance") == {"command": "test"}
    assert written == json.loads(json.dumps(result))
    assert set(result) == {"config", "points", "seconds"}
    pts = result["points"]
    keys = {"study", "rule", "factor", "value", "metric", "result", "pulses", "energy_j"}
    assert all(keys <= set(p) for p in pts)
    assert {p["value"] for p in pts if p["factor"] == "preset"} == {"epiram"}  # the tiny design ran
    assert {p["study"] for p in pts} == {"reconstruction", "classification"}
    assert {p["metric"] for p in pts if p["study"] == "classification"} == {"test_error"}
    assert {p["factor"] for p in pts if p["rule"] == "ep" and p["study"] == "reconstruction"} == {
        "reference", "preset", "states", "rounding", "c2c", "d2d", "stuck", "pairing"}
    assert {p["factor"] for p in pts if p["rule"] == "rbp"} == {"reference", "states", "rounding"}
    ideal = [p for p in pts if p["factor"] == "reference"]
    assert all(p["pulses"] == 0 and p["energy_j"] == 0 for p in ideal)
    assert all(p["pulses"] > 0 for p in pts if p["factor"] == "preset")
    assert (tmp_path / "devices.csv").read_text().startswith("study,")
    assert (tmp_path / "devices.png").stat().st_size > 1000
    assert section.study == "devices" and section.claims


def test_sweep_task_and_example_spec(monkeypatch):
    from memprop.sweeps.spec import load_spec

    spec = load_spec(Path(__file__).parents[1] / "examples" / "device_sweep.toml")
    assert spec.study == "devices"
    metrics = sweep_task({"task": "reconstruction", "rule": "ep", "device": "exponential",
                            "nonlinearity": 2.4, "states": 32, "scheme": "stochastic", "epochs": 1,
                            "samples_per_class": 2, "p": 0.1, "pairing": "one"}, seed=0)
    assert set(metrics) == {"accuracy", "pulses", "energy_j", "seconds"} and metrics["pulses"] > 0


def test_devices_study_is_registered():
    from memprop.experiments.devices import sweep as devices_sweep
    from memprop.experiments.registry import STUDIES

    study = STUDIES["devices"]
    assert study.paper and study.run is D.run and study.section is D.section
    assert study.sweep_task is sweep_task and study.sweep_settings is devices_sweep.SWEEP_SETTINGS
    args = cli.build_parser().parse_args(["reproduce", "devices", "--quick", "--rules", "ep"])
    assert args.study == "devices" and args.rules == ["ep"]


@pytest.mark.slow
def test_reproduce_devices_quick_end_to_end(tmp_path):
    # Its time is a benchmark's figure (the design's docstring), not a test's.
    proc = subprocess.run([sys.executable, "-m", "memprop", "reproduce", "devices", "--quick",
                           "--out", str(tmp_path), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "devices.json").is_file() and (tmp_path / "devices.png").is_file()


@pytest.mark.parametrize("rule", ["ep", "rbp"])
def test_a_points_numbers_do_not_depend_on_what_the_design_trains_beside_it(rule):
    """Random streams follow from the point (its crossbar), not its place in the stack: a point
    trained alone, or in another design, gives bit for bit the numbers of the study's stack."""
    pts = D.design(dict(DC.QUICK, states=(16, 64), presets=("taox-hfox",)), DC.W_MAX_RECONSTRUCTION,
                   pairing=True, states=(16, 64))
    kw = dict(epochs=2, samples=2, p=0.1, seed=0)
    together = D.reconstruction_points(pts, rule, **kw)
    for i in (len(pts) - 1, 3):
        (alone,) = D.reconstruction_points([pts[i]], rule, **kw)
        assert {k: alone[k] for k in ("result", "pulses", "energy_j")} == \
            {k: together[i][k] for k in ("result", "pulses", "energy_j")}, pts[i]


@pytest.mark.parametrize("grid", ["QUICK", "FULL"])
def test_with_workers_each_rules_points_run_as_two_stacks_covering_the_design_once(grid):
    """The points that relax long (write noise, stochastic rounding on few states) form one
    stack, the others another; every point is in exactly one, each stack with its estimated cost."""
    from memprop.experiments.devices.run import LONG_RELAXATION, _stacks, relaxes_long

    g = getattr(DC, grid)
    pts = DC.design(g, DC.W_MAX_RECONSTRUCTION, pairing=True, states=g["states"])
    stacks = _stacks(pts)
    assert sorted(i for part, _ in stacks for i in part) == list(range(len(pts)))
    slow = [pts[i] for i in stacks[0][0]]
    assert all(relaxes_long(pt) for pt in slow) and not any(relaxes_long(pts[i]) for i in stacks[1][0])
    assert {(pt.factor, pt.value) for pt in slow} >= {("c2c", g["c2c"][0]), ("states", 4)}
    assert all(pt.rounding == "stochastic" for pt in slow)
    assert not relaxes_long(pts[0])  # the ideal reference
    assert [cost for _, cost in stacks] == [len(stacks[0][0]) * LONG_RELAXATION, len(stacks[1][0])]
