"""Solvers: fixed points, a linear case with its analytic solution, energy descent, flags."""

import pytest
import torch

from memprop import ConfigError, ConvergenceError
from memprop.networks import AdjointNetwork, EnergyNetwork, init_symmetric
from memprop.solvers import (
    AndersonSolver,
    ClippedRelaxation,
    EulerSolver,
    FixedPointIteration,
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
