r"""Relaxation kernels: a network's dynamics bound to one drive and one phase, for solvers.

The explicit solvers iterate one map, the projected Euler step (Eq. 21 with h = epsilon)

.. math:: s \leftarrow P\big(s + h\, f(s)\big), \qquad f(s) = -\partial F / \partial s,

where P is the network's projection (the identity for unbounded states). A :class:`Kernel`
binds a network to a drive d, a nudging strength beta and a target, for one relaxation, and
evaluates that map with as few tensor operations as the model allows: every buffer comes from a
:class:`Workspace` (a training loop allocates nothing per minibatch), fields are computed in
place, and what is constant over the relaxation (the drive scaled by h, transposes and scaled
copies of the weights) is computed once, when the kernel is made. A kernel may keep its state
in a *working layout* of its own (:meth:`Kernel.start` and :meth:`Kernel.state` convert): the
layered network keeps one column per example, so that each layer is a contiguous block of rows
for the matrix products.

Kernels run whole batches (no element leaves early); the solvers' compacting loop, which drops
converged rows, works on the networks' own methods instead.
"""

from __future__ import annotations

import torch


def zero_drive(d: torch.Tensor) -> bool:
    """Whether a drive is all zeros, so that kernels may skip adding it (an expanded scalar, as
    ``network.drive(None, ...)`` returns, is judged by its one element, without a pass)."""
    if d.numel() and all(st == 0 for st in d.stride()):
        return float(d[(0,) * d.ndim]) == 0.0
    return not bool(d.any())


class Workspace:
    """Reusable buffers by (name, shape, dtype, device), so that a loop allocates nothing per
    iteration (fresh CPU allocations of training-sized tensors page-fault and cost more than the
    arithmetic). A buffer's contents are undefined when handed out. Final class."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, torch.Tensor] = {}
        self.plans: dict[tuple, object] = {}
        """Kernels' per-shape plans (views of these buffers), reused across relaxations."""
        self.admissible: set[int] = set()
        """Addresses of buffers that only ever hold projected (admissible) states."""

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """The buffer ``name`` of ``shape`` with ``like``'s dtype and device."""
        key = (name, tuple(shape), like.dtype, like.device)
        buf = self._buffers.get(key)
        if buf is None:
            if len(self._buffers) > 256:  # shapes that change every call: bound the pool
                self._buffers.clear()
                self.plans.clear()
                self.admissible.clear()
            buf = self._buffers[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def clear(self) -> None:
        """Release every buffer."""
        self._buffers.clear()
        self.plans.clear()
        self.admissible.clear()


class Kernel:
    """The projected Euler map of one network for one relaxation (see the module docstring).

    This generic kernel evaluates ``network.vector_field`` into a buffer and steps in the
    states' own (*batch, n) layout; networks with a faster fused form return their own kernel
    from :meth:`~memprop.networks.AbstractNetwork.kernel`.

    Args:
        network: the network.
        d: the drive (*batch, n).
        h: the step (dt or epsilon).
        beta, target: the phase (beta = 0: free).
        work: buffers to reuse (default: a private workspace).
        tag: names this kernel's buffers in ``work`` (kernels alive at once need distinct tags).
    """

    def __init__(self, network, d: torch.Tensor, *, h: float, beta: float = 0.0,
                 target: torch.Tensor | None = None, work: Workspace | None = None, tag: str = "k"):
        self.network, self.d, self.h, self.beta, self.target = network, d, float(h), float(beta), target
        self.work = Workspace() if work is None else work
        self.tag = tag
        self.bounded = network.bounded

    stalled = None
    """No element of a smooth relaxation is ever known unable to converge."""

    def buffer(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """A working buffer shaped like ``like`` (for the solvers' ping-pong)."""
        return self.work.get(f"{self.tag}.{name}", tuple(like.shape), like)

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

    def take(self, rows: torch.Tensor) -> Kernel:
        """The kernel restricted to ``rows`` of the leading batch dimension."""
        return type(self)(self.network.take(rows), self.d.index_select(0, rows), h=self.h, beta=self.beta,
                          target=None if self.target is None else self.target.index_select(0, rows),
                          work=self.work, tag=self.tag)

    def start(self, s0: torch.Tensor) -> torch.Tensor:
        """The working form of ``s0`` (``s0`` itself here; it is never written to)."""
        return s0

    def state(self, u: torch.Tensor) -> torch.Tensor:
        """The (*batch, n) state of a working-form ``u`` (possibly a view of it)."""
        return u

    def advance(self, u: torch.Tensor, out: torch.Tensor, residual: bool) -> torch.Tensor | None:
        """Write P(u + h f(u)) into ``out`` (not ``u``); return the residual at ``u``, per batch
        element (max_i |f_i| for unbounded states, max_i |P(u + h f) - u|_i / h otherwise), or
        None when ``residual`` is False."""
        f = self.network.vector_field(u, self.d, beta=self.beta, target=self.target,
                                      out=self.work.get(f"{self.tag}.f", tuple(u.shape), u))
        if not self.bounded:
            r = f.abs().amax(-1) if residual else None
            torch.add(u, f, alpha=self.h, out=out)
            return r
        torch.add(u, f, alpha=self.h, out=out)
        self.network.project_(out)
        if not residual:
            return None
        return torch.sub(out, u, out=f).abs_().amax(-1) / self.h
