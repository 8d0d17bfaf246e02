"""In situ classification: EP training of the layered network's weights through crossbars."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from memprop import cli
from memprop.crossbar import CrossbarConfig
from memprop.devices import IdealDevice
from memprop.devices.presets import resolve_device
from memprop.errors import ConfigError
from memprop.experiments import classification as C


def _tiny_cfg(epochs=2, seed=4):
    ep = C.EPConfig(hidden=(24,), epochs=epochs, eval_steps=10, seed=seed)
    data = C.DataConfig(classes="0-2", per_class=40, split_seed=seed)
    return C.ClassificationConfig(data=data, ep=ep, backprop=None, eval_sample=20)


def _strip_seconds(history):
    return [{k: v for k, v in e.items() if "seconds" not in k} for e in history]


def test_ideal_device_is_bit_identical_to_the_device_free_run():
    cfg = _tiny_cfg()
    split = C.load_split(cfg.data)
    plain = C.run_ep(cfg, split)
    ideal = C.run_ep(cfg, split, crossbar=CrossbarConfig(device=IdealDevice()))
    assert _strip_seconds(ideal.history) == _strip_seconds(plain.history)
    for k, v in plain.network.trainable().items():
        assert torch.equal(ideal.network.trainable()[k], v), k
    assert torch.equal(ideal.persistent, plain.persistent)
    assert set(ideal.crossbars) == {"W0", "W1"}


def test_programmed_path_on_ideal_devices_equals_the_exact_path():
    """The in situ step (explicit Delta W per layer, programmed, read back) is the same SGD."""
    cfg = _tiny_cfg(epochs=1)
    split = C.load_split(cfg.data)
    x, y = split.x_train.double(), split.y_train
    states = []
    for programmed in (False, True):
        st = C.init_state(cfg.ep, y.numel(), x.shape[1], split.n_classes, dtype=torch.float64)
        xbars = None
        if programmed:
            from memprop.crossbar import crossbars_for

            xbars = crossbars_for(st.network, CrossbarConfig(), names=["W0", "W1"], symmetric=False)
        C.train_epoch(st, cfg.ep, x, y, split.n_classes, crossbars=xbars, programmed=programmed)
        states.append(st)
    exact, prog = states
    for k, v in exact.network.trainable().items():
        # float64, the same products summed in another order over 6 minibatches: rounding only
        assert torch.allclose(prog.network.trainable()[k], v, atol=1e-12, rtol=0), k


def test_preset_trains_and_counts_pulses_and_energy():
    cfg = _tiny_cfg(epochs=1)
    xcfg = CrossbarConfig(device=resolve_device("taox-hfox"), w_max=0.5)
    result = C.run(cfg, crossbar=xcfg)
    dev = result["device"]
    assert dev["pulses"] > 0 and dev["energy_j"] > 0 and dev["updates"] == 6  # 120 digits / 20
    assert dev["scheme"] == "stochastic" and dev["w_max"] == 0.5
    assert 0.0 <= result["epochs"][-1]["test_error"] <= 1.0
    json.dumps(result)  # JSON-ready
    with pytest.raises(ConfigError, match="resume is not supported with a device"):
        C.run_ep(cfg, C.load_split(cfg.data), crossbar=xcfg, resume=True, checkpoint="x.pt")


def test_device_differs_from_ideal_but_keeps_the_rule_stream():
    """A non-ideal device changes the weights, not the minibatch order (separate generator)."""
    cfg = _tiny_cfg(epochs=1)
    split = C.load_split(cfg.data)
    plain = C.run_ep(cfg, split)
    dev = C.run_ep(cfg, split, crossbar=CrossbarConfig(device=resolve_device("epiram"), w_max=0.5))
    assert dev.generator.get_state().equal(plain.generator.get_state())
    assert not torch.equal(dev.network.weights[0], plain.network.weights[0])
    assert torch.all(dev.network.weights[0].abs() <= 0.5 + 1e-6)


def test_cli_train_classify_with_device(tmp_path, capsys):
    argv = ["train", "classify", "--hidden", "24", "--classes", "0-2", "--per-class", "40",
            "--eval-steps", "10", "--epochs", "1", "--no-backprop", "--quiet"]
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "b"), "--device", "ideal"]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "c"), "--device", "pcmo", "--w-max", "0.5",
                     "--scheme", "stochastic"]) == 0
    out = capsys.readouterr().out
    assert "in situ on pcmo" in out
    a, b, c = (json.loads((tmp_path / d / "classify.json").read_text()) for d in "abc")
    assert _strip_seconds(a["epochs"]) == _strip_seconds(b["epochs"])
    assert "device" not in a and b["device"]["pulses"] == 0 and b["device"]["energy_j"] == 0.0
    assert c["device"]["pulses"] > 0 and c["device"]["scheme"] == "stochastic"
    assert not (tmp_path / "c" / "checkpoint.pt").exists()


def test_reproduce_classification_accepts_device_options():
    p = cli.build_parser()
    args = p.parse_args(["reproduce", "classification", "--device", "gst-pcm", "--pairing", "two"])
    assert args.device == "gst-pcm" and args.pairing == "two"
    cfg = C.crossbar_config(args)
    assert dataclasses.replace(cfg).device is resolve_device("gst-pcm")
