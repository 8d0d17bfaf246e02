r"""The solvers: explicit Euler, the clipped relaxation of Eq. (21), Picard, Anderson, sign recall.

Each builds a *stepper* for one relaxation (see :mod:`memprop.solvers.base`); :func:`relax`
runs the one loop over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import in_range, positive, positive_int
from ..networks.kernel import Workspace, zero_drive
from .base import AbstractEquilibriumSolver, AbstractStepper


@dataclass(frozen=True, kw_only=True, slots=True)
class EulerSolver(AbstractEquilibriumSolver):
    r"""Explicit Euler on ds/dt = f(s): s <- P(s + dt f(s)); residual |P(s + dt f) - s|_inf / dt.

    P is the network's projection: the identity for the additive and energy models (plain Euler,
    residual |f(s)|_inf), the clip to [0, 1] for the layered network, whose hard-sigmoid field is
    discontinuous at the bounds (the projected ODE; Eq. 21 is its step with dt = epsilon).
    Steps are the network's fused kernel (:meth:`~memprop.networks.AbstractNetwork.kernel`)."""

    dt: float = 0.2
    """Time step (in units of the neurons' time constant)."""
    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        positive("dt", self.dt)
        self._check()

    def stepper(self, network, d, *, beta, target, work, tag, compact):
        return network.kernel(d, h=self.dt, beta=beta, target=target, work=work, tag=tag, rows=compact)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClippedRelaxation(AbstractEquilibriumSolver):
    r"""Eq. (20)-(21): s <- P(s - epsilon dF/ds), P the network's projection (clip to [0, 1]
    for the layered network; identity, i.e. Euler with dt = epsilon, for unbounded states).
    Residual |s_{k+1} - s_k|_inf / epsilon. With ``stop=Steps(n)`` this is Scellier & Bengio's
    fixed-iteration relaxation."""

    epsilon: float = 0.5
    """Step epsilon of the discretised dynamics (an inference step, not a learning rate)."""
    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        positive("epsilon", self.epsilon)
        self._check()

    def stepper(self, network, d, *, beta, target, work, tag, compact):
        return network.kernel(d, h=self.epsilon, beta=beta, target=target, work=work, tag=tag, rows=compact)


class _MapStepper(AbstractStepper):
    """A stepper over the network's own methods, in the (*batch, n) layout."""

    def __init__(self, solver, network, d, beta, target, work: Workspace, tag: str):
        self.solver, self.network, self.d, self.beta, self.target = solver, network, d, beta, target
        self.work, self.tag = work, tag

    def buffer(self, name, like):
        return self.work.get(f"{self.tag}.{name}", tuple(like.shape), like)

    def _restricted(self, rows):
        return (self.network.take(rows), self.d.index_select(0, rows), self.beta,
                None if self.target is None else self.target.index_select(0, rows))


class _PicardStepper(_MapStepper):
    def advance(self, u, out, residual):
        phi = self.network.fixed_point_map(u, self.d, beta=self.beta, target=self.target)
        f = phi - u
        lam = self.solver.damping
        new = phi if lam == 1.0 else u + lam * f
        out.copy_(self.network.project(new))
        return f.abs().amax(-1) if residual else None

    def take(self, rows):
        return _PicardStepper(self.solver, *self._restricted(rows), self.work, self.tag)


@dataclass(frozen=True, kw_only=True, slots=True)
class FixedPointIteration(AbstractEquilibriumSolver):
    r"""Damped Picard iteration s <- s + lambda (Phi(s) - s); residual |Phi(s) - s|_inf."""

    damping: float = 1.0
    """Mixing lambda in (0, 1]."""
    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        in_range("damping", self.damping, 0.0, 1.0)
        positive("damping", self.damping)
        self._check()

    def stepper(self, network, d, *, beta, target, work, tag, compact):
        return _PicardStepper(self, network, d, beta, target, work, tag)


class _SignStepper(_MapStepper):
    """s <- sign(W s + I), a unit with zero field keeping its state; finds 2-cycles."""

    def __init__(self, *args, prev=None):
        super().__init__(*args)
        self.prev = prev
        self.d_eff = None if zero_drive(self.d) else self.d

    def advance(self, u, out, residual):
        phi = self.network.fixed_point_map(u, self.d_eff)
        out.copy_(phi)
        changed = (phi != u).sum(-1).to(u.dtype)  # 0 exactly at a fixed point
        if self.prev is not None:
            # A symmetric W makes every orbit end in a fixed point or a 2-cycle (Goles et al.
            # 1985): new == previous != current is a 2-cycle, which never converges. Its state
            # after max_steps updates is one of the two, by parity: write that one into u (the
            # state the loop records for a finished element).
            cycle = (phi == self.prev).all(-1) & (changed > 0)
            self.stalled = cycle
            if bool(cycle.any()):
                self._parity(u, phi, cycle)
        self.prev = u.clone()
        self.it += 1
        return changed

    def _parity(self, u, phi, cycle):
        # Before this update ``self.it`` updates were made; max_steps - it remain. An even number
        # leaves the current state, an odd one the next.
        if (self.solver.max_steps - self.it) % 2 == 1:
            u[cycle] = phi[cycle]

    it = 0

    def take(self, rows):
        new = _SignStepper(self.solver, *self._restricted(rows), self.work, self.tag,
                           prev=None if self.prev is None else self.prev.index_select(0, rows))
        new.it = self.it
        return new


@dataclass(frozen=True, kw_only=True, slots=True)
class SignRecall(AbstractEquilibriumSolver):
    r"""Synchronous sign recall s <- sign(W s + I) (a unit with zero field keeps its state), for
    :class:`~memprop.networks.HopfieldNetwork` (Hebbian and Storkey networks).

    The residual is the number of units that change (0 exactly at a fixed point). With symmetric
    W every orbit ends in a fixed point or a 2-cycle (Goles et al. 1985); an element found in a
    2-cycle finishes at once, not converged, with the state and step count that ``max_steps``
    updates would give (by parity), which ends most cycling recalls in three updates."""

    max_steps: int = 100
    """Limit of synchronous updates."""
    tol: float = 0.5
    """Fixed when fewer than ``tol`` units change (i.e. none); not a setting to change."""

    def __post_init__(self):
        positive_int("max_steps", self.max_steps)
        in_range("tol", self.tol, 0.0, 1.0, closed=False)

    def stepper(self, network, d, *, beta, target, work, tag, compact):
        return _SignStepper(self, network, d, beta, target, work, tag)


class _AndersonStepper(_MapStepper):
    def __init__(self, solver, network, d, beta, target, work, tag, carry=None):
        super().__init__(solver, network, d, beta, target, work, tag)
        self.carry = carry
        self.it = 0

    def advance(self, u, out, residual):
        sol = self.solver
        if self.carry is None:
            m, batch, n = sol.memory, u.shape[:-1], u.shape[-1]
            # History k-major, (m, *batch, n), so each past iterate is one contiguous block; the
            # Gram matrix H_jk = F_j . F_k is updated one row per step instead of recomputed.
            self.carry = {
                "G": u.new_zeros(m, *batch, n),  # T(s_k)
                "F": u.new_zeros(m, *batch, n),  # T(s_k) - s_k
                "H": u.new_zeros(*batch, m, m),
                "r": u.new_full(batch, float("inf")),
                "restarts": torch.zeros(batch, dtype=torch.long, device=u.device),
            }
        new, res = _anderson_step(sol, self.network, u, self.d, self.beta, self.target, self.carry, self.it)
        self.it += 1
        out.copy_(new)
        return res

    def take(self, rows):
        carry = None if self.carry is None else {
            k: (v.index_select(1, rows) if k in ("G", "F") else v.index_select(0, rows)) for k, v in self.carry.items()}
        new = _AndersonStepper(self.solver, *self._restricted(rows), self.work, self.tag, carry)
        new.it = self.it
        return new


def _anderson_step(sol, network, s, d, beta, target, carry, it):
    t = network.project(s + sol.step_size * network.vector_field(s, d, beta=beta, target=target))
    f = t - s
    res = f.abs().amax(-1) / sol.step_size
    G, F, H = carry["G"], carry["F"], carry["H"]
    m = sol.memory
    slot, k = it % m, min(it + 1, m)
    G[slot] = t
    F[slot] = f
    row = (F[:k] * f).sum(-1).movedim(0, -1)  # (*batch, k): F_j . f
    H[..., slot, :k] = row
    H[..., :k, slot] = row
    # Safeguard: where the residual grew by more than ``restart`` times, forget the history
    # (fill it with the current pair, so the next mix is the plain step) and take T(s).
    grew = res > sol.restart * carry["r"]
    carry["r"] = res
    carry["restarts"] += grew.long()
    # An element that keeps restarting (mixing cycles across the kinks of a clipped map)
    # falls back to the plain relaxation for good, which converges where T contracts.
    grew = grew | (carry["restarts"] > sol.max_restarts)
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
    A = Hk / scale[..., None, None] + sol.ridge * eye
    ones = torch.ones(*A.shape[:-1], 1, dtype=s.dtype, device=s.device)
    z, info = torch.linalg.solve_ex(A, ones)
    alpha = z[..., 0] / z[..., 0].sum(-1, keepdim=True)  # (*batch, k), sums to 1
    new = alpha[..., 0, None] * G[0]
    for j in range(1, k):  # k <= memory: a handful of fused multiply-adds
        new = new.addcmul_(alpha[..., j, None], G[j])
    bad = grew | (info != 0) | ~torch.isfinite(new).all(-1)
    new = torch.where(bad[..., None], t, network.project(new))
    return new, res


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

    def stepper(self, network, d, *, beta, target, work, tag, compact):
        return _AndersonStepper(self, network, d, beta, target, work, tag)
