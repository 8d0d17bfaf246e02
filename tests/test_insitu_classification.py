"""In situ classification: EP training of the layered network's weights through crossbars, and
its exact resumption (the checkpoint holds the crossbars and their random stream)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from memprop import cli
from memprop.cli.options import crossbar_config
from memprop.cli.reproduce import ADAPTERS
from memprop.crossbar import CrossbarConfig
from memprop.crossbar.holder import AbstractWeightHolder
from memprop.devices import ExpStepDevice, IdealDevice, NonIdeal, save_device
from memprop.devices.presets import resolve_device
from memprop.errors import ConfigError
from memprop.experiments import classification as C
from memprop.experiments.checkpoint import load_checkpoint, save_checkpoint
from memprop.experiments.classification.training import device_summary

# Every non-ideality at once, so that a resumed run must restore every random stream and every
# piece of crossbar state: device-to-device spread and stuck devices (drawn when the crossbars
# are built), write noise and stochastic rounding (every update), read noise (every read), drift
# (the crossbars' clock and programming times).
NOISY = ExpStepDevice(n_states=64, nl_up=2.0, nl_down=-3.0, asymmetry=0.05,
                      nonideal=NonIdeal(d2d=0.1, c2c=0.02, read_noise=0.01, stuck_fraction=0.02, drift_nu=0.02))


def _tiny_cfg(epochs=2, seed=4, device=None):
    ep = C.EPConfig(hidden=(24,), epochs=epochs, eval_steps=10, seed=seed)
    data = C.DataConfig(classes="0-2", per_class=40, split_seed=seed)
    return C.ClassificationConfig(data=data, ep=ep, backprop=None, eval_sample=20, device=device)


def _strip_seconds(history):
    return [{k: v for k, v in e.items() if "seconds" not in k} for e in history]


def _same_state(a: dict, b: dict) -> None:
    """Two state dicts (or checkpoint params) equal bit for bit, key for key."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_ideal_device_is_bit_identical_to_the_device_free_run():
    cfg = _tiny_cfg()
    split = C.load_split(cfg.data)
    plain = C.run_ep(cfg, split)
    ideal = C.run_ep(dataclasses.replace(cfg, device=CrossbarConfig(device=IdealDevice())), split)
    assert _strip_seconds(ideal.history) == _strip_seconds(plain.history)
    for k, v in plain.network.trainable().items():
        assert torch.equal(ideal.network.trainable()[k], v), k
    assert torch.equal(ideal.persistent, plain.persistent)
    assert set(ideal.network.holders()) == {"W0", "W1"} and not plain.network.holders()
    assert torch.equal(ideal.generator.get_state(), plain.generator.get_state())


class _ProgrammedExact(AbstractWeightHolder):
    """Exact weights that take the in situ path: every update arrives as an explicit Delta W
    (one per minibatch and layer) through :meth:`program`."""

    def __init__(self, W: torch.Tensor):
        super().__init__()
        self.register_buffer("weight_", W.detach().clone())
        self.calls = 0

    @property
    def weight(self):
        return self.weight_

    @property
    def exact(self):
        return False

    def program(self, delta_w):
        self.calls += 1
        self.weight_.add_(delta_w)

    def refresh(self, generator=None):
        pass

    def counters(self):
        return {"updates": self.calls}

    @property
    def generators(self):
        return {}


def test_programmed_path_on_exact_weights_equals_the_exact_path():
    """The in situ step (explicit Delta W per layer and minibatch, programmed, no deferred W_0
    updates) is the same SGD as the exact path (factored updates in place, W_0's deferred)."""
    cfg = dataclasses.replace(_tiny_cfg(epochs=1), dtype="float64")
    split = C.load_split(cfg.data)
    x, y = split.x_train.double(), split.y_train
    states = []
    for programmed in (False, True):
        st = C.init_state(cfg, y.numel(), x.shape[1], split.n_classes)
        if programmed:
            for name in ("W0", "W1"):
                st.network.place(name, _ProgrammedExact(getattr(st.network, name)))
        C.ep_epoch(st, cfg.ep, x, y, split.n_classes)
        states.append(st)
    exact, prog = states
    assert [prog.network.holder(n).calls for n in ("W0", "W1")] == [6, 6]  # 120 digits / 20
    for k, v in exact.network.trainable().items():
        # float64, the same products summed in another order over 6 minibatches: rounding only
        assert torch.allclose(prog.network.trainable()[k], v, atol=1e-12, rtol=0), k
    assert not torch.equal(prog.network.W0, C.init_state(cfg, y.numel(), x.shape[1], 3).network.W0)
    assert torch.allclose(prog.persistent, exact.persistent, atol=1e-12, rtol=0)


def test_preset_trains_and_counts_pulses_and_energy():
    xcfg = CrossbarConfig(device=resolve_device("taox-hfox"), w_max=0.5)
    result = C.run(_tiny_cfg(epochs=1, device=xcfg))
    dev = result["device"]
    assert dev["pulses"] > 0 and dev["energy_j"] > 0 and dev["updates"] == 6  # 120 digits / 20
    assert dev["scheme"] == "stochastic" and dev["w_max"] == 0.5 and dev["model"]["model"] == "exponential"
    assert 0.0 <= result["epochs"][-1]["test_error"] <= 1.0
    assert result["config"]["device"]["w_max"] == 0.5
    json.dumps(result)  # JSON-ready
    assert "in situ on exponential" in C.summary_line(result)


def test_device_differs_from_ideal_but_keeps_the_rule_stream():
    """A non-ideal device changes the weights, not the minibatch order (separate generator)."""
    cfg = _tiny_cfg(epochs=1)
    split = C.load_split(cfg.data)
    plain = C.run_ep(cfg, split)
    dev = C.run_ep(dataclasses.replace(cfg, device=CrossbarConfig(device=resolve_device("epiram"), w_max=0.5)),
                   split)
    assert dev.generator.get_state().equal(plain.generator.get_state())
    assert not torch.equal(dev.network.weights[0], plain.network.weights[0])
    assert torch.all(dev.network.weights[0].abs() <= 0.5 + 1e-6)


# ---------------------------------------------------------------------------------------------
# Exact resumption in situ
# ---------------------------------------------------------------------------------------------


def test_in_situ_resume_continues_bit_identically(tmp_path):
    cfg = _tiny_cfg(epochs=3, device=CrossbarConfig(device=NOISY, w_max=0.5))
    split = C.load_split(cfg.data)
    straight = C.run_ep(cfg, split)
    ckpt = tmp_path / "checkpoint.pt"
    first = C.run_ep(cfg, split, checkpoint=ckpt, stop_after=1)  # "interrupted" after epoch 1
    assert first.epoch == 1 and load_checkpoint(ckpt).epoch == 1
    saved = load_checkpoint(ckpt)
    assert "device" in saved.rng and {"W0.g", "W1.g", "W0.weight_", "W0.clock"} <= set(saved.params)
    del first
    resumed = C.run_ep(cfg, split, checkpoint=ckpt, resume=True)
    assert resumed.epoch == 3
    assert _strip_seconds(resumed.history) == _strip_seconds(straight.history)
    _same_state(straight.network.state_dict(), resumed.network.state_dict())  # crossbars included
    assert torch.equal(resumed.persistent, straight.persistent)
    assert torch.equal(resumed.generator.get_state(), straight.generator.get_state())
    assert torch.equal(resumed.device_generator.get_state(), straight.device_generator.get_state())
    assert device_summary(cfg, resumed) == device_summary(cfg, straight)
    assert device_summary(cfg, straight)["updates"] == 18  # 3 epochs x 6 minibatches, counted across the resume
    _same_state(load_checkpoint(ckpt).params, straight.network.state_dict())

    # The comparison has teeth: the same resume with another crossbar random stream differs.
    saved.rng["device"] = torch.Generator().manual_seed(12345).get_state()
    save_checkpoint(tmp_path / "other.pt", saved)
    other = C.run_ep(cfg, split, checkpoint=tmp_path / "other.pt", resume=True)
    assert not torch.equal(other.network.W0, straight.network.W0)


def test_in_situ_resume_refuses_other_device_options(tmp_path):
    xcfg = CrossbarConfig(device=resolve_device("epiram"), w_max=0.5)
    cfg = _tiny_cfg(epochs=2, device=xcfg)
    split = C.load_split(cfg.data)
    ckpt = tmp_path / "checkpoint.pt"
    C.run_ep(cfg, split, checkpoint=ckpt, stop_after=1)
    other_device = dataclasses.replace(cfg, device=dataclasses.replace(xcfg, device=resolve_device("pcmo")))
    with pytest.raises(ConfigError, match=r"--resume: the options differ .*device\.model\.g_max: checkpoint"):
        C.run_ep(other_device, split, checkpoint=ckpt, resume=True)
    with pytest.raises(ConfigError, match=r"device\.w_max: checkpoint 0\.5, now 1\.0"):
        C.run_ep(dataclasses.replace(cfg, device=dataclasses.replace(xcfg, w_max=1.0)), split, checkpoint=ckpt,
                 resume=True)
    with pytest.raises(ConfigError, match=r"device: checkpoint \{.*\}, now None"):
        C.run_ep(dataclasses.replace(cfg, device=None), split, checkpoint=ckpt, resume=True)
    plain = tmp_path / "plain.pt"
    C.run_ep(dataclasses.replace(cfg, device=None), split, checkpoint=plain, stop_after=1)
    with pytest.raises(ConfigError, match=r"device: checkpoint None, now \{"):
        C.run_ep(cfg, split, checkpoint=plain, resume=True)
    assert C.run_ep(cfg, split, checkpoint=ckpt, resume=True).epoch == 2  # the same options resume


def _classify_argv(out, device, *extra):
    # about 0.5 s per epoch on one thread: epochs 2 and 3 leave about a second to kill the run in
    return ["train", "classify", "--hidden", "48", "--classes", "0-2", "--per-class", "100", "--eval-steps", "10",
            "--epochs", "3", "--no-backprop", "--seed", "3", "--device", str(device), "--w-max", "0.5",
            "--out", str(out), "--quiet", *extra]


def _start_and_kill_after_first_checkpoint(argv, ckpt, log_path) -> int:
    """Run ``python -m memprop ARGV`` and SIGKILL it as soon as its first checkpoint exists
    (written atomically, renamed into place, after epoch 1); returns the exit status."""
    env = {**os.environ, "MEMPROP_THREADS": str(torch.get_num_threads())}  # this process's arithmetic
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "memprop", *argv], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not ckpt.exists():
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "no checkpoint within 120 s"
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)  # kill -9: no handler, no cleanup
            return proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def test_cli_in_situ_run_killed_then_resumed_is_bit_identical(tmp_path):
    """kill -9 of ``memprop train classify --device ...`` after its first checkpoint, then
    ``--resume``: the same per-epoch errors, device counters and final network state (crossbars
    included) as an uninterrupted run."""
    device = save_device(NOISY, tmp_path / "noisy.toml")
    assert cli.main(_classify_argv(tmp_path / "straight", device)) == 0

    out = tmp_path / "killed"
    ckpt = out / "checkpoint.pt"
    for _ in range(3):  # a run that finished before the kill landed (a stalled machine) is redone
        shutil.rmtree(out, ignore_errors=True)
        status = _start_and_kill_after_first_checkpoint(_classify_argv(out, device), ckpt, tmp_path / "killed.log")
        interrupted = load_checkpoint(ckpt)
        if interrupted.epoch < 3:
            break
    assert status == -signal.SIGKILL
    assert 1 <= interrupted.epoch < 3 and not (out / "classify.json").exists(), "the run was not interrupted"

    assert cli.main(_classify_argv(out, device)) == 2  # a run is there: not replaced without --resume
    assert cli.main(_classify_argv(out, device, "--resume")) == 0
    a = json.loads((tmp_path / "straight" / "classify.json").read_text())
    b = json.loads((out / "classify.json").read_text())
    assert [e["epoch"] for e in b["epochs"]] == [1, 2, 3]
    assert _strip_seconds(a["epochs"]) == _strip_seconds(b["epochs"])
    assert a["device"] == b["device"] and b["device"]["updates"] == 45  # 3 epochs x 300 digits / 20
    pa, pb = load_checkpoint(tmp_path / "straight" / "checkpoint.pt"), load_checkpoint(ckpt)
    assert pa.epoch == pb.epoch == 3
    assert {"W0.g", "W1.g", "W0.weight_"} <= set(pa.params)
    _same_state(pa.params, pb.params)
    assert torch.equal(pa.persistent, pb.persistent)
    assert pa.rng.keys() == pb.rng.keys() == {"train", "device"}
    assert all(torch.equal(pa.rng[k], pb.rng[k]) for k in pa.rng)


def test_cli_train_classify_with_device(tmp_path, capsys):
    argv = ["train", "classify", "--hidden", "24", "--classes", "0-2", "--per-class", "40",
            "--eval-steps", "10", "--epochs", "1", "--no-backprop", "--quiet"]
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "b"), "--device", "ideal"]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "c"), "--device", "pcmo", "--w-max", "0.5",
                     "--scheme", "stochastic"]) == 0
    out = capsys.readouterr().out
    assert "in situ on exponential" in out
    a, b, c = (json.loads((tmp_path / d / "classify.json").read_text()) for d in "abc")
    assert _strip_seconds(a["epochs"]) == _strip_seconds(b["epochs"])
    assert "device" not in a and b["device"]["pulses"] == 0 and b["device"]["energy_j"] == 0.0
    assert c["device"]["pulses"] > 0 and c["device"]["scheme"] == "stochastic"
    pa, pb = load_checkpoint(tmp_path / "a" / "checkpoint.pt"), load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for k in ("W0", "W1", "b1", "b2"):  # ideal crossbars hold the device-free weights, bit for bit
        assert torch.equal(pb.params[k if k.startswith("b") else f"{k}.weight_"], pa.params[k]), k
    ck = load_checkpoint(tmp_path / "c" / "checkpoint.pt")  # in situ runs are checkpointed too
    assert ck.epoch == 1 and "device" in ck.rng and "W0.g" in ck.params


def test_reproduce_classification_accepts_device_options():
    p = cli.build_parser()
    args = p.parse_args(["reproduce", "classification", "--device", "gst-pcm", "--pairing", "two"])
    assert args.device == "gst-pcm" and args.pairing == "two"
    xcfg = crossbar_config(args)
    assert xcfg.device is resolve_device("gst-pcm") and xcfg.pairing == "two"
    cfg = ADAPTERS["classification"].config(args)
    assert cfg.device == xcfg and cfg.ep.hidden == (500,) and cfg.dtype == "float32"
    assert ADAPTERS["classification"].config(p.parse_args(["reproduce", "classification"])).device is None
