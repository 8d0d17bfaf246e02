"""Classification (Figure 5): the engine's fixed-iteration relaxation (the layered network's
fused kernel) and factored EP updates against references, the one training loop's deferred
input-weight updates, training, data splits, the backprop reference, checkpoints and exact
resumption, the CLI and the report section."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from memprop import cli
from memprop.cli.train import train_config
from memprop.crossbar import CrossbarConfig
from memprop.devices import PRESETS
from memprop.errors import ConfigError, DataError
from memprop.experiments import classification as C
from memprop.experiments.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from memprop.experiments.classification.config import (
    FIG5_EPOCHS,
    FIG5_ERROR_BOUND,
    FIG5_QUICK_EPOCHS,
)
from memprop.experiments.classification.training import W0_WINDOW, ep_rule, layer_rates
from memprop.learning import (
    ESTIMATORS,
    AbstractLearningRule,
    EquilibriumPropagation,
    Estimate,
    OuterProducts,
    Scaled,
    deferral_window,
    sgd_step,
    train_epoch,
    trainer,
)
from memprop.learning.backprop import Backprop, feedforward
from memprop.networks import EnergyNetwork, LayeredNetwork, init_symmetric
from memprop.networks.kernel import Kernel
from memprop.networks.layered import LayeredKernel
from memprop.solvers import ClippedRelaxation, Steps, Workspace, relax

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


def _copy(net):
    return LayeredNetwork([w.clone() for w in net.weights], [b.clone() for b in net.biases])


def _batch(net, g, batch=6, lo=0.0, hi=1.0):
    x = torch.rand(batch, net.sizes[0], generator=g, dtype=torch.float64)
    t = torch.nn.functional.one_hot(torch.randint(0, net.sizes[-1], (batch,), generator=g), net.sizes[-1])
    s0 = lo + (hi - lo) * torch.rand(batch, net.n_state, generator=g, dtype=torch.float64)
    return x, t.to(torch.float64), s0


def _plain(net, s0, x, steps, *, epsilon=0.5, beta=0.0, target=None):
    """The reference: ``steps`` iterations of s <- clip(s + epsilon f(s), 0, 1), f the model's own
    vector field -dF/ds, written as a plain float64 loop (no kernel, no workspace)."""
    d = net.drive(x)
    s = s0.clone()
    for _ in range(steps):
        s = (s + epsilon * net.vector_field(s, d, beta=beta, target=target)).clamp(0.0, 1.0)
    return s


def _generic(net, s0, x, steps, *, epsilon=0.5, beta=0.0, target=None):
    """The generic :class:`Kernel` (the network's vector field, (batch, n) layout) for ``steps`` steps."""
    k = Kernel(net, net.drive(x), h=epsilon, beta=beta, target=target)
    return k.iterate(k.start(s0), steps, False)[0].clone() if steps else s0.clone()


def _reference_ep(net, x, t, s0, *, beta, estimator, generator, free_steps=20, nudged_steps=4):
    """EP's estimate from plain relaxations and dense energy gradients: (dE/dtheta(s+) -
    dE/dtheta(s-)) / scale; the sign of random_sign drawn as the rule draws it."""
    free = _plain(net, s0, x, free_steps)
    if estimator == "centred":
        plus = _plain(net, free, x, nudged_steps, beta=beta, target=t)
        minus = _plain(net, free, x, nudged_steps, beta=-beta, target=t)
        scale = 2.0 * beta
    else:
        if estimator == "random_sign":
            beta = beta * (torch.randint(0, 2, (1,), generator=generator).item() * 2 - 1)
        plus, minus, scale = _plain(net, free, x, nudged_steps, beta=beta, target=t), free, beta
    gp, gm = net.energy_grads(plus, x), net.energy_grads(minus, x)
    return {k: (gp[k] - gm[k]) / scale for k in gp}, free


def _ep(estimator, beta=0.7, epsilon=0.5, free=20, nudged=4):
    return EquilibriumPropagation(beta=beta, estimator=estimator, solver=ClippedRelaxation(epsilon=epsilon),
                                  stop=Steps(free), nudged_stop=Steps(nudged), throw=False)


# ---------------------------------------------------------------------------------------------
# relax(stop=Steps(n)) through the fused LayeredKernel == the generic Kernel == a plain loop
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
@pytest.mark.parametrize("steps", [0, 1, 2, 20])
@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-0.4, 1.4)], ids=["in [0,1]", "outside"])
def test_fixed_step_relaxation_matches_generic_kernel_and_plain_loop(sizes, beta, steps, bounds):
    net, g = _net(sizes)
    x, t, s0 = _batch(net, g, lo=bounds[0], hi=bounds[1])
    s0_before = s0.clone()
    target = t if beta else None
    assert isinstance(net.kernel(net.drive(x), h=0.5), LayeredKernel)  # the path relax takes
    eq = relax(net, ClippedRelaxation(epsilon=0.5), s0, x, beta=beta, target=target, stop=Steps(steps),
               throw=False)
    assert torch.equal(s0, s0_before)  # the initial state is never written
    assert eq.steps.tolist() == [steps] * 6 and eq.converged.all() and eq.residual.isnan().all()
    assert torch.allclose(eq.state, _generic(net, s0, x, steps, beta=beta, target=target), atol=TIGHT, rtol=0)
    ref = _plain(net, s0, x, steps, beta=beta, target=target)
    assert torch.allclose(eq.state, ref, atol=TIGHT, rtol=0)
    if steps:
        # the generic kernel under a tolerance far below any float64 residual: the compacting
        # loop runs exactly `steps` steps (an element already a fixed point to the last bit is
        # recorded early, which changes nothing)
        tol = relax(net, ClippedRelaxation(epsilon=0.5, tol=1e-300, max_steps=steps), s0, x, beta=beta,
                    target=target, throw=False).state
        assert torch.allclose(eq.state, tol, atol=TIGHT, rtol=0)
        # Steps(n, check=True) measures the last step's residual, |s_n - s_{n-1}|_inf / epsilon
        checked = relax(net, ClippedRelaxation(epsilon=0.5), s0, x, beta=beta, target=target,
                        stop=Steps(steps, check=True), throw=False)
        assert torch.equal(checked.state, eq.state)
        prev = _plain(net, s0, x, steps - 1, beta=beta, target=target)
        r = (ref - prev).abs().amax(-1) / 0.5
        assert torch.allclose(checked.residual, r, atol=1e-10, rtol=0) and checked.converged.all()


@pytest.mark.parametrize("epsilon", [0.2, 1.0])
def test_fixed_step_relaxation_other_steps(epsilon):
    net, g = _net(SIZES["2 hidden"])
    x, t, s0 = _batch(net, g)
    got = relax(net, ClippedRelaxation(epsilon=epsilon), s0, x, beta=0.3, target=t, stop=Steps(7)).state
    assert torch.allclose(got, _generic(net, s0, x, 7, epsilon=epsilon, beta=0.3, target=t), atol=TIGHT, rtol=0)
    assert torch.allclose(got, _plain(net, s0, x, 7, epsilon=epsilon, beta=0.3, target=t), atol=TIGHT, rtol=0)


def test_workspace_reuse_gives_the_same_states():
    """Repeated relaxations through one workspace (buffers, plans, scaled weights and drives
    reused) give bit for bit the states of fresh ones, also when the weights or the drive change
    in place between calls, and a phase started from another phase's result leaves it intact."""
    net, g = _net(SIZES["2 hidden"])
    solver = ClippedRelaxation(epsilon=0.5)
    work = Workspace()
    for _ in range(3):  # weights change in between
        x, t, s0 = _batch(net, g)
        fresh_free = relax(net, solver, s0, x, stop=Steps(5)).state.clone()
        fresh_nudged = relax(net, solver, fresh_free, x, beta=0.7, target=t, stop=Steps(3)).state.clone()
        d = net.drive(x)
        free = relax(net, solver, s0, drive=d, stop=Steps(5), workspace=work, tag="free").state
        nudged = relax(net, solver, free, drive=d, beta=0.7, target=t, stop=Steps(3), workspace=work, tag="plus").state
        assert torch.equal(free, fresh_free) and torch.equal(nudged, fresh_nudged)
        d.mul_(0.5)  # the same memory, other values: the kernel's scaled drive must follow
        again = relax(net, solver, s0, drive=d, stop=Steps(5), workspace=work, tag="free").state
        assert torch.equal(again, relax(net, solver, s0, drive=d.clone(), stop=Steps(5)).state)
        for w in net.weights:
            w.mul_(0.9)


def test_a_new_drive_at_a_freed_address_is_not_taken_for_the_old_one():
    """Regression: the kernel reuses a drive's scaled copy across the phases of a minibatch; a
    new drive allocated where a freed one lived (the same address, version 0 again) must not
    pass for it (it did, silently: minibatch by minibatch training of a 2-hidden-layer net got
    the previous minibatch's drive)."""
    net, g = _net(SIZES["2 hidden"])
    solver = ClippedRelaxation(epsilon=0.5)
    work = Workspace()
    batches = [_batch(net, g) for _ in range(4)]  # made first: nothing else is allocated in between
    d = None
    for x, t, s0 in batches:
        del d  # the previous drive is freed: the allocator hands its memory to the next one
        d = net.drive(x)
        got = relax(net, solver, s0, drive=d, stop=Steps(5), workspace=work, tag="free").state
        nudged = relax(net, solver, got, drive=d, beta=0.5, target=t, stop=Steps(3), workspace=work,
                       tag="plus").state
        assert torch.allclose(got, _plain(net, s0, x, 5), atol=TIGHT, rtol=0)
        assert torch.allclose(nudged, _plain(net, got, x, 3, beta=0.5, target=t), atol=TIGHT, rtol=0)


def test_fixed_step_relaxation_errors():
    net, g = _net(SIZES["1 hidden"])
    x, t, s0 = _batch(net, g)
    solver = ClippedRelaxation(epsilon=0.5)
    with pytest.raises(ConfigError, match="epsilon"):
        ClippedRelaxation(epsilon=0.0)
    with pytest.raises(ConfigError, match=r"n must be an integer >= 0, got -1"):
        Steps(-1)
    with pytest.raises(ConfigError, match="stop must be ToTolerance"):
        relax(net, solver, s0, x, stop=20)
    with pytest.raises(ConfigError, match="target is required"):
        relax(net, solver, s0, x, beta=1.0, stop=Steps(3))
    with pytest.raises(ConfigError, match=r"x must have last dimension 13"):
        relax(net, solver, s0, x[:, :5], stop=Steps(3))


# ---------------------------------------------------------------------------------------------
# Factored EP gradients and their updates == dense energy-gradient differences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_factored_ep_gradients_equal_energy_grad_differences(sizes, estimator):
    net, g = _net(sizes, scale=1.0)
    x, t, s0 = _batch(net, g)
    gen = torch.Generator().manual_seed(3)
    ref_gen = gen.clone_state()
    est = _ep(estimator).estimate(net, x, t, s0=s0, generator=gen)
    L = len(net.weights)
    # factored: the weights as outer products (the clamped input's as one product of the
    # difference), the biases as row sums
    assert len(est.grads["W0"].terms) == 1 and est.grads["W0"].terms[0][0] is x
    for k in range(L):
        assert isinstance(est.grads[f"W{k}"], OuterProducts) and isinstance(est.grads[f"b{k + 1}"], Scaled)
        assert k == 0 or len(est.grads[f"W{k}"].terms) == 2
    ref, free = _reference_ep(net, x, t, s0, beta=0.7, estimator=estimator, generator=ref_gen)
    assert torch.allclose(est.free.state, free, atol=TIGHT, rtol=0)
    dense = est.dense()
    assert set(dense) == set(ref) == set(net.weight_names)
    for k, v in ref.items():
        assert dense[k].shape == net.trainable()[k].shape, k
        assert torch.allclose(dense[k], v, atol=TIGHT, rtol=0), k
        # the update -lr grad, as a tensor and applied in place
        assert torch.allclose(est.grads[k].delta(0.3), -0.3 * v, atol=TIGHT, rtol=0), k
        W = net.trainable()[k].clone()
        est.grads[k].apply_(W, 0.3)
        assert torch.allclose(W, net.trainable()[k] - 0.3 * v, atol=TIGHT, rtol=0), k
    assert torch.equal(ref_gen.get_state(), gen.get_state())  # the same draws (random_sign: one)
    # rule.gradients: the same estimate as dense tensors
    again = _ep(estimator).gradients(net, x, t, s0=s0, generator=torch.Generator().manual_seed(3))
    for k, v in dense.items():
        assert torch.equal(again[k], v), k


@pytest.mark.parametrize("sizes", [SIZES["1 hidden"], SIZES["2 hidden"]], ids=["1 hidden", "2 hidden"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_ep_updates_through_the_engine_equal_a_plain_reference(sizes, estimator):
    """Six minibatches of EP: the engine (fused relaxations in one reused workspace, factored
    estimates applied in place by sgd_step) against plain relaxations, dense gradients and
    theta -= lr grad."""
    net, g = _net(sizes, scale=1.0)
    ref_net = _copy(net)
    lr = layer_rates(tuple(0.3 / (k + 1) for k in range(len(net.weights))))
    rule = _ep(estimator)
    g_engine, g_ref = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    work = Workspace()
    signs = set()
    for _ in range(6):  # several minibatches: buffers and plans are reused across them
        x, t, s0 = _batch(net, g)
        if estimator == "random_sign":
            signs.add(torch.randint(0, 2, (1,), generator=g_engine.clone_state()).item())
        est = rule.estimate(net, x, t, s0=s0, generator=g_engine, workspace=work, validate=False)
        assert est.free.state.shape == (6, net.n_state)
        sgd_step(net, est.grads, lr)
        grads, _ = _reference_ep(ref_net, x, t, s0, beta=0.7, estimator=estimator, generator=g_ref)
        for k, v in ref_net.trainable().items():
            v.sub_(grads[k], alpha=lr[k])
    for k in net.weight_names:
        assert torch.allclose(net.trainable()[k], ref_net.trainable()[k], atol=TIGHT, rtol=0), k
    if estimator == "random_sign":
        assert signs == {0, 1}  # both signs of beta were exercised


# ---------------------------------------------------------------------------------------------
# The one training loop: deferred input-weight updates == minibatch-by-minibatch updates
# ---------------------------------------------------------------------------------------------


def _data(n, n_in=13, n_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_in, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y, torch.nn.functional.one_hot(y, n_classes).to(torch.float64)


# two full W_0 windows, a partial one, a partial last minibatch (batch_size 4)
N_WINDOWED = 4 * W0_WINDOW * 2 + 4 * 2 + 1


@pytest.mark.parametrize("sizes", [[13, 9, 3], [13, 9, 7, 3]], ids=["1 hidden", "2 hidden"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("persistent", [True, False], ids=["persistent", "from zero"])
def test_deferred_input_updates_equal_minibatch_updates(sizes, estimator, persistent):
    n = N_WINDOWED
    x, _, t = _data(n)
    net, g = _net(sizes, scale=1.0)
    order = torch.randperm(n, generator=g)
    s_init = torch.rand(n, net.n_state, generator=g, dtype=torch.float64)
    lr = layer_rates(tuple(0.2 / (k + 1) for k in range(len(net.weights))))
    out = {}
    for defer in (W0_WINDOW, 0):
        m = _copy(net)
        s0 = s_init.clone() if persistent else None
        res = train_epoch(m, _ep(estimator, beta=1.0), x, t, lr=lr, batch_size=4, order=order, s0=s0,
                          persistent=persistent, generator=torch.Generator().manual_seed(5),
                          keep_free=not persistent, record_norms=True, defer_input=defer)
        out[defer] = (m, s0 if persistent else res.free, res)
    (a, fa, ra), (b, fb, rb) = out[W0_WINDOW], out[0]
    for k in net.weight_names:
        assert torch.allclose(a.trainable()[k], b.trainable()[k], atol=TIGHT, rtol=0), k
    assert not torch.equal(a.W0, net.W0)  # trained
    assert fa.shape == (n, net.n_state) and torch.allclose(fa, fb, atol=TIGHT, rtol=0)
    assert torch.equal(ra.steps, rb.steps) and ra.update_norm.shape == (math.ceil(n / 4),)


@pytest.mark.parametrize("overhead", [None, 100.0], ids=["window by rule", "window 4"])
@pytest.mark.parametrize("estimator", ["one_sided", "random_sign"])
def test_ep_epoch_equals_a_generic_loop_with_persistent_states(estimator, overhead, monkeypatch):
    """Two epochs of the study's EP epoch (random order, deferred W_0 updates, a partial last
    minibatch, stored free states) against the same loop written with the rule's estimate and
    sgd_step, minibatch by minibatch. This small net's windows are 1 by the rule; a looser
    overhead bound gives windows of W0_WINDOW minibatches."""
    if overhead is not None:
        monkeypatch.setattr(trainer, "DEFER_OVERHEAD", overhead)
    assert deferral_window(4, 13, 9, W0_WINDOW) == (1 if overhead is None else W0_WINDOW)
    n = N_WINDOWED
    ep = C.EPConfig(hidden=(9,), alphas=(0.2, 0.1), batch_size=4, epochs=1, persistent=True, seed=5,
                    estimator=estimator)
    cfg = C.ClassificationConfig(ep=ep, backprop=None, dtype="float64")
    x, y, _ = _data(n)
    state = C.init_state(cfg, n, 13, 3)
    assert state.network.W0.dtype == torch.float64
    net = _copy(state.network)
    gen = state.generator.clone_state()
    stored = torch.zeros(n, net.n_state, dtype=torch.float64)
    rule = ep_rule(ep)
    for _ in range(2):
        C.ep_epoch(state, ep, x, y, 3)
    for epoch in (1, 2):
        lr = layer_rates(C.learning_rates(ep.alphas, "halve", 1, epoch))
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 4):
            idx = perm[i:i + 4]
            t = torch.nn.functional.one_hot(y[idx], 3).to(torch.float64)
            est = rule.estimate(net, x[idx], t, s0=stored[idx], generator=gen)
            stored[idx] = est.free.state
            sgd_step(net, est.grads, lr)
    assert state.epoch == 2
    for k in net.weight_names:
        assert torch.allclose(state.network.trainable()[k], net.trainable()[k], atol=TIGHT, rtol=0), k
    assert torch.allclose(state.persistent, stored, atol=TIGHT, rtol=0)
    assert torch.equal(state.generator.get_state(), gen.get_state())


class _DenseEP(AbstractLearningRule):
    """EP whose estimate is handed over as dense tensors (no factors)."""

    def estimate(self, network, x, target, **kw):
        est = _ep("one_sided").estimate(network, x, target, **kw)
        return Estimate(est.dense(), est.free)


def test_the_deferral_window_keeps_its_corrections_within_the_overhead_bound():
    assert [deferral_window(b, 784, 500, W0_WINDOW) for b in (1, 20, 100, 500)] == [4, 4, 2, 1]
    assert deferral_window(1, 784, 500, 9) == 9 and deferral_window(10_000, 13, 9, 4) == 1

    def extra(b, k, n0, n1):  # the corrections' FLOPs over the window's own (module docstring)
        return b * (k - 1) * (n0 + n1) / (4 * n0 * n1)

    for b, n0, n1 in [(20, 784, 500), (7, 13, 9), (64, 3072, 1000), (3, 100, 100)]:
        k = deferral_window(b, n0, n1, 64)
        assert extra(b, k, n0, n1) <= trainer.DEFER_OVERHEAD < extra(b, k + 1, n0, n1)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        deferral_window(0, 784, 500, 4)


def test_deferred_input_updates_errors():
    x, _, t = _data(12)
    net, _ = _net([13, 9, 3], scale=1.0)
    with pytest.raises(ConfigError, match=r"defer_input must be an integer >= 0"):
        train_epoch(net, _ep("one_sided"), x, t, lr=0.1, batch_size=4, defer_input=-1)
    with pytest.raises(ConfigError, match=r"gradient for W0 is x\^T D"):
        train_epoch(net, _DenseEP(), x, t, lr=0.1, batch_size=4, defer_input=2)
    energy = EnergyNetwork(init_symmetric(6, scale=0.1, generator=torch.Generator().manual_seed(0),
                                          dtype=torch.float64))
    with pytest.raises(ConfigError, match="defer_input needs a network with an input weight"):
        train_epoch(energy, _ep("one_sided"), torch.zeros(4, 6, dtype=torch.float64),
                    torch.zeros(4, 6, dtype=torch.float64), lr=0.1, defer_input=2)
    net.on_crossbars(CrossbarConfig(device=PRESETS["epiram"]), names=["W0"], symmetric=False,
                     generator=torch.Generator().manual_seed(1))
    with pytest.raises(ConfigError, match="defer_input needs the input weight off hardware"):
        train_epoch(net, _ep("one_sided"), x, t, lr=0.1, batch_size=4, defer_input=2)


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
    assert set(grads) == set(net.weight_names)

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
    a, b = straight.network.state_dict(), resumed.network.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(resumed.persistent, straight.persistent)
    assert torch.equal(resumed.generator.get_state(), straight.generator.get_state())
    assert load_checkpoint(ckpt).epoch == 3


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
    cfg = train_config(args)
    assert cfg.ep.alphas == (0.4, 0.2) and cfg.ep.schedule == "halve"
    assert cfg.backprop.alphas == (0.1, 0.05) and cfg.backprop.schedule == "constant"
    assert cfg.device is None and cfg.dtype == "float32" and cfg.torch_device == "cpu"


@pytest.mark.parametrize("spelling, canonical", [("one-sided", "one_sided"), ("one_sided", "one_sided"),
                                                 ("random-sign", "random_sign"), ("centred", "centred")])
def test_cli_estimator_spellings(spelling, canonical):
    args = cli.build_parser().parse_args(_train_argv("x", "--estimator", spelling))
    assert train_config(args).ep.estimator == canonical


def test_cli_train_refuses_to_replace_a_run(tmp_path, capsys):
    argv = _train_argv(tmp_path, "--epochs", "1", "--no-backprop", "--estimator", "one-sided")
    assert cli.main(argv) == 0
    before = (tmp_path / "classify.json").read_bytes()
    ckpt_before = (tmp_path / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a finished run already (checkpoint.pt, classify.json)" in err and "--resume" in err and "--force" in err
    assert (tmp_path / "classify.json").read_bytes() == before  # untouched
    assert (tmp_path / "checkpoint.pt").read_bytes() == ckpt_before
    (tmp_path / "checkpoint.pt").unlink()  # a finished run's results alone are protected too
    assert cli.main(argv) == 2
    assert "holds a finished run already (classify.json)" in capsys.readouterr().err
    assert cli.main([*argv, "--force"]) == 0  # replaced: a fresh run, the same numbers
    again = json.loads((tmp_path / "classify.json").read_text())
    assert _strip_seconds(again["epochs"]) == _strip_seconds(json.loads(before)["epochs"])
    assert load_checkpoint(tmp_path / "checkpoint.pt").epoch == 1


# ---------------------------------------------------------------------------------------------
# Results, plot and the reproduce section
# ---------------------------------------------------------------------------------------------


def test_run_result_shape_and_plot(tmp_path):
    from memprop.io import write_json
    from memprop.plotting import save
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
    fig = plot_fig5(tmp_path / "r.json")  # a path or the result itself; returns the figure
    assert len(fig.axes[0].lines) == len(plot_fig5(result).axes[0].lines) == 5  # 4 curves + reference
    png = save(fig, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.png"]


def test_evaluation_learns_something():
    """Three classes, 40 digits each, 3 epochs: far better than chance (2/3 error)."""
    cfg = _tiny_cfg(epochs=3)
    state = C.run_ep(cfg, C.load_split(cfg.data))
    assert state.history[-1]["test_error"] < 0.3


def test_reproduce_section(tmp_path, capsys):
    assert cli.main(["reproduce", "classification", "--quick", "--epochs", "1", "--seed", "0",
                     "--out", str(tmp_path), "--quiet"]) == 0
    for name in ("fig5.json", "fig5.csv", "fig5.png", "report.md"):
        assert (tmp_path / name).is_file()
    fig5 = json.loads((tmp_path / "fig5.json").read_text())
    assert set(fig5) >= {"config", "epochs", "backprop_reference", "seconds"}
    assert fig5["config"]["ep"]["alphas"] == [0.1, 0.05] and fig5["data"]["n_train"] == 3000
    assert len(fig5["epochs"]) == 1 and fig5["config"]["device"] is None and "device" not in fig5
    section = C.section(fig5, command="memprop reproduce classification")
    claim = section.claims[0]
    assert claim.holds == (fig5["epochs"][-1]["test_error"] <= FIG5_ERROR_BOUND
                           and fig5["epochs"][-1]["test_error"] <= fig5["epochs"][0]["test_error"])
    assert "fig5.png" in claim.plots and section.claims[1].holds is None
    assert "Figure 5" in (tmp_path / "report.md").read_text()


# ---------------------------------------------------------------------------------------------
# The real thing (slow)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_reproduce_classification_quick_end_to_end(tmp_path):
    # Its time is a benchmark's figure (README), not a test's.
    proc = subprocess.run([sys.executable, "-m", "memprop", "reproduce", "classification", "--quick",
                           "--out", str(tmp_path), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    fig5 = json.loads((tmp_path / "fig5.json").read_text())
    assert len(fig5["epochs"]) == FIG5_QUICK_EPOCHS
    assert fig5["epochs"][-1]["test_error"] <= FIG5_ERROR_BOUND
    assert math.isfinite(fig5["backprop_reference"]["test_error"])
    assert "Figure 5" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_full_figure5_run_reaches_the_bound(tmp_path):
    assert cli.main(["reproduce", "classification", "--out", str(tmp_path), "--quiet"]) == 0
    fig5 = json.loads((tmp_path / "fig5.json").read_text())
    assert len(fig5["epochs"]) == FIG5_EPOCHS
    assert fig5["epochs"][-1]["test_error"] <= FIG5_ERROR_BOUND
