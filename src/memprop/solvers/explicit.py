r"""One-step solvers: explicit Euler, the clipped discrete relaxation of Eq. (21), Picard."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import in_range, positive, positive_int
from .base import AbstractEquilibriumSolver


def _projected_step(network, s, d, beta, target, h):
    """P(s + h f(s)) and its residual |P(s + h f) - s|_inf / h."""
    new = network.project(s + h * network.vector_field(s, d, beta=beta, target=target))
    return new, (new - s).abs().amax(-1) / h


@dataclass(frozen=True, kw_only=True, slots=True)
class EulerSolver(AbstractEquilibriumSolver):
    r"""Explicit Euler on ds/dt = f(s): s <- P(s + dt f(s)); residual |P(s + dt f) - s|_inf / dt.

    P is the network's projection: the identity for the additive and energy models (plain Euler,
    residual |f(s)|_inf), the clip to [0, 1] for the layered network, whose hard-sigmoid field is
    discontinuous at the bounds (the projected ODE; Eq. 21 is its step with dt = epsilon)."""

    dt: float = 0.2
    """Time step (in units of the neurons' time constant)."""
    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        positive("dt", self.dt)
        self._check()

    def step(self, network, s, d, beta, target, carry, it):
        return _projected_step(network, s, d, beta, target, self.dt)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClippedRelaxation(AbstractEquilibriumSolver):
    r"""Eq. (20)-(21): s <- P(s - epsilon dF/ds), P the network's projection (clip to [0, 1]
    for the layered network; identity, i.e. Euler with dt = epsilon, for unbounded states).
    Residual |s_{k+1} - s_k|_inf / epsilon."""

    epsilon: float = 0.5
    """Step epsilon of the discretised dynamics (an inference step, not a learning rate)."""
    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        positive("epsilon", self.epsilon)
        self._check()

    def step(self, network, s, d, beta, target, carry, it):
        return _projected_step(network, s, d, beta, target, self.epsilon)


@dataclass(frozen=True, kw_only=True, slots=True)
class FixedPointIteration(AbstractEquilibriumSolver):
    r"""Damped Picard iteration s <- s + lambda (Phi(s) - s); residual |Phi(s) - s|_inf.

    With ``damping=1`` on a :class:`~memprop.networks.HopfieldNetwork` this is synchronous sign
    recall."""

    damping: float = 1.0
    """Mixing lambda in (0, 1]."""
    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        in_range("damping", self.damping, 0.0, 1.0)
        positive("damping", self.damping)
        self._check()

    def step(self, network, s, d, beta, target, carry, it):
        phi = network.fixed_point_map(s, d, beta=beta, target=target)
        f = phi - s
        new = phi if self.damping == 1.0 else s + self.damping * f
        return network.project(new), f.abs().amax(-1)


@dataclass(frozen=True, kw_only=True, slots=True)
class AndersonSolver(AbstractEquilibriumSolver):
    r"""Anderson acceleration (type II, Walker & Ni 2011) of the relaxation map.

    The base map is one projected relaxation step T(s) = P(s + h f(s)) (f the vector field, P the
    network's projection; h = 1 on the additive model is Phi itself). Anderson keeps the last
    ``memory`` pairs (s_k, T(s_k)); with residuals F_k = T(s_k) - s_k it solves
    min ||sum_k alpha_k F_k|| subject to sum_k alpha_k = 1 (a ridge-regularised k x k system
    per batch element) and steps to P(sum_k alpha_k T(s_k)). Where that system fails it falls
    back to the plain step. Residual |T(s) - s|_inf / h, as for the clipped relaxation.
    """

    step_size: float = 0.5
    """Step h of the base relaxation map."""
    memory: int = 5
    """Number of past iterates mixed (m)."""
    ridge: float = 1e-8
    """Relative Tikhonov term on the normal equations, for stability."""
    restart: float = 1.0
    """Restart the history where the residual grows by more than this factor in one step (1:
    any growth; measured on the clipped layered network, where larger factors let Anderson
    cycle, and no slower on smooth models)."""
    max_restarts: int = 20
    """After this many restarts an element continues with plain steps T(s) only."""
    tol: float = 1e-6
    max_steps: int = 2_000

    def __post_init__(self):
        positive_int("memory", self.memory)
        positive_int("max_restarts", self.max_restarts, minimum=0)
        positive("step_size", self.step_size)
        positive("ridge", self.ridge)
        positive("restart", self.restart)
        self._check()

    def init(self, s):
        m, batch, n = self.memory, s.shape[:-1], s.shape[-1]
        # History k-major, (m, *batch, n), so each past iterate is one contiguous block; the
        # Gram matrix H_jk = F_j . F_k is updated one row per step instead of recomputed.
        return {
            "G": s.new_zeros(m, *batch, n),  # T(s_k)
            "F": s.new_zeros(m, *batch, n),  # T(s_k) - s_k
            "H": s.new_zeros(*batch, m, m),
            "r": s.new_full(batch, float("inf")),
            "restarts": torch.zeros(batch, dtype=torch.long, device=s.device),
        }

    def take_carry(self, carry, rows):
        return {k: (v[:, rows] if k in ("G", "F") else v[rows]) for k, v in carry.items()}

    def step(self, network, s, d, beta, target, carry, it):
        t = network.project(s + self.step_size * network.vector_field(s, d, beta=beta, target=target))
        f = t - s
        res = f.abs().amax(-1) / self.step_size
        G, F, H = carry["G"], carry["F"], carry["H"]
        m = self.memory
        slot, k = it % m, min(it + 1, m)
        G[slot] = t
        F[slot] = f
        row = (F[:k] * f).sum(-1).movedim(0, -1)  # (*batch, k): F_j . f
        H[..., slot, :k] = row
        H[..., :k, slot] = row
        # Safeguard: where the residual grew by more than ``restart`` times, forget the history
        # (fill it with the current pair, so the next mix is the plain step) and take T(s).
        grew = res > self.restart * carry["r"]
        carry["r"] = res
        carry["restarts"] += grew.long()
        # An element that keeps restarting (mixing cycles across the kinks of a clipped map)
        # falls back to the plain relaxation for good, which converges where T contracts.
        grew = grew | (carry["restarts"] > self.max_restarts)
        if bool(grew.any()):
            G.copy_(torch.where(grew[..., None], t, G))
            F.copy_(torch.where(grew[..., None], f, F))
            ff = (f * f).sum(-1)[..., None, None].expand_as(H)
            H.copy_(torch.where(grew[..., None, None], ff, H))
        if k == 1:
            return t, res
        Hk = H[..., :k, :k]
        scale = Hk.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(torch.finfo(s.dtype).tiny)
        eye = torch.eye(k, dtype=s.dtype, device=s.device)
        A = Hk / scale[..., None, None] + self.ridge * eye
        ones = torch.ones(*A.shape[:-1], 1, dtype=s.dtype, device=s.device)
        z, info = torch.linalg.solve_ex(A, ones)
        alpha = z[..., 0] / z[..., 0].sum(-1, keepdim=True)  # (*batch, k), sums to 1
        new = alpha[..., 0, None] * G[0]
        for j in range(1, k):  # k <= memory: a handful of fused multiply-adds
            new = new.addcmul_(alpha[..., j, None], G[j])
        bad = grew | (info != 0) | ~torch.isfinite(new).all(-1)
        new = torch.where(bad[..., None], t, network.project(new))
        return new, res
