"""Shared test inventory: parametrising over these tests every solver and rule automatically."""

import torch

from memprop.learning import EquilibriumPropagation, Hebbian, RecurrentBackprop, Storkey
from memprop.networks import AdditiveNetwork, EnergyNetwork, LayeredNetwork, init_symmetric
from memprop.solvers import AndersonSolver, ClippedRelaxation, EulerSolver, FixedPointIteration

TOL = 1e-10

# Solvers that converge on every smooth model here (Picard iteration is not a contraction on
# the energy model, so it is listed separately).
ALL_SOLVERS = [
    EulerSolver(dt=0.5, tol=TOL, max_steps=20_000),
    ClippedRelaxation(epsilon=0.5, tol=TOL, max_steps=20_000),
    AndersonSolver(tol=TOL, max_steps=20_000),
]
PICARD = FixedPointIteration(tol=TOL, max_steps=20_000)

ALL_RULES = {
    "ep_one_sided": lambda: EquilibriumPropagation(beta=0.1, estimator="one_sided", solver=AndersonSolver(tol=1e-9)),
    "ep_random_sign": lambda: EquilibriumPropagation(beta=0.1, estimator="random_sign", solver=AndersonSolver(tol=1e-9)),
    "ep_centred": lambda: EquilibriumPropagation(beta=0.1, estimator="centred", solver=AndersonSolver(tol=1e-9)),
    "rbp": lambda: RecurrentBackprop(solver=AndersonSolver(tol=1e-9), side_solver=EulerSolver(dt=0.5, tol=1e-9)),
    "hebbian": Hebbian,
    "storkey": Storkey,
}
EP_RULES = {"ep_one_sided", "ep_random_sign", "ep_centred"}


def make_model(kind: str, n: int = 12, *, batch: int = 3, seed: int = 0, dtype=torch.float64, mask=None):
    """A small random (network, x, target) of each kind."""
    g = torch.Generator().manual_seed(seed)
    if kind == "layered":
        net = LayeredNetwork.glorot([n, n, 4], generator=g, dtype=dtype)
        x = torch.rand(batch, n, generator=g, dtype=dtype)
        t = torch.nn.functional.one_hot(torch.randint(0, 4, (batch,), generator=g), 4).to(dtype)
        return net, x, t
    W = init_symmetric(n, scale=0.15, mask=mask, generator=g, dtype=dtype)
    x = torch.rand(batch, n, generator=g, dtype=dtype) * 2 - 1
    if kind == "additive":
        return AdditiveNetwork(W, mask=mask), x, torch.rand(batch, n, generator=g, dtype=dtype) * 1.8 - 0.9
    if kind == "energy":
        return EnergyNetwork(W, mask=mask), x, torch.rand(batch, n, generator=g, dtype=dtype) * 1.8 - 0.9
    if kind == "energy_hidden":
        k = n // 3
        x[:, k:] = 0
        net = EnergyNetwork(W, mask=mask, outputs=slice(n - k, n))
        return net, x, torch.rand(batch, k, generator=g, dtype=dtype) * 1.8 - 0.9
    raise ValueError(kind)


def cosine_and_error(a: dict, b: dict) -> tuple[float, float]:
    va = torch.cat([a[k].flatten() for k in b])
    vb = torch.cat([b[k].flatten() for k in b])
    return float(va @ vb / (va.norm() * vb.norm())), float((va - vb).norm() / vb.norm())
