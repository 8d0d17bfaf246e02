"""In situ training of the reconstruction study: ``--device`` through crossbars (issue 5 item 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memprop.crossbar import CrossbarConfig
from memprop.data import random_correlated
from memprop.devices import IdealDevice
from memprop.devices.presets import resolve_device
from memprop.experiments import reconstruction as rec
from memprop.io import read_json
from memprop.experiments.reconstruction_train import TrainConfig, train
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


def test_table1_ideal_equals_device_free_and_preset_reports_pulses(npy_patterns):
    cfg = _tiny(patterns=str(npy_patterns))
    ps = rec.load_pattern_set(cfg.patterns)
    rows = rec.plan_rows(cfg, ps.n, fig2=False, k0_seeds=True, sweep=False)
    free, ideal = rec.train_all(cfg, ps, rows), rec.train_all(cfg, ps, rows, crossbar=IDEAL)
    for r in rows:
        assert torch.equal(free.W[r], ideal.W[r])
    a = rec.table1(cfg, patterns=ps, trained=free)
    b = rec.table1(cfg, patterns=ps, trained=ideal)
    assert "device" not in a and "device" not in a["config"]
    assert a["accuracy"] == b["accuracy"] and a["converged_fraction"] == b["converged_fraction"]
    assert b["device"]["pulses"] == 0 and b["device"]["ideal"] is True
    c = rec.table1(cfg, patterns=ps, crossbar=PRESET)
    d = c["device"]
    assert d["pulses"] > 0 and d["energy_j"] > 0 and d["w_max"] == 0.5
    assert isinstance(d["model"], dict) and d["model"]
    assert set(d["rules"]) == {"hebbian", "storkey", "ep", "rbp", "rbp_paper"}
    assert all(d["rules"][k]["pulses"] > 0 for k in d["rules"])
    assert c["config"]["device"]["scheme"] == "stochastic"


def test_cli_device_option_parses_and_ideal_run_matches(tmp_path, npy_patterns):
    from memprop.cli import build_parser, main
    from memprop.devices.cli import crossbar_config

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
    assert "--device ideal" in (tmp_path / "ideal" / "report.md").read_text()
