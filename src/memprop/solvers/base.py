r"""Equilibrium solvers: interchangeable objects that relax a network to a fixed point.

Every solver stops an element when its residual drops to ``tol`` or after ``max_steps`` steps
and returns an :class:`Equilibrium` holding, per batch element, the state, the steps taken, the
final residual and a converged flag. Rows of the leading batch dimension whose elements have all
converged are removed from the working set, so they stop costing work; converged elements of a
row still in work are frozen. Non-convergence and NaN/Inf are never silent: with ``throw=True``
(default) a :class:`~memprop.errors.ConvergenceError` names the residual and the steps.

The residual is the infinity norm, over units, of the solver's own measure of stationarity:
|ds/dt| for Euler, |s_{k+1} - s_k| / epsilon for the clipped relaxation (the projected field),
|Phi(s) - s| for the fixed-point solvers. At beta = 0 all coincide for the additive and energy
models; on nudged outputs the vector field is (1 + beta) times Phi(s) - s.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import torch

from .._validate import positive, positive_int
from ..errors import ConfigError, ConvergenceError
from ..networks.base import AbstractNetwork


@dataclass(frozen=True, slots=True)
class Equilibrium:
    """A relaxation's outcome. Shapes: state (*batch, n); the others (*batch,)."""

    state: torch.Tensor
    steps: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())


class AbstractEquilibriumSolver(abc.ABC):
    """Interface: ``init`` a per-row carry, ``step`` once, ``solve`` to convergence."""

    tol: float
    max_steps: int

    def _check(self) -> None:
        positive("tol", self.tol)
        positive_int("max_steps", self.max_steps)

    def init(self, s: torch.Tensor) -> dict[str, Any]:
        """Per-row solver memory, empty for one-step solvers."""
        return {}

    def take_carry(self, carry: dict[str, Any], rows: torch.Tensor) -> dict[str, Any]:
        """The solver memory of the rows still in work (default: indexed along dim 0)."""
        return {k: v[rows] for k, v in carry.items()}

    @abc.abstractmethod
    def step(self, network: AbstractNetwork, s: torch.Tensor, d: torch.Tensor, beta: float,
             target: torch.Tensor | None, carry: dict[str, Any], it: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One update: returns (next state, residual at ``s``), residual shaped (*batch,)."""

    def solve(self, network: AbstractNetwork, s0: torch.Tensor, d: torch.Tensor, *, beta: float = 0.0,
              target: torch.Tensor | None = None, throw: bool = True) -> Equilibrium:
        """Relax from ``s0`` under drive ``d``; see the module docstring."""
        squeeze = s0.ndim == 1
        if squeeze:
            s0, d = s0[None], d[None]
            target = None if target is None else target[None]
        batch = s0.shape[:-1]
        state = s0.clone()
        steps = torch.zeros(batch, dtype=torch.long, device=s0.device)
        residual = torch.full(batch, float("inf"), dtype=s0.dtype, device=s0.device)
        converged = torch.zeros(batch, dtype=torch.bool, device=s0.device)

        active = torch.arange(batch[0], device=s0.device)
        net, s, dd, tt = network, state, d, target
        st = steps.clone()
        carry = self.init(s)
        for it in range(self.max_steps + 1):
            new, r = self.step(net, s, dd, beta, tt, carry, it)
            ok = r <= self.tol
            done = ok | ~torch.isfinite(r)
            if it == self.max_steps:
                break
            s = torch.where(done[..., None], s, new)
            st = st + (~done).long()
            row_done = done.reshape(done.shape[0], -1).all(1)
            if bool(row_done.any()):
                finished = active[row_done]
                state.index_copy_(0, finished, s[row_done])
                steps.index_copy_(0, finished, st[row_done])
                residual.index_copy_(0, finished, r[row_done])
                converged.index_copy_(0, finished, ok[row_done])
                keep = (~row_done).nonzero().squeeze(1)
                if keep.numel() == 0:
                    active = active[:0]
                    break
                active = active[keep]
                net = network.take(active)
                s, dd, st = s[keep], dd[keep], st[keep]
                tt = None if tt is None else tt[keep]
                carry = self.take_carry(carry, keep)
        if active.numel():
            state.index_copy_(0, active, s)
            steps.index_copy_(0, active, st)
            residual.index_copy_(0, active, r)
            converged.index_copy_(0, active, ok)
        eq = Equilibrium(state, steps, residual, converged)
        if squeeze:
            eq = Equilibrium(state[0], steps[0], residual[0], converged[0])
        if throw and not eq.all_converged:
            bad = ~eq.converged
            nonfinite = int((~torch.isfinite(eq.residual)).sum())
            worst = float(eq.residual[bad].nan_to_num(float("inf")).max())
            raise ConvergenceError(
                f"{type(self).__name__} did not converge for {int(bad.sum())} of {bad.numel()} "
                f"batch elements: worst residual {worst:.3g} > tol {self.tol:g} after "
                f"{int(eq.steps[bad].max())} steps (max_steps={self.max_steps})"
                + (f"; {nonfinite} became NaN/Inf" if nonfinite else "")
                + ". Raise max_steps, loosen tol, reduce the step, or pass throw=False for the flags.",
                residual=worst, steps=int(eq.steps[bad].max()),
            )
        return eq


def relax(network: AbstractNetwork, solver: AbstractEquilibriumSolver, s0: torch.Tensor | None = None,
          x: torch.Tensor | None = None, *, beta: float = 0.0, target: torch.Tensor | None = None,
          batch_shape: tuple[int, ...] | None = None, drive: torch.Tensor | None = None,
          generator: torch.Generator | None = None, throw: bool = True) -> Equilibrium:
    """The one entry point: relax ``network`` with ``solver`` (diffeqsolve-style).

    Args:
        network: any :class:`~memprop.networks.AbstractNetwork`.
        solver: any :class:`AbstractEquilibriumSolver`.
        s0: initial state (*batch, n); default the network's random/zero initial state.
        x: the input (I for the additive/energy models, the clamped layer for a layered one).
        beta: nudging strength (EP's second phase); 0 for the free phase.
        target: (*batch, n_out), required when beta != 0.
        batch_shape: the batch shape when neither s0 nor x gives it.
        drive: a precomputed ``network.drive(x, ...)`` (skips recomputing the input projection).
        generator: seeds the random initial state.
        throw: raise ConvergenceError on non-convergence (default) instead of returning flags.
    """
    if not isinstance(solver, AbstractEquilibriumSolver):
        raise ConfigError(f"solver must be an equilibrium solver, got {type(solver).__name__}")
    if s0 is not None:
        s0 = network.check_state(s0, "s0")
        batch_shape = tuple(s0.shape[:-1])
    elif batch_shape is None:
        ref = drive if drive is not None else x
        if ref is None:
            raise ConfigError("give s0, x, drive or batch_shape so that the batch shape is known")
        batch_shape = tuple(ref.shape[:-1])
    if x is not None and not bool(torch.isfinite(x).all()):
        raise ConfigError("x contains NaN/Inf entries; all inputs must be finite")
    if target is not None:
        if not bool(torch.isfinite(target).all()):
            raise ConfigError("target contains NaN/Inf entries; all targets must be finite")
    d = network.drive(x, batch_shape) if drive is None else drive
    if s0 is None:
        s0 = network.initial_state(batch_shape, generator=generator, dtype=d.dtype, device=d.device)
    if tuple(d.shape) != tuple(s0.shape):
        raise ConfigError(f"x/drive gives shape {tuple(d.shape)} but the state is {tuple(s0.shape)}")
    if beta != 0.0 and target is None:
        raise ConfigError("target is required when beta != 0")
    if target is not None:
        n_out = network.outputs(s0).shape[-1]
        if tuple(target.shape) != (*batch_shape, n_out):
            raise ConfigError(f"target must have shape {(*batch_shape, n_out)}, got {tuple(target.shape)}")
    return solver.solve(network, s0, d, beta=float(beta), target=target, throw=throw)
