"""Learning rules against the exact gradient; masks, symmetry, baselines, validation."""

import math

import pytest
import torch

from memprop import ConfigError
from memprop._validate import all_finite
from memprop.learning import (
    EquilibriumPropagation,
    Hebbian,
    RecurrentBackprop,
    Storkey,
    implicit_gradient,
    sgd_step,
    unrolled_gradient,
)
from memprop.networks import (
    AdditiveNetwork,
    EnergyNetwork,
    HopfieldNetwork,
    band_mask,
    init_symmetric,
)
from memprop.solvers import AndersonSolver, EulerSolver, FixedPointIteration, relax

from helpers import ALL_RULES, EP_RULES, cosine_and_error, make_model

TIGHT = AndersonSolver(tol=1e-13, max_steps=50_000)


@pytest.mark.parametrize("kind", ["additive", "energy_hidden", "layered"])
def test_unrolled_autograd_agrees_with_implicit_differentiation(kind):
    net, x, t = make_model(kind)
    s0 = net.initial_state((x.shape[0],), generator=torch.Generator().manual_seed(0))
    exact = implicit_gradient(net, x, t, s0=s0, solver=TIGHT)
    unrolled = unrolled_gradient(net, x, t, s0=s0, steps=600, step_size=0.5)
    _, err = cosine_and_error(unrolled, exact)
    # 600 contracting steps leave the trajectory ~1e-12 from the fixed point.
    assert err < 1e-8


@pytest.mark.parametrize("mask_k", [None, 5])
def test_rbp_matches_exact_gradient(mask_k):
    mask = None if mask_k is None else band_mask(12, mask_k)
    net, x, t = make_model("additive", mask=mask)
    s0 = net.initial_state((x.shape[0],), generator=torch.Generator().manual_seed(0))
    rbp = RecurrentBackprop(solver=TIGHT, side_solver=EulerSolver(dt=0.5, tol=1e-13, max_steps=50_000))
    est = rbp.gradients(net, x, t, s0=s0)
    exact = implicit_gradient(net, x, t, s0=s0, solver=TIGHT)
    _, err = cosine_and_error(est, exact)
    assert err <= 1e-4  # the bound; converged relaxations give ~1e-11


def _ep_errors(kind, estimator, betas):
    net, x, t = make_model(kind, n=15, batch=2, seed=4)
    s0 = net.initial_state((x.shape[0],), generator=torch.Generator().manual_seed(0))
    exact = implicit_gradient(net, x, t, s0=s0, solver=TIGHT)
    errs = []
    for beta in betas:
        ep = EquilibriumPropagation(beta=beta, estimator=estimator, solver=TIGHT)
        errs.append(cosine_and_error(ep.gradients(net, x, t, s0=s0), exact)[1])
    return errs


def _slope(betas, errs):
    lx = torch.tensor([math.log(b) for b in betas])
    ly = torch.tensor([math.log(e) for e in errs])
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / (lx * lx).sum())


@pytest.mark.parametrize("kind", ["energy", "energy_hidden", "layered"])
def test_one_sided_ep_error_is_first_order_in_beta(kind):
    betas = [0.04, 0.02, 0.01, 0.005]
    slope = _slope(betas, _ep_errors(kind, "one_sided", betas))
    assert 0.9 < slope < 1.1  # O(beta): slope 1 on a log-log fit (diffrax-style order test)


@pytest.mark.parametrize("kind", ["energy", "energy_hidden"])
def test_centred_ep_error_is_second_order_in_beta(kind):
    betas = [0.08, 0.04, 0.02, 0.01]
    errs = _ep_errors(kind, "centred", betas)
    assert 1.9 < _slope(betas, errs) < 2.1  # O(beta^2)
    assert errs[-1] < _ep_errors(kind, "one_sided", [0.01])[0]


def test_random_sign_is_one_sided_with_a_drawn_sign():
    net, x, t = make_model("energy")
    s0 = torch.zeros(x.shape[0], net.n_state, dtype=torch.float64)
    rs = EquilibriumPropagation(beta=0.05, estimator="random_sign", solver=TIGHT)
    signs = set()
    for seed in range(6):
        g = rs.gradients(net, x, t, s0=s0, generator=torch.Generator().manual_seed(seed))
        plus = EquilibriumPropagation(beta=0.05, estimator="one_sided", solver=TIGHT).gradients(net, x, t, s0=s0)
        minus = EquilibriumPropagation(beta=-0.05, estimator="one_sided", solver=TIGHT).gradients(net, x, t, s0=s0)
        if torch.equal(g["W"], plus["W"]):
            signs.add(1)
        elif torch.equal(g["W"], minus["W"]):
            signs.add(-1)
        else:
            raise AssertionError("random-sign estimate equals neither one-sided estimate")
    assert signs == {1, -1}


def _model_for(rule_name, mask, batched=False):
    g = torch.Generator().manual_seed(7)
    n = 10
    W = init_symmetric(n, scale=0.1, mask=mask, configs=3 if batched else None, generator=g, dtype=torch.float64)
    shape = (3, 2, n) if batched else (2, n)
    x = torch.sign(torch.randn(*shape, generator=g, dtype=torch.float64))
    if rule_name in EP_RULES:
        return EnergyNetwork(W, mask=mask), x, x * 0.8
    if rule_name == "rbp":
        return AdditiveNetwork(W, mask=mask), x, x * 0.8
    return HopfieldNetwork(W, mask=mask), x, x


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("rule_name", sorted(ALL_RULES))
def test_every_rule_keeps_w_symmetric_and_masked(rule_name, batched):
    mask = band_mask(10, 6)
    net, x, t = _model_for(rule_name, mask, batched)
    rule = ALL_RULES[rule_name]()
    for step in range(3):
        grads = rule.gradients(net, x, t, generator=torch.Generator().manual_seed(step))
        assert set(grads) == {"W"} and grads["W"].shape == net.W.shape
        sgd_step(net, grads, 0.5)
    W = net.W
    assert torch.equal(W, W.mT)
    assert bool((W[..., ~mask] == 0).all())
    assert bool((W.diagonal(dim1=-2, dim2=-1) == 0).all())
    assert bool(W.abs().sum() > 0)


@pytest.mark.parametrize("rule_name", ["ep_centred", "rbp", "hebbian", "storkey"])
def test_batched_configurations_match_one_at_a_time(rule_name):
    net, x, t = _model_for(rule_name, None, batched=True)
    rule = ALL_RULES[rule_name]()
    s0 = torch.zeros_like(x)
    together = rule.gradients(net, x, t, s0=s0)["W"]
    for c in range(3):
        one = type(net)(net.W[c].clone())
        alone = rule.gradients(one, x[c], t[c], s0=s0[c])["W"]
        torch.testing.assert_close(together[c], alone, rtol=1e-7, atol=1e-9)  # solver tol 1e-9


def test_hebbian_matches_direct_transcription():
    g = torch.Generator().manual_seed(0)
    xi = torch.sign(torch.randn(3, 7, generator=g, dtype=torch.float64))
    net = HopfieldNetwork(torch.zeros(7, 7, dtype=torch.float64))
    sgd_step(net, Hebbian().gradients(net, None, xi), 1.0)
    n = 7
    ref = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            if i != j:
                ref[i, j] = sum(float(xi[m, i] * xi[m, j]) for m in range(3)) / n
    torch.testing.assert_close(net.W, ref, rtol=0, atol=1e-15)


def test_storkey_matches_direct_transcription():
    g = torch.Generator().manual_seed(1)
    n, P = 6, 4
    xi = torch.sign(torch.randn(P, n, generator=g, dtype=torch.float64))
    net = HopfieldNetwork(torch.zeros(n, n, dtype=torch.float64))
    sgd_step(net, Storkey().gradients(net, None, xi), 1.0)
    W = [[0.0] * n for _ in range(n)]
    for m in range(P):
        x = [float(v) for v in xi[m]]

        def h(i, j, W=W, x=x):
            return sum(W[i][k] * x[k] for k in range(n) if k != i and k != j)

        new = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i][j] = W[i][j] + (x[i] * x[j] - x[i] * h(j, i) - h(i, j) * x[j]) / n
        W = new
    torch.testing.assert_close(net.W, torch.tensor(W, dtype=torch.float64), rtol=0, atol=1e-14)


def test_hebbian_recall_of_stored_orthogonal_patterns():
    # Two orthogonal patterns stored by Hebb are fixed points of the sign dynamics.
    xi = torch.tensor([[1, 1, 1, 1, -1, -1, -1, -1], [1, -1, 1, -1, 1, -1, 1, -1]], dtype=torch.float64)
    net = HopfieldNetwork(torch.zeros(8, 8, dtype=torch.float64))
    sgd_step(net, Hebbian().gradients(net, None, xi), 1.0)
    eq = relax(net, FixedPointIteration(tol=0.5, max_steps=20), xi.clone())
    assert torch.equal(eq.state, xi)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.complex64])
def test_all_finite_finds_every_nan_and_inf_and_survives_an_overflowing_sum(dtype):
    big = torch.finfo(dtype if not dtype.is_complex else torch.float32).max
    t = torch.full((1000,), big / 4, dtype=dtype)  # finite entries whose sum overflows
    assert not torch.isfinite(t.sum()) and all_finite(t)
    for bad in (float("nan"), float("inf"), -float("inf")):
        for i in (0, 577, 999):
            u = t.clone()
            u[i] = bad
            assert not all_finite(u), (bad, i)
    v = torch.full((3,), big, dtype=dtype)
    v[0], v[1] = float("inf"), -float("inf")  # +inf and -inf: the sum is NaN
    assert not all_finite(v)
    assert all_finite(torch.zeros(0, dtype=dtype)) and all_finite(torch.arange(5)) and all_finite(torch.ones(2) > 0)


def test_rule_validation_names_the_argument():
    with pytest.raises(ConfigError, match="beta must be non-zero"):
        EquilibriumPropagation(beta=0)
    with pytest.raises(ConfigError, match="beta must be a finite non-zero number, got nan"):
        EquilibriumPropagation(beta=float("nan"))
    with pytest.raises(ConfigError, match="estimator must be one of 'one_sided', 'random_sign', 'centred'; got 'two'"):
        EquilibriumPropagation(estimator="two")
    net, x, t = make_model("additive")
    with pytest.raises(ConfigError, match="needs an energy network"):
        EquilibriumPropagation().gradients(net, x, t)
    enet, _, _ = make_model("energy")
    with pytest.raises(ConfigError, match="needs an AdditiveNetwork"):
        RecurrentBackprop().gradients(enet, x, t)
    with pytest.raises(ConfigError, match="patterns must have last dimension 12"):
        Hebbian().gradients(HopfieldNetwork(torch.zeros(12, 12)), None, torch.ones(2, 5))
    with pytest.raises(ConfigError, match="lr must be a finite number >= 0, got -1"):
        sgd_step(enet, {"W": torch.zeros_like(enet.W)}, -1)


def _stack_of_three():
    W = torch.stack([init_symmetric(6, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
                     for i in range(3)])
    return AdditiveNetwork(W.clone(), mask=band_mask(6, 0).expand(3, 6, 6))


@pytest.mark.parametrize("bad", ["nan_gradient", "overflowing_update"])
def test_a_stacked_configuration_that_would_go_non_finite_is_frozen_with_its_last_weights(bad):
    from memprop.learning.updates import apply_update

    net = _stack_of_three()
    before = net.W.detach().clone()
    g = torch.full_like(before, 0.5)
    if bad == "nan_gradient":
        g[1, 2, 3] = float("nan")
    else:  # a finite gradient whose step takes one weight past the largest float
        net.W.data[1, 2, 3] = -1e308
        before = net.W.detach().clone()
        g[1, 2, 3] = 1e308
    alive = torch.ones(3, dtype=torch.bool)
    out = apply_update(net, {"W": g}, 0.9, alive=alive, norms=True)
    assert alive.tolist() == [True, False, True]
    assert torch.equal(net.W[1], before[1])  # frozen: the last finite weights, untouched
    assert bool(torch.isfinite(net.W).all())
    assert torch.equal(net.W[0], before[0] - 0.9 * g[0])  # the others as if alone
    assert torch.equal(net.W[2], before[2] - 0.9 * g[2])
    assert out["norm"][1] == 0.0 and out["norm"][0] > 0.0
    apply_update(net, {"W": g.nan_to_num(0.0)}, 0.9, alive=alive)  # dead for good
    assert torch.equal(net.W[1], before[1]) and alive.tolist() == [True, False, True]
