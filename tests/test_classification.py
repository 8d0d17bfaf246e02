"""Classification (Figure 5): the fast relaxation, the fused EP step, training, data splits,
the backprop reference, checkpoints and exact resumption, the CLI and the report section."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch

from memprop import cli
from memprop.errors import ConfigError, DataError
from memprop.experiments import classification as C
from memprop.experiments.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from memprop.learning import EquilibriumPropagation, sgd_step
from memprop.learning.backprop import Backprop, feedforward
from memprop.networks import LayeredNetwork
from memprop.solvers import ClippedRelaxation, relax
from memprop.solvers.fixed import FixedStepRelaxation, Workspace

# float64 agreement of two implementations of the same arithmetic in a different order: a few
# ulps per step, accumulated over <= 20 steps of O(1) values.
TIGHT = 1e-12

SIZES = {"1 hidden": [13, 9, 4], "2 hidden": [13, 9, 7, 4], "3 hidden": [13, 6, 5, 5, 4], "no hidden": [13, 4]}


def _net(sizes, seed=0, scale=2.0):
    """A float64 layered net with weights large enough that units clip and couple strongly."""
    g = torch.Generator().manual_seed(seed)
    net = LayeredNetwork.glorot(sizes, generator=g, dtype=torch.float64)
    for w in net.weights:
        w.mul_(scale)
    for b in net.biases:
        b.copy_(torch.rand(b.shape, generator=g, dtype=torch.float64) - 0.5)
    return net, g


def _batch(net, g, batch=6, lo=0.0, hi=1.0):
    x = torch.rand(batch, net.sizes[0], generator=g, dtype=torch.float64)
    t = torch.nn.functional.one_hot(torch.randint(0, net.sizes[-1], (batch,), generator=g), net.sizes[-1])
    s0 = lo + (hi - lo) * torch.rand(batch, net.n_state, generator=g, dtype=torch.float64)
    return x, t.to(torch.float64), s0


def _clipped(steps):
    # tol far below any float64 residual: exactly `steps` iterations (a state that is already a
    # fixed point to the last bit is frozen, which changes nothing)
    return ClippedRelaxation(epsilon=0.5, tol=1e-300, max_steps=steps)


# ---------------------------------------------------------------------------------------------
# FixedStepRelaxation == ClippedRelaxation(throw=False)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
@pytest.mark.parametrize("steps", [0, 1, 2, 20])
@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-0.4, 1.4)], ids=["in [0,1]", "outside"])
def test_fixed_relaxation_matches_clipped_relaxation(sizes, beta, steps, bounds):
    net, g = _net(sizes)
    x, t, s0 = _batch(net, g, lo=bounds[0], hi=bounds[1])
    target = t if beta else None
    ref = relax(net, _clipped(steps), s0, x, beta=beta, target=target, throw=False).state if steps else s0
    got = FixedStepRelaxation(epsilon=0.5, steps=steps).relax(net, s0, x, beta=beta, target=target)
    assert torch.allclose(got, ref, atol=TIGHT, rtol=0)


@pytest.mark.parametrize("epsilon", [0.2, 1.0])
def test_fixed_relaxation_other_steps(epsilon):
    net, g = _net(SIZES["2 hidden"])
    x, t, s0 = _batch(net, g)
    ref = relax(net, ClippedRelaxation(epsilon=epsilon, tol=1e-300, max_steps=7), s0, x, beta=0.3,
                target=t, throw=False).state
    got = FixedStepRelaxation(epsilon=epsilon, steps=7).relax(net, s0, x, beta=0.3, target=t)
    assert torch.allclose(got, ref, atol=TIGHT, rtol=0)


def test_workspace_reuse_gives_the_same_states():
    net, g = _net(SIZES["2 hidden"])
    r = FixedStepRelaxation(epsilon=0.5, steps=5)
    work = Workspace()
    for _ in range(3):  # repeated calls reuse buffers and plans; weights change in between
        x, t, s0 = _batch(net, g)
        c_fresh = r.scaled_drive(net, x)
        c_work = r.scaled_drive(net, x, work=work)
        assert torch.equal(c_fresh, c_work)
        s0T = work.get("s0", (net.n_state, 6), x).copy_(s0.T)
        fresh = r.run(net, s0.T.contiguous(), c_fresh, beta=0.7, targetT=t.T.contiguous())
        reused = r.run(net, s0T, c_work, beta=0.7, targetT=t.T.contiguous(), work=work, tag="p")
        assert torch.equal(fresh, reused)
        for w in net.weights:
            w.mul_(0.9)


def test_fixed_relaxation_errors():
    net, g = _net(SIZES["1 hidden"])
    x, t, s0 = _batch(net, g)
    with pytest.raises(ConfigError, match="epsilon"):
        FixedStepRelaxation(epsilon=0.0)
    with pytest.raises(ConfigError, match="steps"):
        FixedStepRelaxation(steps=-1)
    with pytest.raises(ConfigError, match="target"):
        FixedStepRelaxation().relax(net, s0, x, beta=1.0)
    with pytest.raises(ConfigError, match=r"x must be"):
        FixedStepRelaxation().relax(net, s0, x[:, :5])


# ---------------------------------------------------------------------------------------------
# The fused EP step == EquilibriumPropagation.estimate + sgd_step
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [SIZES["1 hidden"], SIZES["2 hidden"]], ids=["1 hidden", "2 hidden"])
@pytest.mark.parametrize("estimator", ["one_sided", "random_sign", "centred"])
def test_ep_step_equals_generic_rule_and_sgd(sizes, estimator):
    net, g = _net(sizes, scale=1.0)
    fused = LayeredNetwork([w.clone() for w in net.weights], [b.clone() for b in net.biases])
    rates = tuple(0.3 / (k + 1) for k in range(len(net.weights)))
    lr = {f"W{k}": r for k, r in enumerate(rates)} | {f"b{k + 1}": r for k, r in enumerate(rates)}
    rule = EquilibriumPropagation(beta=0.7, estimator=estimator, solver=_clipped(20),
                                  nudged_solver=_clipped(4), throw=False)
    g_generic, g_fused = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    work = Workspace()
    relax20 = FixedStepRelaxation(epsilon=0.5, steps=20)
    signs = set()
    for _ in range(6):  # several minibatches: buffers and plans are reused across them
        x, t, s0 = _batch(net, g)
        if estimator == "random_sign":
            signs.add(torch.randint(0, 2, (1,), generator=g_generic.clone_state()).item())
        sgd_step(net, rule.gradients(net, x, t, s0=s0, generator=g_generic), lr)
        s0T = work.get("s0", (net.n_state, 6), x).copy_(s0.T)
        free = C.ep_step(fused, relax20, x, t.T.contiguous(), s0T, beta=0.7, estimator=estimator,
                         nudged_steps=4, rates=rates, generator=g_fused, work=work)
        assert free.shape == (net.n_state, 6)
    for k in net.parameters:
        assert torch.allclose(fused.trainable()[k], net.trainable()[k], atol=TIGHT, rtol=0), k
    if estimator == "random_sign":
        assert signs == {0, 1}  # both signs of beta were exercised


@pytest.mark.parametrize("estimator", ["one_sided", "random_sign"])
def test_train_epoch_equals_a_generic_loop_with_persistent_states(estimator):
    """Two epochs (random order, windows of deferred W_0 updates, a partial last minibatch,
    stored free states) against the same loop written with the generic rule, relax and sgd_step."""
    n = 4 * C.W0_WINDOW * 2 + 4 * 2 + 1  # two full W_0 windows, a partial one, a partial minibatch
    cfg = C.EPConfig(hidden=(9,), alphas=(0.2, 0.1), batch_size=4, epochs=1, persistent=True, seed=5,
                     estimator=estimator)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 13, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    state = C.init_state(cfg, n, 13, 3, dtype=torch.float64)
    net = LayeredNetwork([w.clone() for w in state.network.weights], [b.clone() for b in state.network.biases])
    gen = state.generator.clone_state()
    stored = torch.zeros(n, net.n_state, dtype=torch.float64)
    rule = EquilibriumPropagation(beta=1.0, estimator=estimator, solver=_clipped(20),
                                  nudged_solver=_clipped(4), throw=False)
    for _ in range(2):
        C.train_epoch(state, cfg, x, y, 3)
    for epoch in (1, 2):
        rates = C.learning_rates(cfg.alphas, "halve", 1, epoch)
        lr = {"W0": rates[0], "b1": rates[0], "W1": rates[1], "b2": rates[1]}
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 4):
            idx = perm[i:i + 4]
            t = torch.nn.functional.one_hot(y[idx], 3).to(torch.float64)
            est = rule.estimate(net, x[idx], t, s0=stored[idx], generator=gen)
            stored[idx] = est.free.state
            sgd_step(net, est.grads, lr)
    assert state.epoch == 2
    for k in net.parameters:
        assert torch.allclose(state.network.trainable()[k], net.trainable()[k], atol=TIGHT, rtol=0), k
    assert torch.allclose(state.persistent, stored, atol=TIGHT, rtol=0)


def test_learning_rate_schedules():
    a = (0.1, 0.05)
    assert C.learning_rates(a, "constant", 1, 7) == a
    assert C.learning_rates(a, "halve", 1, 1) == a
    assert C.learning_rates(a, "halve", 1, 3) == (0.025, 0.0125)
    assert C.learning_rates(a, "halve", 10, 10) == a
    assert C.learning_rates(a, "halve", 10, 11) == (0.05, 0.025)


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"estimator": "two_sided"}, r"estimator must be one of .*one_sided.*got 'two_sided'"),
    ({"schedule": "cosine"}, r"schedule must be one of .*halve.*got 'cosine'"),
    ({"beta": 0.0}, r"beta must be non-zero"),
    ({"hidden": ()}, r"hidden must list"),
    ({"hidden": (500, 0)}, r"hidden\[1\] must be an integer >= 1, got 0"),
    ({"alphas": (0.1,)}, r"alphas must give one rate per weight layer \(2"),
    ({"alphas": (0.1, -1.0)}, r"alphas\[1\] must be a finite number > 0, got -1.0"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
    ({"hidden": (5, 5, 5, 5)}, r"alphas has no default for 4 hidden layers"),
    ({"eval_steps": 0}, r"eval_steps"),
])
def test_ep_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        C.EPConfig(**kwargs)


def test_ep_config_defaults_follow_scellier_bengio_by_depth():
    one, two = C.EPConfig(), C.EPConfig(hidden=(500, 500))
    assert (one.alphas, one.free_steps, one.nudged_steps) == ((0.1, 0.05), 20, 4)
    assert (two.alphas, two.free_steps, two.nudged_steps) == ((0.4, 0.1, 0.01), 100, 6)


@pytest.mark.parametrize("kwargs, match", [
    ({"classes": "3"}, r"at least 2 classes"),
    ({"classes": "0-11"}, r"classes must be in 0\.\.9"),
    ({"per_class": 0}, r"per_class must be an integer >= 1, got 0"),
    ({"test_fraction": 1.5}, r"test_fraction must lie in \(0\.0, 1\.0\)"),
])
def test_data_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        C.DataConfig(**kwargs)


def test_backprop_config_and_run_config_errors():
    with pytest.raises(ConfigError, match=r"output must be one of"):
        C.BackpropConfig(output="softmax")
    with pytest.raises(ConfigError, match=r"backprop.alphas must give one rate per weight layer"):
        C.ClassificationConfig(backprop=C.BackpropConfig(alphas=(0.1, 0.1, 0.1)))


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _rows(x):
    return {bytes(r) for r in (x * 255).round().to(torch.uint8).numpy()}


def test_figure5_split():
    split = C.load_split(C.DataConfig())
    assert split.x_train.shape == (3000, 784) and split.x_train.dtype == torch.float32
    assert torch.bincount(split.y_train).tolist() == [600] * 5
    # the subset's digits 0-4 (1001 + 1127 + 991 + 1032 + 980) minus the training digits
    assert split.y_test.numel() == 5131 - 3000
    assert torch.bincount(split.y_test).tolist() == [401, 527, 391, 432, 380]
    assert not _rows(split.x_train) & _rows(split.x_test)  # disjoint
    again = C.load_split(C.DataConfig())
    assert torch.equal(again.x_train, split.x_train) and torch.equal(again.y_test, split.y_test)
    other = C.load_split(C.DataConfig(split_seed=1))
    assert not torch.equal(other.x_train, split.x_train)


def test_ten_class_fraction_split():
    split = C.load_split(C.DataConfig(classes="0-9", per_class=None, test_fraction=0.2))
    assert (split.y_train.numel(), split.y_test.numel(), split.n_classes) == (8000, 2000, 10)
    assert not _rows(split.x_train) & _rows(split.x_test)


def test_per_class_must_leave_digits_to_hold_out():
    with pytest.raises(ConfigError, match=r"per_class=1001: class label 0 has only 1001 digits"):
        C.load_split(C.DataConfig(classes="0-1", per_class=1001))


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = {np.dtype(np.uint8): 0x08}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def test_idx_directory_split(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 3)
    split = C.load_split(C.DataConfig(classes="0-2", per_class=10, data_dir=str(tmp_path)))
    assert (split.y_train.numel(), split.y_test.numel()) == (30, 20)
    assert "IDX" in split.source
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        C.load_split(C.DataConfig(classes="0-2", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# Backprop reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["linear", "hard_sigmoid"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_backprop_gradients_match_finite_differences(output, loss):
    net, g = _net([7, 6, 5, 3], scale=1.0)
    x, t, _ = _batch(net, g, batch=4)
    rule = Backprop(output=output, loss=loss)
    grads = rule.gradients(net, x, t)
    assert set(grads) == set(net.parameters)

    def j(params):
        from memprop.learning.backprop import loss_value

        return float(loss_value(feedforward(net.with_parameters(params), x, output=output), t, loss))

    h = 1e-6
    for name in ("W0", "W2", "b1", "b3"):
        p = net.trainable()[name]
        flat = p.reshape(-1)
        for i in (0, flat.numel() // 2):
            plus = {k: v.clone() for k, v in net.trainable().items()}
            minus = {k: v.clone() for k, v in net.trainable().items()}
            plus[name].view(-1)[i] += h
            minus[name].view(-1)[i] -= h
            fd = (j(plus) - j(minus)) / (2 * h)
            # central difference, O(h^2) ~ 1e-12, unless a clip kink lies within h (probability ~h)
            assert abs(fd - float(grads[name].reshape(-1)[i])) < 1e-7, (name, i)


# ---------------------------------------------------------------------------------------------
# Checkpoints and exact resumption
# ---------------------------------------------------------------------------------------------


def _tiny_cfg(epochs=3, estimator="one_sided", persistent=True, backprop=False):
    ep = C.EPConfig(hidden=(24,), epochs=epochs, estimator=estimator, persistent=persistent,
                    eval_steps=10, schedule="halve", seed=4)
    data = C.DataConfig(classes="0-2", per_class=40, split_seed=4)
    bp = C.BackpropConfig.like(ep) if backprop else None
    return C.ClassificationConfig(data=data, ep=ep, backprop=bp, eval_sample=20)


def test_checkpoint_roundtrip_and_atomicity(tmp_path):
    g = torch.Generator().manual_seed(1)
    ck = Checkpoint(kind="k", epoch=3, params={"W0": torch.rand(3, 2)}, config={"a": [1, 2]},
                    history=[{"epoch": 1, "test_error": 0.5}], persistent=torch.rand(4, 5),
                    rng={"train": g.get_state()}, schedule={"alphas": [0.1]})
    path = save_checkpoint(tmp_path / "c.pt", ck)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
    back = load_checkpoint(path)
    assert back.kind == "k" and back.epoch == 3 and back.config == {"a": [1, 2]}
    assert torch.equal(back.params["W0"], ck.params["W0"]) and torch.equal(back.persistent, ck.persistent)
    assert torch.equal(back.rng["train"], g.get_state()) and back.history == ck.history


class _Payload:
    def __reduce__(self):  # would run code if unpickled without weights_only
        return (print, ("executed!",))


def test_checkpoint_loading_never_executes_code(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "memprop.checkpoint", "x": _Payload()}, evil)
    with pytest.raises(DataError, match="not a readable memprop checkpoint"):
        load_checkpoint(evil)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def _strip_seconds(history):
    return [{k: v for k, v in e.items() if "seconds" not in k} for e in history]


@pytest.mark.parametrize("estimator", ["one_sided", "random_sign"])
def test_resume_continues_exactly(tmp_path, estimator):
    cfg = _tiny_cfg(estimator=estimator)
    split = C.load_split(cfg.data)
    straight = C.run_ep(cfg, split)
    ckpt = tmp_path / "checkpoint.pt"
    C.run_ep(cfg, split, checkpoint=ckpt, stop_after=1)  # "interrupted" after epoch 1
    assert load_checkpoint(ckpt).epoch == 1
    resumed = C.run_ep(cfg, split, checkpoint=ckpt, resume=True)
    assert resumed.epoch == 3
    assert _strip_seconds(resumed.history) == _strip_seconds(straight.history)
    for k, v in straight.network.trainable().items():
        assert torch.equal(resumed.network.trainable()[k], v), k  # bit for bit
    assert torch.equal(resumed.persistent, straight.persistent)


def test_resume_can_extend_epochs_but_not_change_options(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    cfg = _tiny_cfg(epochs=1)
    split = C.load_split(cfg.data)
    C.run_ep(cfg, split, checkpoint=ckpt)
    longer = C.run_ep(_tiny_cfg(epochs=2), split, checkpoint=ckpt, resume=True)
    assert longer.epoch == 2
    with pytest.raises(ConfigError, match=r"holds 2 completed epochs, more than epochs=1"):
        C.run_ep(_tiny_cfg(epochs=1), split, checkpoint=ckpt, resume=True)
    other = _tiny_cfg(epochs=3, estimator="centred")
    with pytest.raises(ConfigError, match=r"ep\.estimator: checkpoint 'one_sided', now 'centred'"):
        C.run_ep(other, split, checkpoint=ckpt, resume=True)


def _train_argv(out, *extra):
    return ["train", "classify", "--hidden", "24", "--classes", "0-2", "--per-class", "40",
            "--eval-steps", "10", "--seed", "2", "--out", str(out), "--quiet", *extra]


def test_cli_train_resume_matches_uninterrupted_run(tmp_path, capsys):
    assert cli.main(_train_argv(tmp_path / "a", "--epochs", "3", "--estimator", "random-sign")) == 0
    assert cli.main(_train_argv(tmp_path / "b", "--epochs", "2", "--estimator", "random-sign")) == 0
    assert cli.main(_train_argv(tmp_path / "b", "--epochs", "3", "--estimator", "random-sign", "--resume")) == 0
    out = capsys.readouterr().out
    assert "held-out error" in out and "backprop reference" in out
    a = json.loads((tmp_path / "a" / "classify.json").read_text())
    b = json.loads((tmp_path / "b" / "classify.json").read_text())
    assert _strip_seconds(a["epochs"]) == _strip_seconds(b["epochs"])
    assert a["backprop_reference"]["test_error"] == b["backprop_reference"]["test_error"]
    pa, pb = load_checkpoint(tmp_path / "a" / "checkpoint.pt"), load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for k in pa.params:
        assert torch.equal(pa.params[k], pb.params[k])
    assert (tmp_path / "b" / "classify.csv").is_file() and (tmp_path / "b" / "classify.png").is_file()


def test_cli_train_errors(tmp_path, capsys):
    assert cli.main(_train_argv(tmp_path, "--epochs", "1", "--resume")) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    assert cli.main(_train_argv(tmp_path, "--epochs", "1", "--beta", "0")) == 2
    assert "beta must be non-zero" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(_train_argv(tmp_path, "--estimator", "both"))
    assert cli.main(_train_argv(tmp_path, "--epochs", "1", "--backprop-alphas", "0.1")) == 2
    assert "backprop.alphas must give one rate per weight layer" in capsys.readouterr().err


def test_cli_backprop_reference_options():
    args = cli.build_parser().parse_args(_train_argv("x", "--alphas", "0.4", "0.2", "--backprop-alphas", "0.1",
                                                     "0.05", "--backprop-schedule", "constant"))
    cfg = C.train_config(args)
    assert cfg.ep.alphas == (0.4, 0.2) and cfg.ep.schedule == "halve"
    assert cfg.backprop.alphas == (0.1, 0.05) and cfg.backprop.schedule == "constant"


# ---------------------------------------------------------------------------------------------
# Results, plot and the reproduce section
# ---------------------------------------------------------------------------------------------


def test_run_result_shape_and_plot(tmp_path):
    from memprop.io import write_json
    from memprop.plotting.classification import plot_fig5

    cfg = _tiny_cfg(epochs=2, persistent=False, backprop=True)
    result = C.run(cfg)
    keys = {"epoch", "train_error_100", "test_error_100", "train_error", "test_error", "seconds"}
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
    for e in result["epochs"]:
        assert keys <= set(e) and all(0.0 <= e[k] <= 1.0 for k in keys - {"epoch", "seconds"})
    assert 0.0 <= result["backprop_reference"]["test_error"] <= 1.0
    assert result["config"]["ep"]["hidden"] == [24] and result["seconds"] > 0
    rows = C.csv_rows(result)
    assert rows[0]["alpha1"] == 0.1 and rows[1]["alpha2"] == 0.025 and "backprop_test_error" in rows[0]
    write_json(tmp_path / "r.json", result)
    png = plot_fig5(tmp_path / "r.json", tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluation_learns_something():
    """Three classes, 40 digits each, 3 epochs: far better than chance (2/3 error)."""
    cfg = _tiny_cfg(epochs=3)
    state = C.run_ep(cfg, C.load_split(cfg.data))
    assert state.history[-1]["test_error"] < 0.3


def test_reproduce_section(tmp_path):
    args = Namespace(quick=True, seed=0, epochs=1, out=str(tmp_path), quiet=True)
    from memprop.progress import Progress

    section = C.reproduce(args, tmp_path, Progress(enabled=False))
    for name in ("fig5.json", "fig5.csv", "fig5.png"):
        assert (tmp_path / name).is_file()
    fig5 = json.loads((tmp_path / "fig5.json").read_text())
    assert set(fig5) >= {"config", "epochs", "backprop_reference", "seconds"}
    assert fig5["config"]["ep"]["alphas"] == [0.1, 0.05] and fig5["data"]["n_train"] == 3000
    claim = section.claims[0]
    assert claim.holds == (fig5["epochs"][-1]["test_error"] <= C.FIG5_ERROR_BOUND
                           and fig5["epochs"][-1]["test_error"] <= fig5["epochs"][0]["test_error"])
    assert "fig5.png" in claim.plots and section.claims[1].holds is None


# ---------------------------------------------------------------------------------------------
# The real thing (slow)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_reproduce_classification_quick_within_90_s(tmp_path):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "memprop.cli", "reproduce", "classification", "--quick",
                           "--out", str(tmp_path), "--quiet"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert seconds <= 90.0, seconds  # the bound on a 2-core machine
    fig5 = json.loads((tmp_path / "fig5.json").read_text())
    assert len(fig5["epochs"]) == C.FIG5_QUICK_EPOCHS
    assert fig5["epochs"][-1]["test_error"] <= C.FIG5_ERROR_BOUND
    assert math.isfinite(fig5["backprop_reference"]["test_error"])
    assert "Figure 5" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_full_figure5_run_reaches_the_bound(tmp_path):
    assert cli.main(["reproduce", "classification", "--out", str(tmp_path), "--quiet"]) == 0
    fig5 = json.loads((tmp_path / "fig5.json").read_text())
    assert len(fig5["epochs"]) == C.FIG5_EPOCHS
    assert fig5["epochs"][-1]["test_error"] <= C.FIG5_ERROR_BOUND
