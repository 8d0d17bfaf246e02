"""Solvers: fixed points, a linear case with its analytic solution, energy descent, flags."""

import pytest
import torch

from memprop import ConfigError, ConvergenceError
from memprop.learning import Storkey
from memprop.networks import (
    AdditiveNetwork,
    AdjointNetwork,
    EnergyNetwork,
    HopfieldNetwork,
    init_symmetric,
)
from memprop.solvers import (
    AndersonSolver,
    ClippedRelaxation,
    EulerSolver,
    FixedPointIteration,
    SignRecall,
    relax,
)

from helpers import ALL_SOLVERS, PICARD, TOL, make_model

SOLVER_IDS = [type(s).__name__ for s in ALL_SOLVERS]


@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("kind", ["additive", "energy", "energy_hidden", "layered"])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_fixed_point_equation_holds(solver, kind, beta):
    net, x, t = make_model(kind, batch=5)
    if kind == "additive" and beta:
        pytest.skip("the additive model is not nudged")
    eq = relax(net, solver, x=x, beta=beta, target=t if beta else None,
               generator=torch.Generator().manual_seed(1))
    assert eq.all_converged and bool((eq.residual <= TOL).all())
    assert eq.state.shape == (5, net.n_state) and eq.steps.shape == (5,)
    d = net.drive(x, (5,))
    phi = net.fixed_point_map(eq.state, d, beta=beta, target=t if beta else None)
    # |Phi(s) - s| <= residual: all residuals bound |Phi - s| up to the factor 1 + beta <= 2
    assert float((phi - eq.state).abs().max()) <= 2 * TOL


def test_picard_converges_on_the_additive_model():
    net, x, _ = make_model("additive")
    eq = relax(net, PICARD, x=x, generator=torch.Generator().manual_seed(0))
    assert eq.all_converged


@pytest.mark.parametrize("solver", ALL_SOLVERS + [PICARD], ids=SOLVER_IDS + ["Picard"])
def test_linear_case_matches_analytic_fixed_point(solver):
    # RBP's side network is linear: y* = D (W^T y* + J)  =>  y* = (I - D W^T)^{-1} D J.
    g = torch.Generator().manual_seed(5)
    n, b = 10, 4
    W = init_symmetric(n, scale=0.2, generator=g, dtype=torch.float64)
    D = torch.rand(b, n, generator=g, dtype=torch.float64)
    J = torch.randn(b, n, generator=g, dtype=torch.float64)
    side = AdjointNetwork(W, D)
    eq = relax(side, solver, torch.full((b, n), 0.5, dtype=torch.float64), drive=J)
    exact = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - D[:, :, None] * W.T, (D * J)[..., None])[..., 0]
    # Residual tol 1e-10 and a contraction factor < 1/2 bound the state error by 2 * tol.
    torch.testing.assert_close(eq.state, exact, rtol=0, atol=5 * TOL)


@pytest.mark.parametrize("kind", ["energy", "energy_hidden", "layered"])
def test_energy_never_increases_along_relaxation(kind):
    net, x, _ = make_model(kind, batch=6)
    d = net.drive(x, (6,))
    s = net.initial_state((6,), generator=torch.Generator().manual_seed(2))
    step = ClippedRelaxation(epsilon=0.2, tol=1e-12, max_steps=1)
    energies = [net.energy(s, d)]
    for _ in range(200):
        s = net.project(s + 0.2 * net.vector_field(s, d))
        energies.append(net.energy(s, d))
    E = torch.stack(energies)  # (steps, batch)
    # Gradient descent with a small step: non-increasing up to float64 rounding.
    assert bool((E[1:] <= E[:-1] + 1e-12).all())
    assert bool((E[-1] < E[0]).all())
    del step


def test_converged_elements_stop_and_counts_differ():
    net, x, _ = make_model("energy", batch=8)
    x = x.clone()
    x[0] = 0.0  # an easy element (starts near its fixed point)
    s0 = torch.zeros(8, net.n_state, dtype=torch.float64)
    eq = relax(net, EulerSolver(dt=0.5, tol=1e-8), s0, x)
    assert int(eq.steps[0]) < int(eq.steps.max())
    # Every element's own steps are what it needed: resolving one alone gives the same count.
    alone = relax(net, EulerSolver(dt=0.5, tol=1e-8), s0[3:4], x[3:4])
    assert int(alone.steps[0]) == int(eq.steps[3])
    # Same iterates; a matmul over another batch size may round differently in the last bit.
    torch.testing.assert_close(alone.state[0], eq.state[3], rtol=0, atol=1e-15)


def test_batched_configurations_equal_separate_relaxations():
    g = torch.Generator().manual_seed(9)
    n, C, b = 8, 3, 4
    W = init_symmetric(n, scale=0.2, configs=C, generator=g, dtype=torch.float64)
    x = torch.randn(C, b, n, generator=g, dtype=torch.float64)
    s0 = torch.rand(C, b, n, generator=g, dtype=torch.float64)
    solver = AndersonSolver(tol=1e-11)
    eq = relax(EnergyNetwork(W), solver, s0, x)
    for c in range(C):
        one = relax(EnergyNetwork(W[c]), solver, s0[c], x[c])
        torch.testing.assert_close(eq.state[c], one.state, rtol=0, atol=1e-10)


def test_non_convergence_raises_or_flags():
    net, x, _ = make_model("energy")
    solver = EulerSolver(dt=0.01, tol=1e-12, max_steps=3)
    with pytest.raises(ConvergenceError, match=r"worst residual .* > tol 1e-12 after 3 steps") as info:
        relax(net, solver, x=x, generator=torch.Generator().manual_seed(0))
    assert info.value.steps == 3 and info.value.residual > 1e-12
    eq = relax(net, solver, x=x, generator=torch.Generator().manual_seed(0), throw=False)
    assert not bool(eq.converged.any()) and bool((eq.steps == 3).all())


def test_divergence_to_inf_is_reported():
    W = init_symmetric(6, scale=50.0, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    net = EnergyNetwork(W)
    x = torch.ones(2, 6, dtype=torch.float64) * 1e3
    with pytest.raises(ConvergenceError, match="NaN/Inf|did not converge"):
        relax(net, EulerSolver(dt=5.0, tol=1e-9, max_steps=2000), x=x,
              generator=torch.Generator().manual_seed(0))


def test_bad_solver_settings_name_the_argument():
    with pytest.raises(ConfigError, match="dt must be a finite number > 0, got 0"):
        EulerSolver(dt=0)
    with pytest.raises(ConfigError, match="tol must be a finite number > 0, got -1"):
        ClippedRelaxation(tol=-1)
    with pytest.raises(ConfigError, match="max_steps must be an integer >= 1, got 0"):
        AndersonSolver(max_steps=0)
    with pytest.raises(ConfigError, match="memory must be an integer >= 1"):
        AndersonSolver(memory=0)
    with pytest.raises(ConfigError, match=r"damping must lie in \[0.0, 1.0\], got 1.5"):
        FixedPointIteration(damping=1.5)
    with pytest.raises(ConfigError, match="epsilon must be a finite number > 0, got nan"):
        ClippedRelaxation(epsilon=float("nan"))


def test_bad_inputs_name_the_argument():
    net, x, t = make_model("energy")
    solver = AndersonSolver()
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ConfigError, match="x contains NaN"):
        relax(net, solver, x=bad)
    with pytest.raises(ConfigError, match="s0 must have last dimension 12"):
        relax(net, solver, torch.zeros(3, 5, dtype=torch.float64), x)
    with pytest.raises(ConfigError, match="target is required when beta != 0"):
        relax(net, solver, x=x, beta=0.5)
    with pytest.raises(ConfigError, match=r"target must have shape \(3, 12\)"):
        relax(net, solver, x=x, beta=0.5, target=t[:, :4])
    with pytest.raises(ConfigError, match="solver must be an equilibrium solver"):
        relax(net, "euler", x=x)
    with pytest.raises(ConfigError, match=r"s0 must be \(C, b, 12\)"):
        W = init_symmetric(12, configs=2, dtype=torch.float64)
        relax(EnergyNetwork(W), solver, torch.zeros(2, 12, dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# The one relaxation loop against reference loops: how finished elements are recorded
# (``compact``), and synchronous sign recall. (These replace the tests of the reconstruction
# study's deleted private fast paths, whose speed the engine now provides.)

COMPACTS = [0.0, 1 / 8, 1.0, None]


def _euler_reference(net, s0, d, *, dt, tol, max_steps, beta=0.0, target=None):
    """Explicit Euler s <- s + dt f(s) on the whole batch with the functional field, written out:
    every element's first state with max_i |f_i| <= tol (its step count, converged), else its
    state after max_steps steps; and the state of the whole batch once every element has
    converged (what ``compact=None`` returns)."""
    s = s0.clone()
    batch = s.shape[:-1]
    first = s0.clone()
    steps = torch.full(batch, max_steps, dtype=torch.long)
    converged = torch.zeros(batch, dtype=torch.bool)
    for it in range(max_steps + 1):  # loop over steps
        f = net.vector_field(s, d, beta=beta, target=target)
        ok = f.abs().amax(-1) <= tol
        new = ok & ~converged
        first[new], steps[new] = s[new], it
        converged |= new
        if bool(ok.all()) or it == max_steps:
            break
        s = s + dt * f
    first[~converged] = s[~converged]
    return first, steps, converged, s


@pytest.mark.parametrize("model, beta", [("additive", 0.0), ("energy", 0.0), ("energy", 1.0)])
def test_stacked_configurations_relax_as_the_reference_loop_for_every_compact(model, beta, generator):
    """(C, 1, n) states of C stacked configurations (online training's shape), float64."""
    n, C, dt, tol = 20, 3, 0.25, 1e-9
    W = init_symmetric(n, scale=0.1, configs=C, generator=generator, dtype=torch.float64)
    net = (AdditiveNetwork if model == "additive" else EnergyNetwork)(W)
    x = torch.rand(C, 1, n, generator=generator, dtype=torch.float64) * 2 - 1
    s0 = torch.rand(C, 1, n, generator=generator, dtype=torch.float64) * 2 - 1
    t = torch.sign(x) if beta else None
    first, steps, conv, together = _euler_reference(net, s0, x, dt=dt, tol=tol, max_steps=20_000, beta=beta,
                                                    target=t)
    assert bool(conv.all()) and len(set(steps.flatten().tolist())) > 1  # elements finish at different steps
    solver = EulerSolver(dt=dt, tol=tol, max_steps=20_000)
    eqs = {c: relax(net, solver, s0, x, beta=beta, target=t, compact=c) for c in COMPACTS}
    for c, eq in eqs.items():
        assert eq.all_converged and bool((eq.residual <= tol).all())
        # steps count the steps an element took before it converged, under every policy
        assert torch.equal(eq.steps, steps), c
    # compact=1 never re-indexes: every element is the reference's, bit for bit
    assert torch.equal(eqs[1.0].state, first)
    # dropping finished rows changes the batch of the products: last-bit differences only
    for c in (0.0, 1 / 8):
        torch.testing.assert_close(eqs[c].state, first, rtol=0, atol=dt * tol)
    # compact=None: the whole batch's state once all have converged, bit for bit; each element
    # within tol / (1 - rate) of its fixed point, the rate of these dynamics >= 0.5: the two
    # results within 2 * tol / 0.5 = 4e-9 of each other
    assert torch.equal(eqs[None].state, together)
    torch.testing.assert_close(eqs[None].state, eqs[0.0].state, rtol=0, atol=4e-9)


@pytest.mark.parametrize("model", ["additive", "energy"])
def test_many_rows_relax_as_the_reference_loop_for_every_compact(model, generator):
    """(B, n) rows of one network (recall's shape), float32, with and without a drive."""
    n, B, dt, tol = 16, 200, 0.25, 1e-5
    W = init_symmetric(n, scale=0.4, generator=generator)
    net = (AdditiveNetwork if model == "additive" else EnergyNetwork)(W)
    s0 = torch.rand(B, n, generator=generator) * 2 - 1
    for d in (torch.zeros_like(s0), torch.rand(B, n, generator=generator) * 2 - 1):
        first, steps, conv, _ = _euler_reference(net, s0, d, dt=dt, tol=tol, max_steps=5000)
        assert bool(conv.all())
        solver = EulerSolver(dt=dt, tol=tol, max_steps=5000)
        eqs = {c: relax(net, solver, s0, drive=d, compact=c, throw=False) for c in COMPACTS}
        assert all(bool(eq.converged.all()) for eq in eqs.values())
        one = eqs[1.0]  # each row at its own first convergence, never re-indexed: bitwise
        assert torch.equal(one.state, first) and torch.equal(one.steps, steps)
        for c in (0.0, 1 / 8):
            # same iteration on fewer rows: float32 residuals can differ by rounding at the
            # stopping step, so a row may take one more or one fewer step (size <= dt * tol)
            torch.testing.assert_close(eqs[c].state, first, rtol=0, atol=1e-5)
            assert int((eqs[c].steps - steps).abs().max()) <= 1
        assert torch.equal(eqs[None].steps, steps)


@pytest.mark.parametrize("compact", COMPACTS)
def test_non_convergence_raises_or_flags_for_every_compact(compact, generator):
    W = init_symmetric(8, scale=0.2, generator=generator, dtype=torch.float64)
    net = AdditiveNetwork(W)
    x = torch.ones(1, 8, dtype=torch.float64)
    solver = EulerSolver(dt=0.1, tol=1e-12, max_steps=3)
    with pytest.raises(ConvergenceError, match="EulerSolver did not converge for 1 of 1"):
        relax(net, solver, None, x, generator=generator, compact=compact)
    eq = relax(net, solver, None, x, generator=generator, compact=compact, throw=False)
    assert not eq.all_converged and int(eq.steps.max()) == 3
    s0 = torch.rand(5, 12, generator=generator) * 2 - 1
    eq = relax(AdditiveNetwork(init_symmetric(12, scale=0.3, generator=generator)),
               EulerSolver(dt=0.5, tol=1e-12, max_steps=4), s0, drive=torch.zeros_like(s0), compact=compact,
               throw=False)
    assert not bool(eq.converged.any()) and bool((eq.steps == 4).all()) and eq.state.shape == (5, 12)


def _storkey_weights(xi: torch.Tensor) -> torch.Tensor:
    """Storkey's rule, pattern by pattern (float64), as float32 weights."""
    n = xi.shape[1]
    W = torch.zeros(n, n, dtype=torch.float64)
    for mu in range(xi.shape[0]):
        W -= Storkey().gradients(HopfieldNetwork(W), None, xi[mu:mu + 1].double())["W"]
    return W.float()


def _sign_reference(W, s0, d, max_steps):
    """Synchronous sign updates written out: s_{k+1} = sign(W s_k + I), a unit with zero field
    keeping its state, for all rows and max_steps updates; a row converges at its first k with
    s_{k+1} = s_k (state s_k, steps k), otherwise its state is s_{max_steps} (steps max_steps)."""
    s = s0.clone()
    B = s.shape[0]
    state, steps = s0.clone(), torch.full((B,), max_steps, dtype=torch.long)
    converged = torch.zeros(B, dtype=torch.bool)
    for k in range(max_steps + 1):  # loop over synchronous updates
        h = s @ W.T + (0 if d is None else d)
        new = torch.where(h == 0, s, torch.sign(h))
        fixed = (new == s).all(-1) & ~converged
        state[fixed], steps[fixed] = s[fixed], k
        converged |= fixed
        if k == max_steps:
            break
        s = new
    state[~converged] = s[~converged]
    return state, steps, converged


@pytest.mark.parametrize("max_steps", [40, 41])
@pytest.mark.parametrize("with_input", [False, True])
def test_sign_recall_matches_synchronous_sign_updates(max_steps, with_input, monkeypatch):
    """SignRecall (a 2-cycle finishes at once, judged by parity) gives the states, steps and
    flags of max_steps plain synchronous updates, and of Picard iteration on the sign map."""
    from memprop.data import corrupt, default_patterns

    xi = default_patterns().patterns
    W = _storkey_weights(xi)
    x = corrupt(xi, 0.2, generator=torch.Generator().manual_seed(0), samples=20).reshape(-1, xi.shape[1])
    d = x if with_input else None
    s0 = -x if with_input else x
    state, steps, conv = _sign_reference(W, s0, d, max_steps)
    assert 0 < int((~conv).sum()) < conv.numel()  # both fixed points and 2-cycles occur here
    drive = torch.zeros_like(s0) if d is None else d
    net = HopfieldNetwork(W)
    for solver in (SignRecall(max_steps=max_steps), FixedPointIteration(damping=1.0, tol=0.5, max_steps=max_steps)):
        for compact in (0.0, 1.0):
            eq = relax(net, solver, s0, drive=drive, compact=compact, throw=False)
            assert torch.equal(eq.state, state)
            assert torch.equal(eq.converged, conv)
            assert torch.equal(eq.steps, steps)
    # 2-cycles finish as soon as they are found: far fewer updates than max_steps
    calls = []
    sign_map = HopfieldNetwork.fixed_point_map

    def counted(self, s, d, **kw):
        calls.append(s.shape[0])
        return sign_map(self, s, d, **kw)

    monkeypatch.setattr(HopfieldNetwork, "fixed_point_map", counted)
    relax(net, SignRecall(max_steps=max_steps), s0, drive=drive, throw=False)
    assert len(calls) <= int(steps[conv].max()) + 3 < max_steps


def test_a_nan_element_finishes_at_once_and_leaves_the_others_as_they_are_alone():
    # the loop's shortcut (one reduction while nothing can be recorded) must still see NaN
    net, x, _ = make_model("energy")
    solver = EulerSolver(dt=0.25, tol=1e-6, max_steps=500)
    s0 = torch.zeros_like(x[:2]).uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    alone = relax(net, solver, s0[1:].clone(), x[1:2], throw=False)
    s0[0, 0] = float("nan")
    both = relax(net, solver, s0, x[:2], throw=False, validate=False)
    assert int(both.steps[0]) == 0 and not bool(both.converged[0])
    assert torch.equal(both.state[1], alone.state[0]) and int(both.steps[1]) == int(alone.steps[0])
    assert bool(both.converged[1])
