r"""Exact references for dJ/dtheta, J = mean cost at the free fixed point.

- :func:`implicit_gradient`: implicit differentiation at the fixed point.
  Additive model: v* = g(W v* + I) gives dv* = L^{-1} D dW v* with D = diag(g'(h)) and
  L = Id - D W, hence dJ/dW = -y v*^T with y = D (Id - W^T D)^{-1} J (Eq. 7-8).
  Energy models: grad_s E(s*) = 0 gives ds* = -H^{-1} d(grad_s E)/dtheta dtheta with H the
  Hessian of E, hence dJ/dtheta = -lambda^T d(grad_s E)/dtheta with H lambda = dC/ds. For the
  layered network, units clipped at 0 or 1 do not move: the system is restricted to free units.
- :func:`unrolled_gradient`: autograd through ``steps`` unrolled relaxation steps from s0.

Both return gradients in the rules' convention (shared parameters of symmetric matrices). They
need weights without a configuration dimension; they are references, for small networks.
"""

from __future__ import annotations

import torch

from .._validate import positive, positive_int
from ..errors import ConfigError
from ..networks.additive import AdditiveNetwork
from ..networks.base import AbstractEnergyNetwork, AbstractNetwork
from ..networks.connectivity import symmetric_gradient
from ..solvers import AbstractEquilibriumSolver, AndersonSolver, relax


def _convention(network: AbstractNetwork, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Full-matrix gradients -> the rules' convention (shared symmetric parameters, masked)."""
    mask = getattr(network, "mask", None)
    if mask is None:  # layered: each W_k is an ordinary matrix parameter
        return full
    if getattr(network, "symmetric", True):
        return {"W": symmetric_gradient(full["W"], mask)}
    return {"W": full["W"] * mask}


def _check(network: AbstractNetwork) -> None:
    if network.batched:
        raise ConfigError("exact gradients need unbatched weights; relax one configuration at a time")


def implicit_gradient(network: AbstractNetwork, x: torch.Tensor | None, target: torch.Tensor, *,
                      solver: AbstractEquilibriumSolver | None = None, s0: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """dJ/dtheta by implicit differentiation at the free fixed point (see the module docstring)."""
    _check(network)
    solver = solver or AndersonSolver(tol=1e-12, max_steps=20_000)
    batch = tuple(target.shape[:-1])
    d = network.drive(x, batch)
    s = relax(network, solver, s0, x, drive=d, generator=generator).state.detach()
    B = s.reshape(-1, s.shape[-1]).shape[0]
    err = torch.zeros_like(s)
    err[..., network.output_index] = network.outputs(s) - target  # dC/ds, (B, n)
    if isinstance(network, AdditiveNetwork):
        h = network.preactivation(s, d)
        D = network.activation.prime(h)  # (B, n)
        eye = torch.eye(network.n_state, dtype=s.dtype, device=s.device)
        A = eye - network.W.mT * D[..., None, :]  # Id - W^T D, (B, n, n)
        u = torch.linalg.solve(A, (-err)[..., None])[..., 0]  # J = T - v = -dC/dv
        y = D * u
        full = -(y.reshape(B, -1).T @ s.reshape(B, -1)) / B
        return _convention(network, {"W": full})
    if not isinstance(network, AbstractEnergyNetwork):
        raise ConfigError(f"no implicit gradient for {type(network).__name__}")
    params = {k: v.detach().clone().requires_grad_(True) for k, v in network.trainable().items()}
    net = network.with_parameters(params)
    free = network.free_units(s, d)  # (B, n) bool

    def grad_e(state: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
        st = state.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net.energy(st, drive).sum(), st, create_graph=True)
        return g

    # Hessian per batch element, by autograd (any activation): H[b] = d grad_s E / d s
    def single(state, drive):
        return torch.func.jacrev(lambda st: torch.func.grad(lambda q: network.energy(q, drive))(st))(state)

    H = torch.func.vmap(single)(s.reshape(B, -1), d.reshape(B, -1).detach())  # (B, n, n)
    f2 = free.reshape(B, -1)
    pair = f2[:, :, None] & f2[:, None, :]
    eye = torch.eye(network.n_state, dtype=s.dtype, device=s.device).expand_as(H)
    H = torch.where(pair, H, eye)  # clipped units: identity rows/cols, zero right-hand side
    rhs = torch.where(f2, err.reshape(B, -1), torch.zeros_like(f2, dtype=s.dtype))
    lam = torch.linalg.solve(H, rhs[..., None])[..., 0]
    d_live = net.drive(x, batch)  # depends on the parameters (layered: x W_0 + b_1)
    ge = grad_e(s, d_live)
    obj = -(lam.reshape(s.shape) * ge).sum() / B
    full = dict(zip(params, torch.autograd.grad(obj, list(params.values()), allow_unused=True)))
    full = {k: (torch.zeros_like(params[k]) if g is None else g.detach()) for k, g in full.items()}
    return _convention(network, full)


def unrolled_gradient(network: AbstractNetwork, x: torch.Tensor | None, target: torch.Tensor, *,
                      s0: torch.Tensor, steps: int, step_size: float = 0.5) -> dict[str, torch.Tensor]:
    """dJ/dtheta by autograd through ``steps`` projected Euler steps s <- P(s + h f(s)) from s0.

    Approaches :func:`implicit_gradient` as the unrolled trajectory converges.
    """
    _check(network)
    positive_int("steps", steps)
    positive("step_size", step_size)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in network.trainable().items()}
    net = network.with_parameters(params)
    batch = tuple(target.shape[:-1])
    d = net.drive(x, batch)
    s = s0.detach()
    for _ in range(steps):  # loop over time steps, each vectorised over the batch
        s = net.project(s + step_size * net.vector_field(s, d))
    loss = net.cost(s, target).mean()
    full = dict(zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True)))
    full = {k: (torch.zeros_like(params[k]) if g is None else g.detach()) for k, g in full.items()}
    return _convention(network, full)
