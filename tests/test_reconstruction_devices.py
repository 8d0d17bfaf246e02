"""In situ training of the reconstruction study: ``--device`` through crossbars (issue 5 item 4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from memprop.crossbar import CrossbarConfig
from memprop.data import random_correlated
from memprop.devices import IdealDevice
from memprop.devices.presets import resolve_device
from memprop.experiments import reconstruction as rec
from memprop.experiments.reconstruction import TrainConfig
from memprop.experiments.reconstruction.config import load_pattern_set
from memprop.experiments.reconstruction.run import plan_rows, train_all
from memprop.experiments.reconstruction.training import train
from memprop.io import read_json
from memprop.networks import band_mask, init_symmetric

IDEAL = CrossbarConfig(device=IdealDevice())
PRESET = CrossbarConfig(device=resolve_device("taox-hfox"), w_max=0.5)


def _tiny(**kw) -> rec.ReconstructionConfig:
    base = dict(training=TrainConfig(epochs=2), samples_table1=4, samples_fig2=3, samples_fig3=3,
                K=(0, 15), p_fig2=(0.1,), fig3_epochs=(0, 2), fig4_examples=3, rbp_etas=())
    base.update(kw)
    return rec.ReconstructionConfig(**base)


@pytest.fixture
def npy_patterns(tmp_path):
    ps = random_correlated(16, 3, 0.2, seed=0)
    path = tmp_path / "pats.npy"
    np.save(path, ps.patterns.numpy().reshape(3, 4, 4))
    return path


def _stack(n=16, C=2):
    ps = random_correlated(n, 3, 0.2, seed=0)
    W0 = torch.stack([init_symmetric(n, scale=0.1, generator=torch.Generator().manual_seed(c),
                                     dtype=torch.float64) for c in range(C)])
    masks = torch.stack([band_mask(n, k) for k in (0, 5)][:C])
    return ps.patterns, W0, masks


@pytest.mark.parametrize("rule", ["ep", "rbp"])
def test_train_on_the_ideal_device_is_bit_identical(rule):
    x, W0, masks = _stack()
    etas = torch.tensor([0.01, 0.02], dtype=torch.float64)

    def go(xb):
        return train(x, W0, masks, rule=rule, etas=etas, cfg=TrainConfig(epochs=3),
                     generator=torch.Generator().manual_seed(1), snapshot_epochs=(0, 2),
                     row_seeds=[5, 6], crossbar=xb)

    a, b = go(None), go(IDEAL)
    assert a.counters is None and len(b.counters) == 2
    assert torch.equal(a.W, b.W)
    assert all(torch.equal(a.snapshots[e], b.snapshots[e]) for e in a.snapshots)
    assert all(torch.equal(a.history[k], b.history[k]) for k in a.history)
    assert all(c["pulses"] == 0 and c["energy_j"] == 0.0 for c in b.counters)


def test_train_on_a_preset_programs_pulses_and_keeps_the_mask():
    x, W0, masks = _stack()
    etas = torch.tensor([0.01, 0.01], dtype=torch.float64)
    tr = train(x, W0, masks, rule="ep", etas=etas, cfg=TrainConfig(epochs=2),
               generator=torch.Generator().manual_seed(1), crossbar=PRESET, device_seeds=[3, 4])
    assert all(c["pulses"] > 0 and c["energy_j"] > 0 for c in tr.counters)
    assert torch.isfinite(tr.W).all()
    assert bool((tr.W[~masks] == 0).all())  # no device off the band
    assert float(tr.W.abs().max()) <= PRESET.w_max + 1e-12
    again = train(x, W0, masks, rule="ep", etas=etas, cfg=TrainConfig(epochs=2),
                  generator=torch.Generator().manual_seed(1), crossbar=PRESET, device_seeds=[3, 4])
    assert torch.equal(tr.W, again.W)  # seeded


@pytest.mark.parametrize("rule", ["ep", "rbp"])
def test_in_situ_a_configuration_trains_alone_as_in_a_stack(rule):
    """Each configuration on its own crossbar (own device seed, own row seed): a mixed stack of a
    preset and the ideal device trains each one bitwise as it trains alone."""
    x, W0, masks = _stack()
    etas = torch.tensor([0.01, 0.02], dtype=torch.float64)
    kw = dict(rule=rule, cfg=TrainConfig(epochs=2), snapshot_epochs=(1, 2))
    configs, dseeds, rseeds = [PRESET, IDEAL], [3, 4], [5, 6]
    stack = train(x, W0, masks, etas=etas, generator=torch.Generator().manual_seed(1), crossbar=configs,
                  device_seeds=dseeds, row_seeds=rseeds, **kw)
    assert stack.counters[0]["pulses"] > 0 and stack.counters[1]["pulses"] == 0
    for c in range(2):
        alone = train(x, W0[c:c + 1], masks[c:c + 1], etas=etas[c:c + 1], generator=torch.Generator().manual_seed(2),
                      crossbar=configs[c], device_seeds=dseeds[c:c + 1], row_seeds=rseeds[c:c + 1], **kw)
        assert torch.equal(stack.W[c], alone.W[0])
        assert stack.counters[c] == alone.counters[0]
        assert all(torch.equal(stack.snapshots[e][c], alone.snapshots[e][0]) for e in stack.snapshots)
        assert all(torch.equal(stack.history[k][c], alone.history[k][0]) for k in stack.history)


def test_table1_ideal_equals_device_free_and_preset_reports_pulses(npy_patterns):
    cfg = _tiny(patterns=str(npy_patterns))
    ps = load_pattern_set(cfg.patterns)
    rows = plan_rows(cfg, ps.n, fig2=False, k0_seeds=True, sweep=False)
    free, ideal = train_all(cfg, ps, rows), train_all(dataclasses.replace(cfg, device=IDEAL), ps, rows)
    for r in rows:
        assert torch.equal(free.W[r], ideal.W[r])
    a = rec.table1(cfg, patterns=ps, trained=free)
    b = rec.table1(cfg, patterns=ps, trained=ideal)
    assert "device" not in a and a["config"]["device"] is None
    assert a["accuracy"] == b["accuracy"] and a["converged_fraction"] == b["converged_fraction"]
    assert b["device"]["pulses"] == 0 and b["device"]["ideal"] is True
    c = rec.table1(dataclasses.replace(cfg, device=PRESET), patterns=ps)
    d = c["device"]
    assert d["pulses"] > 0 and d["energy_j"] > 0 and d["w_max"] == 0.5
    assert isinstance(d["model"], dict) and d["model"]
    assert set(d["rules"]) == {"hebbian", "storkey", "ep", "rbp", "rbp_paper"}
    assert all(d["rules"][k]["pulses"] > 0 for k in d["rules"])
    assert c["config"]["device"]["scheme"] == "stochastic"


def test_cli_device_option_parses_and_ideal_run_matches(tmp_path, npy_patterns):
    from memprop.cli import build_parser, main
    from memprop.cli.options import crossbar_config

    args = build_parser().parse_args(["reproduce", "reconstruction", "--device", "taox-hfox", "--w-max", "0.5",
                                      "--scheme", "deterministic", "--pairing", "two"])
    xc = crossbar_config(args)
    assert xc.w_max == 0.5 and xc.scheme == "deterministic" and xc.pairing == "two" and not xc.ideal
    assert crossbar_config(build_parser().parse_args(["reproduce", "reconstruction"])) is None
    common = ["reproduce", "reconstruction", "--quick", "--epochs", "1", "--patterns", str(npy_patterns), "--quiet"]
    assert main([*common, "--out", str(tmp_path / "free")]) == 0
    assert main([*common, "--out", str(tmp_path / "ideal"), "--device", "ideal"]) == 0
    a, b = read_json(tmp_path / "free" / "table1.json"), read_json(tmp_path / "ideal" / "table1.json")
    assert a["accuracy"] == b["accuracy"] and "device" in b and "device" not in a
    assert read_json(tmp_path / "free" / "fig2.json")["points"] == read_json(tmp_path / "ideal" / "fig2.json")["points"]
    timing = {"config", "seconds", "training_seconds", "provenance"}
    for name in ("fig3", "fig4", "rbp"):  # every other result, bit for bit
        fa, fb = read_json(tmp_path / "free" / f"{name}.json"), read_json(tmp_path / "ideal" / f"{name}.json")
        assert {k: v for k, v in fa.items() if k not in timing} == {k: v for k, v in fb.items() if k not in timing}
    assert "--device ideal" in (tmp_path / "ideal" / "report.md").read_text()
