r"""The one relaxation loop: ``relax`` with interchangeable solvers and stopping policies.

A solver says which map is iterated (explicit Euler, the clipped relaxation of Eq. 21,
damped Picard, Anderson mixing, synchronous sign updates); a *stopping policy* says when to stop:

- :class:`ToTolerance` (the default, from the solver's ``tol`` and ``max_steps``): an element
  stops when its residual drops to ``tol``, or after ``max_steps`` steps;
- :class:`Steps`: exactly ``n`` steps for every element, no residual test (Eq. 21's discrete
  relaxation as a protocol, e.g. Scellier & Bengio's 20 free and 4 nudged iterations).

Under :class:`ToTolerance`, ``compact`` chooses how finished work is dropped:

- ``compact=0.0`` (default): an element's result is its state at the first step its residual is
  <= tol; rows of the leading batch dimension whose elements have all finished leave the working
  set at once, so they stop costing work;
- ``compact=f`` in (0, 1]: the same results, but finished rows leave only once they make up a
  fraction f of the working set (until then they keep relaxing, harmlessly): fewer, larger
  re-indexings, faster where many rows finish at different times (recall of many patterns);
  ``compact=1`` never re-indexes (the cheapest choice for tiny batches) and still gives every
  element its own result, whatever else shares the batch;
- ``compact=None``: nothing leaves; every element steps until *all* have converged, and an
  element's result is the state at that moment (closer to its fixed point than at its own
  first convergence, but dependent on what else shares the batch). The fewest tensor
  operations per step.

Every step is evaluated by a *stepper* the solver builds for the relaxation (for Euler and the
clipped relaxation, the network's :class:`~memprop.networks.kernel.Kernel`, fused and in place);
buffers come from a :class:`~memprop.networks.kernel.Workspace`, which the caller may pass to
reuse them across relaxations (then the returned state may live in the workspace: it is
overwritten by the next relaxation with the same ``tag``).

The residual is the infinity norm, over units, of the solver's measure of stationarity: |ds/dt|
for Euler, |s_{k+1} - s_k| / epsilon for the clipped relaxation (the projected field),
|Phi(s) - s| for the fixed-point solvers, the number of units that change for sign recall. At
beta = 0 the first three coincide for the additive and energy models; on nudged outputs the
vector field is (1 + beta) times Phi(s) - s. Non-convergence and NaN/Inf are never silent: with
``throw=True`` (default) a :class:`~memprop.errors.ConvergenceError` names the residual and the
steps.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .._validate import all_finite, flag, positive, positive_int
from ..errors import ConfigError, ConvergenceError
from ..networks.base import AbstractNetwork
from ..networks.kernel import Workspace


class Equilibrium(NamedTuple):
    """A relaxation's outcome. Shapes: state (*batch, n); the others (*batch,). (A named tuple:
    made once per relaxation, in hot loops.)"""

    state: torch.Tensor
    steps: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())


@dataclass(frozen=True, kw_only=True, slots=True)
class ToTolerance:
    """Stop an element when its residual is <= ``tol``, or after ``max_steps`` steps."""

    tol: float = 1e-6
    max_steps: int = 10_000

    def __post_init__(self):
        positive("tol", self.tol)
        positive_int("max_steps", self.max_steps)


@dataclass(frozen=True, slots=True)
class Steps:
    """Exactly ``n`` steps for every element (a fixed-iteration protocol, Eq. 21).

    There is no tolerance to meet: by default nothing is measured (residual NaN, ``converged``
    True: the protocol ran), which keeps the loop at the cost of its steps. With ``check=True``
    the last step's residual is measured and ``converged`` flags a finite one, so that ``throw``
    raises on NaN/Inf.
    """

    n: int
    check: bool = False

    def __post_init__(self):
        positive_int("n", self.n, minimum=0)
        flag("check", self.check)


StopPolicy = ToTolerance | Steps


class AbstractStepper(abc.ABC):
    """One relaxation's step map, built by a solver (see :meth:`AbstractEquilibriumSolver.stepper`).

    The same contract as :class:`~memprop.networks.kernel.Kernel`: ``start``/``state`` convert
    to and from a working layout, ``advance(u, out, residual)`` writes the next iterate into
    ``out`` and returns the residual at ``u``, ``buffer`` hands out working buffers, and
    ``take(rows)`` restricts the stepper to rows of the leading batch dimension (in the (*batch,
    n) layout). ``stalled`` may name elements found unable to converge (finished, not converged).
    """

    stalled: torch.Tensor | None = None

    @abc.abstractmethod
    def advance(self, u: torch.Tensor, out: torch.Tensor, residual: bool) -> torch.Tensor | None: ...

    def start(self, s0: torch.Tensor) -> torch.Tensor:
        return s0

    def state(self, u: torch.Tensor) -> torch.Tensor:
        return u

    @abc.abstractmethod
    def buffer(self, name: str, like: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def take(self, rows: torch.Tensor) -> AbstractStepper: ...

    def iterate(self, u: torch.Tensor, n: int, residual: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` steps from the working-form ``u`` (not written), ping-ponging between two
        buffers; returns the last iterate and, if asked, the last step's residual."""
        bufs = (self.buffer("a", u), self.buffer("b", u))
        r = None
        for it in range(n):  # loop over steps, each vectorised over the batch
            out = bufs[it % 2]
            r = self.advance(u, out, residual and it == n - 1)
            u = out
        return u, r


class AbstractEquilibriumSolver(abc.ABC):
    """Interface: build a stepper for one relaxation; ``relax`` runs the loop."""

    tol: float
    max_steps: int

    def _check(self) -> None:
        positive("tol", self.tol)
        positive_int("max_steps", self.max_steps)

    @property
    def default_stop(self) -> ToTolerance:
        """The solver's own stopping policy: ``ToTolerance(tol, max_steps)``."""
        return ToTolerance(tol=self.tol, max_steps=self.max_steps)

    @abc.abstractmethod
    def stepper(self, network: AbstractNetwork, d: torch.Tensor, *, beta: float, target: torch.Tensor | None,
                work: Workspace, tag: str, compact: bool):
        """The step map for relaxing ``network`` under drive ``d`` in this phase. ``compact``:
        the loop will drop rows (the stepper must work in the (*batch, n) layout and ``take``)."""

    def solve(self, network: AbstractNetwork, s0: torch.Tensor, d: torch.Tensor, *, beta: float = 0.0,
              target: torch.Tensor | None = None, throw: bool = True, stop: StopPolicy | None = None,
              compact: float | None = 0.0, workspace: Workspace | None = None, tag: str = "relax") -> Equilibrium:
        """Relax from ``s0`` under drive ``d``; see the module docstring."""
        stop = self.default_stop if stop is None else stop
        squeeze = s0.ndim == 1
        if squeeze:
            s0, d = s0[None], d[None]
            target = None if target is None else target[None]
        work = Workspace() if workspace is None else workspace
        compacting = isinstance(stop, ToTolerance) and compact is not None
        stepper = self.stepper(network, d, beta=beta, target=target, work=work, tag=tag, compact=compacting)
        if isinstance(stop, Steps):
            eq = _run_steps(stepper, s0, stop)
        elif compact is None:
            eq = _run_together(stepper, s0, stop)
        else:
            eq = _run_compacting(stepper, s0, stop, compact)
        if squeeze:
            eq = Equilibrium(eq.state[0], eq.steps[0], eq.residual[0], eq.converged[0])
        if throw and not eq.all_converged:
            raise _not_converged(type(self).__name__, eq, stop)
        return eq


def _not_converged(name: str, eq: Equilibrium, stop: StopPolicy) -> ConvergenceError:
    bad = ~eq.converged
    nonfinite = int((~torch.isfinite(eq.residual)).sum())
    worst = float(eq.residual[bad].nan_to_num(float("inf")).max())
    steps = int(eq.steps[bad].max())
    if isinstance(stop, Steps):
        return ConvergenceError(
            f"{name}: {int(bad.sum())} of {bad.numel()} batch elements became NaN/Inf within "
            f"{stop.n} steps. Reduce the step or the weights, or pass throw=False for the flags.",
            residual=worst, steps=steps)
    return ConvergenceError(
        f"{name} did not converge for {int(bad.sum())} of {bad.numel()} "
        f"batch elements: worst residual {worst:.3g} > tol {stop.tol:g} after "
        f"{steps} steps (max_steps={stop.max_steps})"
        + (f"; {nonfinite} became NaN/Inf" if nonfinite else "")
        + ". Raise max_steps, loosen tol, reduce the step, or pass throw=False for the flags.",
        residual=worst, steps=steps)


def _run_steps(stepper, s0: torch.Tensor, stop: Steps) -> Equilibrium:
    """Exactly ``stop.n`` steps (ping-pong between two buffers)."""
    n = stop.n
    batch = s0.shape[:-1]
    if n == 0:
        nan = torch.full(batch, float("nan"), dtype=s0.dtype, device=s0.device)
        return Equilibrium(s0.clone(), torch.zeros(batch, dtype=torch.long, device=s0.device), nan,
                           torch.isfinite(s0).all(-1))
    u, r = stepper.iterate(stepper.start(s0), n, stop.check)
    state = stepper.state(u)
    # Constants for a given protocol and batch: made once per workspace, shared (read-only).
    plans = stepper.work.plans
    key = ("steps-result", batch, n, s0.dtype)
    const = plans.get(key)
    if const is None or const[0].device != s0.device:
        const = plans[key] = (
            torch.full(batch, n, dtype=torch.long, device=s0.device),
            torch.full(batch, float("nan"), dtype=s0.dtype, device=s0.device),
            torch.ones(batch, dtype=torch.bool, device=s0.device))
    steps, nan, ones = const
    if not stop.check:
        return Equilibrium(state, steps, nan, ones)
    return Equilibrium(state, steps, r, torch.isfinite(r))


def _run_together(stepper, s0: torch.Tensor, stop: ToTolerance) -> Equilibrium:
    """Every element steps until all have converged (``compact=None``)."""
    tol = stop.tol
    u = stepper.start(s0)
    bufs = (stepper.buffer("a", u), stepper.buffer("b", u))
    steps = torch.zeros(s0.shape[:-1], dtype=torch.long, device=s0.device)
    r = None
    for it in range(stop.max_steps + 1):  # loop over steps, each vectorised over the batch
        out = bufs[it % 2]
        r = stepper.advance(u, out, True)
        worst = float(r.max())  # NaN propagates: a non-finite state stops the loop
        if worst <= tol or not math.isfinite(worst) or it == stop.max_steps:
            break
        steps += r > tol
        u = out
    return Equilibrium(stepper.state(u), steps, r, r <= tol)


def _run_compacting(stepper, s0: torch.Tensor, stop: ToTolerance, fraction: float) -> Equilibrium:
    """Record each element at its first convergence; drop finished rows of the leading
    dimension once they are at least ``fraction`` of the working set (0: at once; 1: only when
    all have finished, i.e. never re-index)."""
    tol, max_steps = stop.tol, stop.max_steps
    batch, n = s0.shape[:-1], s0.shape[-1]
    dev = s0.device
    total = math.prod(batch)
    state = s0.reshape(total, n).clone()
    steps = torch.full((total,), max_steps, dtype=torch.long, device=dev)
    residual = torch.full((total,), float("inf"), dtype=s0.dtype, device=dev)
    converged = torch.zeros(total, dtype=torch.bool, device=dev)
    index = torch.arange(total, device=dev).reshape(batch)  # flat output index of each element
    active = torch.ones(batch, dtype=torch.bool, device=dev)  # not yet recorded
    u = stepper.start(s0)
    bufs = (stepper.buffer("a", u), stepper.buffer("b", u))
    r = None
    recorded_in_set = False  # whether an element already recorded is still in the working set
    for it in range(max_steps + 1):  # loop over steps, each vectorised over the working set
        out = bufs[it % 2]
        r = stepper.advance(u, out, True)
        stalled = stepper.stalled
        if stalled is None and not recorded_in_set and float(r.min()) > tol:
            # Every element of the working set is unrecorded and still above tol (min propagates
            # NaN, and NaN > tol is False): nothing to record. One reduction instead of five ops.
            if it == max_steps:
                break
            u = out
            continue
        done = (r > tol).logical_not_()  # converged, or NaN (which never converges)
        if stalled is not None:
            done |= stalled
        new = done.logical_and_(active)
        if bool(new.any()):
            idx = index[new]
            state.index_copy_(0, idx, u[new])
            steps.index_copy_(0, idx, torch.full_like(idx, it) if stalled is None else
                              torch.where(stalled[new], max_steps, it))
            rn = r[new]
            residual.index_copy_(0, idx, rn)
            converged.index_copy_(0, idx, rn <= tol)
            active &= ~new
            row_done = ~active.reshape(active.shape[0], -1).any(1)
            n_done = int(row_done.sum())
            if n_done and n_done >= fraction * row_done.numel():
                if n_done == row_done.numel():
                    active = active[:0]
                    break
                keep = (~row_done).nonzero().squeeze(1)
                stepper = stepper.take(keep)
                index, active = index[keep], active[keep]
                recorded_in_set = not bool(active.all())
                if it == max_steps:
                    u, r = u[keep], r[keep]
                    break
                u = out[keep]
                bufs = (stepper.buffer("a", u), stepper.buffer("b", u))
                continue
            recorded_in_set = True
        if it == max_steps:
            break
        u = out
    if active.numel() and bool(active.any()):
        idx = index[active]
        state.index_copy_(0, idx, u[active])
        residual.index_copy_(0, idx, r[active])
        converged.index_copy_(0, idx, r[active] <= tol)
    return Equilibrium(state.reshape(*batch, n), steps.reshape(batch), residual.reshape(batch),
                       converged.reshape(batch))


def relax(network: AbstractNetwork, solver: AbstractEquilibriumSolver, s0: torch.Tensor | None = None,
          x: torch.Tensor | None = None, *, beta: float = 0.0, target: torch.Tensor | None = None,
          batch_shape: tuple[int, ...] | None = None, drive: torch.Tensor | None = None,
          generator: torch.Generator | None = None, stop: StopPolicy | None = None,
          compact: float | None = 0.0, workspace: Workspace | None = None, tag: str = "relax",
          throw: bool = True, validate: bool = True) -> Equilibrium:
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
        stop: :class:`ToTolerance` or :class:`Steps`; default the solver's tol and max_steps.
        compact: how finished rows leave the working set under :class:`ToTolerance` (0: at once;
            a fraction f: once they are f of it; None: never, every element steps until all
            have converged); see the module docstring.
        workspace: buffers to reuse across relaxations (the returned state may then be one).
        tag: names this relaxation's buffers in ``workspace``.
        throw: raise ConvergenceError on non-convergence (default) instead of returning flags.
        validate: check shapes and finiteness (hot loops that validated once pass False).
    """
    if validate:
        if not isinstance(solver, AbstractEquilibriumSolver):
            raise ConfigError(f"solver must be an equilibrium solver, got {type(solver).__name__}")
        if stop is not None and not isinstance(stop, (ToTolerance, Steps)):
            raise ConfigError(f"stop must be ToTolerance(...) or Steps(n), got {type(stop).__name__}")
        if compact is not None:
            from .._validate import in_range

            in_range("compact", compact, 0.0, 1.0)
    if s0 is not None:
        if validate:
            s0 = network.check_state(s0, "s0")
        batch_shape = tuple(s0.shape[:-1])
    elif batch_shape is None:
        ref = drive if drive is not None else x
        if ref is None:
            raise ConfigError("give s0, x, drive or batch_shape so that the batch shape is known")
        batch_shape = tuple(ref.shape[:-1])
    if validate:
        if x is not None and not all_finite(x):
            raise ConfigError("x contains NaN/Inf entries; all inputs must be finite")
        if target is not None and not all_finite(target):
            raise ConfigError("target contains NaN/Inf entries; all targets must be finite")
    d = network.drive(x, batch_shape) if drive is None else drive
    if s0 is None:
        s0 = network.initial_state(batch_shape, generator=generator, dtype=d.dtype, device=d.device)
    if validate:
        if tuple(d.shape) != tuple(s0.shape):
            raise ConfigError(f"x/drive gives shape {tuple(d.shape)} but the state is {tuple(s0.shape)}")
        if beta != 0.0 and target is None:
            raise ConfigError("target is required when beta != 0")
        if target is not None:
            n_out = network.outputs(s0).shape[-1]
            if tuple(target.shape) != (*batch_shape, n_out):
                raise ConfigError(f"target must have shape {(*batch_shape, n_out)}, got {tuple(target.shape)}")
    return solver.solve(network, s0, d, beta=float(beta), target=target, throw=throw, stop=stop,
                        compact=compact, workspace=workspace, tag=tag)
