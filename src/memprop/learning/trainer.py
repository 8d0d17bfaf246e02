r"""The one training loop: an epoch of any learning rule over any network, exactly or in situ.

:func:`train_epoch` shows the samples in minibatches (in a given order), asks the rule for a
gradient estimate per minibatch and applies it with :func:`~memprop.learning.updates.apply_update`
(weights on hardware are programmed through their crossbars). It covers both studies:

- online training of C stacked configurations (reconstruction): weights (C, n, n), data
  (C, P, n), ``batch_size=1`` in a fixed order, one learning rate per configuration (``lr`` a
  (C, 1, 1) tensor), random initial states given per sample (``s0``), configurations whose
  weights an update would make non-finite frozen (``alive``);
- minibatch training (classification): data (n, n_in), a random ``order`` per epoch, per-layer
  rates (``lr`` a dict), persistent free states (``s0`` with ``persistent=True``: each sample's
  free phase starts from its stored state, which is then replaced by the new one).

Speed, for networks whose input enters the drive through one weight (``network.input_weight``,
x W_0 for the layered network) and rules whose gradient for it is x^T D (EP):
``defer_input=K`` applies the W_0 updates of K consecutive minibatches together, as one product
(n_0, K B) @ (K B, n_1), and computes the window's input projections as one (K B, n_0) @ (n_0,
n_1), corrected for the window's pending updates by x (x_i^T D_i) (small products). This is
exactly the sequence of minibatch updates (each minibatch's projection includes the updates of
the window's earlier minibatches), up to rounding; W_0 is then read and written once per
window instead of twice per minibatch, at large-matrix speed. The corrections cost
B^2 K (K - 1) (n_0 + n_1) FLOPs per window against the window's 4 K B n_0 n_1, a fraction
B (K - 1) (n_0 + n_1) / (4 n_0 n_1) that grows with the minibatch: :func:`deferral_window` picks
the largest window (up to a limit) whose corrections cost at most ``DEFER_OVERHEAD`` of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._validate import all_finite, positive_int
from ..errors import ConfigError, DivergenceError
from ..networks.base import AbstractNetwork
from ..networks.kernel import Workspace
from .base import AbstractLearningRule, Estimate
from .updates import OuterProducts, apply_update


@dataclass(kw_only=True, slots=True)
class EpochResult:
    """What :func:`train_epoch` records. Per-sample tensors are in the samples' own order (not
    the epoch's presentation order); ``...`` is the configuration dimension of stacked weights."""

    free: torch.Tensor | None
    """(..., n_samples, n_state) free-phase states (``keep_free``; with ``persistent``, ``s0``
    itself holds them)."""
    steps: torch.Tensor | None
    """(..., n_samples) free-phase steps (``record_steps``)."""
    converged: torch.Tensor | None
    """(..., n_samples) whether each free phase converged (``record_steps``)."""
    update_norm: torch.Tensor | None
    """(..., n_batches) Frobenius norm of each update (``record_norms``)."""
    seconds: float


DEFER_OVERHEAD = 0.1
"""The largest fraction of a window's own W_0 products that :func:`deferral_window` lets its
correction products add."""


def deferral_window(batch_size: int, n_in: int, n_out: int, limit: int) -> int:
    """The window K for ``defer_input``: the largest K <= ``limit`` whose correction products cost
    at most ``DEFER_OVERHEAD`` of the window's own, B (K - 1) (n_0 + n_1) / (4 n_0 n_1) (see the
    module docstring), and at least 1. Large minibatches already run the products at large-matrix
    speed and get K = 1 (784-500: B <= 20 gives 4, B = 100 gives 2, B = 500 gives 1)."""
    for name, v in (("batch_size", batch_size), ("n_in", n_in), ("n_out", n_out), ("limit", limit)):
        positive_int(name, v)
    extra = 4 * DEFER_OVERHEAD * n_in * n_out / (batch_size * (n_in + n_out))
    return max(1, min(limit, 1 + int(extra)))


def _samples(t: torch.Tensor, order: torch.Tensor | None, work: Workspace, name: str) -> torch.Tensor:
    """The samples of ``t`` in the presentation ``order``, copied into the workspace's buffer
    ``name`` (kept across epochs: a fresh training-sized allocation page-faults every epoch)."""
    if order is None:
        return t
    return torch.index_select(t, -2, order, out=work.get(name, tuple(t.shape), t))


def train_epoch(network: AbstractNetwork, rule: AbstractLearningRule, x: torch.Tensor | None,
                target: torch.Tensor, *, lr, batch_size: int = 1, order: torch.Tensor | None = None,
                s0: torch.Tensor | None = None, persistent: bool = False,
                generator: torch.Generator | None = None, alive: torch.Tensor | None = None,
                keep_free: bool = False, record_norms: bool = False, record_steps: bool = True,
                defer_input: int = 0,
                workspace: Workspace | None = None,
                on_batch: Callable[[int, int, slice, Estimate], None] | None = None) -> EpochResult:
    """One epoch of ``rule`` on ``network`` (see the module docstring).

    Args:
        network: trained in place (weights on hardware through their holders).
        rule: any learning rule.
        x: inputs (..., n_samples, n_in), or None for networks without an input.
        target: (..., n_samples, n_out).
        lr: one rate, a rate per parameter name, or a tensor (one per configuration).
        batch_size: samples per update.
        order: presentation order, a permutation of the samples (default: as given).
        s0: initial free states (..., n_samples, n_state) (default: the network's initial state).
        persistent: write each sample's free state back into ``s0`` (persistent particles).
        generator: the rule's random stream (random initial states, random signs).
        alive: (C,) bool for stacked configurations: an update that would make a configuration's
            weights non-finite (on hardware: a non-finite gradient) freezes it (updated in place,
            see :func:`~memprop.learning.updates.apply_update`); without it, non-finite weights
            raise :class:`DivergenceError` at the end of the epoch.
        keep_free: return every sample's free state.
        record_norms: return the norm of every update.
        record_steps: return every sample's free-phase steps and convergence flag.
        defer_input: window K of the deferred input-weight updates (0: off; see above).
        workspace: buffers to reuse across epochs.
        on_batch: called as ``on_batch(i, n_batches, rows, estimate)`` after each update
            (``rows``: the minibatch's positions in the presentation order).
    """
    t0 = time.perf_counter()
    positive_int("batch_size", batch_size)
    positive_int("defer_input", defer_input, minimum=0)
    n = target.shape[-2]
    if x is not None and x.shape[-2] != n:
        raise ConfigError(f"x has {x.shape[-2]} samples but target has {n}")
    if s0 is not None and (s0.shape[-2] != n or s0.shape[-1] != network.n_state):
        raise ConfigError(f"s0 must have shape (..., {n}, {network.n_state}), got {tuple(s0.shape)}")
    if persistent and s0 is None:
        raise ConfigError("persistent=True needs the stored states s0")
    for name, t in (("x", x), ("target", target)):
        if t is not None and not all_finite(t):
            raise ConfigError(f"{name} contains NaN/Inf entries; all training data must be finite")
    work = Workspace() if workspace is None else workspace
    xo = None if x is None else _samples(x, order, work, "epoch.x")
    to = _samples(target, order, work, "epoch.target")
    so = None if s0 is None else _samples(s0, order, work, "epoch.s0")
    batch = tuple(target.shape[:-2])
    dev = target.device
    steps = torch.zeros(*batch, n, dtype=torch.long, device=dev) if record_steps else None
    conv = torch.zeros(*batch, n, dtype=torch.bool, device=dev) if record_steps else None
    free_all = None
    if keep_free and not persistent:
        free_all = torch.empty(*batch, n, network.n_state, dtype=target.dtype, device=dev)
    n_batches = (n + batch_size - 1) // batch_size
    norms = [] if record_norms else None

    defer = _Deferral(network, xo, defer_input, batch_size, n, work) if defer_input else None
    for i in range(n_batches):  # loop over minibatches (sequential updates: the protocol)
        rows = slice(i * batch_size, min((i + 1) * batch_size, n))
        m = rows.stop - rows.start
        xb = None if xo is None else xo.narrow(-2, rows.start, m)
        tb = to.narrow(-2, rows.start, m)
        sb = None if so is None else so.narrow(-2, rows.start, m)
        drive = None if defer is None else defer.drive(i, rows, xb)
        est = rule.estimate(network, xb, tb, s0=sb, generator=generator, drive=drive, workspace=work,
                            validate=False)
        grads = est.grads
        if defer is not None:
            if not isinstance(grads, dict):
                grads = dict(grads)
            defer.stash(rows, xb, grads.pop(defer.name), lr)
        upd = apply_update(network, grads, lr, alive=alive, norms=record_norms)
        if norms is not None:
            norms.append(upd["norm"])
        if est.free is not None:
            f = est.free
            if record_steps:
                steps[..., rows] = f.steps
                conv[..., rows] = f.converged
            if persistent:
                sb.copy_(f.state)
            elif free_all is not None:
                free_all.narrow(-2, rows.start, m).copy_(f.state)
        if on_batch is not None:
            on_batch(i, n_batches, rows, est)
    if defer is not None:
        defer.flush()
    if order is not None:  # back to the samples' own order
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(n, device=order.device)
        if record_steps:
            steps, conv = steps.index_select(-1, inverse), conv.index_select(-1, inverse)
        if persistent:
            s0.index_copy_(-2, order, so)
        if free_all is not None:
            free_all = free_all.index_select(-2, inverse)
    if alive is None:
        bad = [k for k, t in network.trainable().items() if not all_finite(t)]
        if bad:
            raise DivergenceError(
                f"training diverged: {', '.join(bad)} hold NaN/Inf after this epoch; lower the "
                f"learning rates (or beta)")
    return EpochResult(free=free_all, steps=steps, converged=conv,
                       update_norm=None if norms is None else torch.stack(norms, -1),
                       seconds=time.perf_counter() - t0)


class _Deferral:
    """The deferred input-weight updates of :func:`train_epoch` (see the module docstring)."""

    def __init__(self, network, xo, K, B, n, work):
        self.name = getattr(network, "input_weight", None)
        if self.name is None or xo is None:
            raise ConfigError(f"defer_input needs a network with an input weight (e.g. LayeredNetwork), "
                              f"got {type(network).__name__}")
        holder = network.holder(self.name)
        if holder is not None and not holder.exact:
            raise ConfigError("defer_input needs the input weight off hardware (each minibatch must be "
                              "programmed); pass defer_input=0 for in situ training")
        if xo.ndim != 2:
            raise ConfigError(f"defer_input needs inputs of shape (n_samples, n_in), got {tuple(xo.shape)}")
        self.network, self.xo, self.K, self.B, self.n, self.work = network, xo, K, B, n, work
        self.W = getattr(network, self.name)
        self.n1 = self.W.shape[1]
        self.pending = None
        self.window = slice(0, 0)
        self.bufs: dict[int, tuple] = {}

    def drive(self, i, rows, xb):
        work, W = self.work, self.W
        if i % self.K == 0:  # a window starts: apply the last one's updates, project its inputs
            self.flush()
            self.window = slice(rows.start, min(rows.start + self.K * self.B, self.n))
            self.xw = self.xo[self.window]
            m = self.xw.shape[0]
            self.proj = torch.mm(self.xw, W, out=work.get("defer.proj", (m, self.n1), self.xw))  # (KB, n_1)
            self.pending = work.get("defer.pending", (m, self.n1), self.xw)
        a, b = rows.start - self.window.start, rows.stop - self.window.start  # rows within the window
        m = b - a
        bufs = self.bufs.get(m)
        if bufs is None:  # per minibatch size: the corrected projection and the drive
            bufs = self.bufs[m] = (work.get("defer.proj_c", (m, self.n1), xb),
                                   work.get("defer.drive", (m, self.network.n_state), xb))
        if a:  # x (W_0 + sum_i x_i^T D_i) for the window's earlier minibatches i
            gram = torch.mm(xb, self.xw[:a].T, out=work.get("defer.gram", (m, a), xb))  # (B, a)
            pj = torch.addmm(self.proj[a:b], gram, self.pending[:a], out=bufs[0])
        else:
            pj = self.proj[a:b]
        self._rows = (a, b)
        return self.network.drive(xb, projection=pj, out=bufs[1])

    def stash(self, rows, xb, g, lr):
        if not (isinstance(g, OuterProducts) and len(g.terms) == 1 and g.terms[0][0] is xb):
            raise ConfigError(f"defer_input needs a rule whose gradient for {self.name} is x^T D (EP), "
                              f"got {type(g).__name__}")
        rate = lr[self.name] if isinstance(lr, dict) else lr
        _, D, c = g.terms[0]
        a, b = self._rows
        torch.mul(D, -c * rate / g.divisor, out=self.pending[a:b])

    def flush(self):
        if self.pending is not None:
            with torch.no_grad():
                self.W.addmm_(self.xw.T, self.pending)  # (n_0, KB) @ (KB, n_1)
            self.pending = None
