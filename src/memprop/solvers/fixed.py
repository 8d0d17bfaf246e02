r"""A lean fixed-iteration form of Eq. (21) for the layered network (Scellier & Bengio 2017).

Eq. (21) is s <- rho(s - epsilon dF/ds) with F = E + beta C. On the layered network with the hard
sigmoid rho(s) = clip(s, 0, 1), once every unit lies in [0, 1] (after the first step, or from the
start for zero or stored states) rho(s) = s and rho'(s) = 1, so one step of layer k is

.. math::
    s_k \leftarrow \mathrm{clip}\big((1 - \epsilon - \epsilon\beta m_k)\, s_k
        + \epsilon (d_k + \beta m_k T) + \epsilon\, s_{k-1} W_{k-1} + \epsilon\, s_{k+1} W_k^\top,\ 0, 1\big)

with d_k the constant drive (x W_0 + b_1 on the first layer, b_k elsewhere) and m_k = 1 on the
output layer only. All layers update synchronously (from the previous iterate), as
:class:`~memprop.solvers.ClippedRelaxation` does.

:class:`FixedStepRelaxation` runs exactly ``steps`` such iterations with no residuals, no
convergence test and no early exit. It computes what
``relax(network, ClippedRelaxation(epsilon=..., tol=<tiny>, max_steps=steps), throw=False)``
computes (Scellier & Bengio's fixed 20 free + 4 nudged iterations), up to rounding; the tests
check this in float64. It is not an :class:`~memprop.solvers.AbstractEquilibriumSolver`: it
reports no residual, so it cannot honour ``throw``. Use it where a fixed iteration count is the
protocol (EP training and evaluation of the layered network).

Layout, for speed: the working state is *unit-major*, ``sT`` of shape (n_state, B), one column
per example, so that each layer is a contiguous block of rows. One step of a one-hidden-layer
net is then five tensor operations on preallocated buffers (two small products eps W s written
into the layers' row blocks, + eps d and + (1 - eps) s on the whole state, one clip; one more
on the output block when nudged), whatever the batch size;
the scaled drive epsilon (x W_0 + b_1) is computed once per input batch
(:meth:`FixedStepRelaxation.scaled_drive`). :meth:`FixedStepRelaxation.relax` wraps this for the
flat example-major (B, n_state) states of :class:`~memprop.networks.LayeredNetwork`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import positive, positive_int
from ..errors import ConfigError
from ..networks.layered import LayeredNetwork


def row_blocks(network: LayeredNetwork) -> list[slice]:
    """Row ranges of the layers s_1 ... s_L in a unit-major (n_state, B) state."""
    out, start = [], 0
    for n in network.sizes[1:]:
        out.append(slice(start, start + n))
        start += n
    return out


class Workspace:
    """Reusable buffers by (name, shape, dtype), so that a training loop allocates nothing per
    minibatch (fresh CPU allocations of this size page-fault and cost more than the arithmetic).
    Final class."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, torch.Tensor] = {}
        self.plans: dict[tuple, tuple] = {}
        """Per-call plans of :class:`FixedStepRelaxation` (views of these buffers)."""

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """The buffer ``name`` of ``shape`` with ``like``'s dtype and device (contents undefined)."""
        key = (name, tuple(shape), like.dtype, like.device)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf


@dataclass(frozen=True, kw_only=True, slots=True)
class FixedStepRelaxation:
    """Eq. (21) for a fixed number of synchronous steps on a :class:`LayeredNetwork`. Final."""

    epsilon: float = 0.5
    """Step epsilon of the discretised dynamics (dimensionless; an inference step)."""
    steps: int = 20
    """Iterations per call (Scellier & Bengio: 20 free, 4 nudged)."""

    def __post_init__(self):
        positive("epsilon", self.epsilon)
        positive_int("steps", self.steps, minimum=0)

    def scaled_drive(self, network: LayeredNetwork, x: torch.Tensor, *, work: Workspace | None = None,
                     projection: torch.Tensor | None = None) -> torch.Tensor:
        """epsilon d, unit-major (n_state, B): eps (x W_0 + b_1) on layer 1, eps b_k below.

        The input projection x W_0, the only O(n_0 n_1) term of the relaxation, is computed here
        once per input batch (example-major, then transposed: BLAS is much slower at W_0^T x^T),
        unless the caller passes it as ``projection`` (B, n_1). With ``work``, the result is the
        workspace's buffer ``"drive"`` (overwritten by the next call).
        """
        eps = self.epsilon
        blocks = row_blocks(network)
        B = x.shape[0]
        n1 = network.sizes[1]
        if work is None:
            c = torch.empty(network.n_state, B, dtype=x.dtype, device=x.device)
            first = torch.empty(B, n1, dtype=x.dtype, device=x.device)
        else:
            c = work.get("drive", (network.n_state, B), x)
            first = work.get("drive.first", (B, n1), x)
        if projection is None:
            torch.addmm(network.biases[0], x, network.weights[0], out=first)  # (B, n_1)
        else:
            torch.add(projection, network.biases[0], out=first)
        torch.mul(first.T, eps, out=c[blocks[0]])
        for blk, b in zip(blocks[1:], network.biases[1:]):  # loop over layers
            torch.mul(b[:, None].expand(-1, B), eps, out=c[blk])
        return c

    def run(self, network: LayeredNetwork, sT: torch.Tensor, c: torch.Tensor, *, beta: float = 0.0,
            targetT: torch.Tensor | None = None, steps: int | None = None, in_bounds: bool = False,
            work: Workspace | None = None, tag: str = "run") -> torch.Tensor:
        """Iterate Eq. (21) ``steps`` times (default ``self.steps``) from ``sT``.

        Args:
            network: the layered network (its live weights are read).
            sT: (n_state, B) unit-major initial state; not modified.
            c: (n_state, B) scaled drive from :meth:`scaled_drive`; not modified.
            beta: nudging strength of this phase (0: the free phase).
            targetT: (n_L, B) unit-major target, required when beta != 0.
            steps: number of iterations (default ``self.steps``).
            in_bounds: promise that every entry of ``sT`` lies in [0, 1] (true for zero states
                and for this method's outputs), which skips a check.
            work: buffers to reuse; then the result is one of the buffers of ``tag`` and is
                overwritten by the next call with the same ``tag`` (``sT`` must not be one of them).
            tag: names this call's buffers in ``work``.

        Returns:
            The (n_state, B) state after ``steps`` iterations (a fresh tensor without ``work``).
        """
        n = self.steps if steps is None else steps
        eps = self.epsilon
        if sT.shape != c.shape or sT.shape[0] != network.n_state:
            raise ConfigError(f"sT and c must both be ({network.n_state}, B), got {tuple(sT.shape)} and {tuple(c.shape)}")
        if beta != 0.0 and targetT is None:
            raise ConfigError("targetT is required when beta != 0 (the nudged phase pulls towards it)")
        if n == 0:
            return sT.clone()
        blocks = row_blocks(network)
        if not in_bounds and not bool(((sT >= 0.0) & (sT <= 1.0)).all()):
            # Outside [0, 1] rho(s) != s: take the first step with the model's own field.
            s, d = sT.T, (c / eps).T
            target = None if targetT is None else targetT.T
            f = network.vector_field(s, d, beta=beta, target=target)
            sT = (s + eps * f).clamp(0.0, 1.0).T.contiguous()
            n -= 1
            if n == 0:
                return sT
        sT = sT.contiguous()
        if beta != 0.0:
            cn = torch.empty_like(c) if work is None else work.get(tag + ".c", c.shape, c)
            cn.copy_(c)
            cn[blocks[-1]].add_(targetT, alpha=eps * beta)  # eps (d_L + beta T)
            c = cn
        key = (tag, sT.data_ptr(), tuple(sT.shape), sT.dtype)
        plan = None if work is None else work.plans.get(key)
        if plan is None:
            plan = self._plan(network, sT, work, tag)
            if work is not None:
                if len(work.plans) > 64:  # plans pin their input buffers: bound the cache
                    work.plans.clear()
                work.plans[key] = plan
        a, b, views, products, scaled = plan
        for buf, j, transpose in scaled:  # refresh eps W_j (or its transpose): the weights change
            W = network.weights[j]
            torch.mul(W.T if transpose else W, eps, out=buf)
        keep = 1.0 - eps  # coefficient of s_k itself; the nudged output's is keep - eps beta
        nudge = -eps * beta
        cur, cur_name = sT, "s"
        for it in range(n):  # loop over iterations and layers, never over units
            new, new_name = (a, "a") if it % 2 == 0 else (b, "b")
            for dst, M, src, first in products[cur_name + new_name]:
                if first:
                    torch.mm(M, src, out=dst)  # eps W s_neighbour into the layer's rows
                else:
                    dst.addmm_(M, src)  # a middle layer's second neighbour
            new.add_(c)
            new.add_(cur, alpha=keep)  # + eps d + (1 - eps) s, all layers at once
            if beta != 0.0:
                views[new_name][-1].add_(views[cur_name][-1], alpha=nudge)
            new.clamp_(0.0, 1.0)
            cur, cur_name = new, new_name
        return cur

    @staticmethod
    def _plan(network: LayeredNetwork, sT: torch.Tensor, work: Workspace | None, tag: str):
        """Buffers, layer views and the list of in-place products of a step (reused via ``work``,
        keyed by the input buffer, which the plan's views keep alive)."""
        blocks = row_blocks(network)
        L = len(blocks)
        if work is None:
            a, b = torch.empty_like(sT), torch.empty_like(sT)
        else:
            a, b = work.get(tag + ".a", sT.shape, sT), work.get(tag + ".b", sT.shape, sT)
            assert sT.data_ptr() not in (a.data_ptr(), b.data_ptr()), "sT is one of this tag's buffers"
        # The coupling products of each layer j as (eps-scaled matrix, source layer): h_j^T gets
        # W_{j-1}^T s_{j-1}^T from below and W_j s_{j+1}^T from above.
        W = network.weights
        terms, scaled = [], []
        for j in range(L):  # loop over layers
            first = True
            for src, w, transpose in ((j - 1, j, True), (j + 1, j + 1, False)):
                if 0 <= src < L:
                    shape = W[w].T.shape if transpose else W[w].shape  # (n_j, n_src)
                    M = torch.empty(shape, dtype=sT.dtype, device=sT.device)
                    scaled.append((M, w, transpose))
                    terms.append((j, M, src, first))
                    first = False
            if first:  # no neighbour (a net without hidden layers): the products give 0
                zero = torch.zeros(blocks[j].stop - blocks[j].start, 1, dtype=sT.dtype, device=sT.device)
                terms.append((j, zero, None, True))
        views = {name: [t[blk] for blk in blocks] for name, t in (("s", sT), ("a", a), ("b", b))}
        # The products of a step from cur to new, for the three (cur, new) pairs used.
        empty = sT.new_zeros(1, sT.shape[1])
        products = {
            u + v: [(views[v][j], M, empty if src is None else views[u][src], first)
                    for j, M, src, first in terms]
            for u, v in (("s", "a"), ("a", "b"), ("b", "a"))
        }
        return a, b, views, products, scaled

    def relax(self, network: LayeredNetwork, s0: torch.Tensor | None, x: torch.Tensor, *,
              beta: float = 0.0, target: torch.Tensor | None = None) -> torch.Tensor:
        """Example-major form: ``steps`` iterations from ``s0`` (default zeros) with input ``x``.

        Equals ``relax(network, ClippedRelaxation(epsilon, tol=1e-300, max_steps=steps), s0, x,
        beta=beta, target=target, throw=False).state`` up to rounding.

        Args:
            network: a :class:`LayeredNetwork`.
            s0: (B, n_state) initial state, or None for zeros.
            x: (B, n_0) clamped input.
            beta: nudging strength.
            target: (B, n_L), required when beta != 0.

        Returns:
            The (B, n_state) state.
        """
        if not isinstance(network, LayeredNetwork):
            raise ConfigError(f"FixedStepRelaxation needs a LayeredNetwork, got {type(network).__name__}")
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[-1] != network.sizes[0]:
            raise ConfigError(f"x must be a tensor of shape (B, {network.sizes[0]}), got {getattr(x, 'shape', x)}")
        if s0 is None:
            s0 = network.initial_state((x.shape[0],), dtype=x.dtype, device=x.device)
        s0 = network.check_state(s0, "s0")
        if beta != 0.0:
            if target is None:
                raise ConfigError("target is required when beta != 0")
            target = target.T.contiguous()
        c = self.scaled_drive(network, x)
        out = self.run(network, s0.T.contiguous(), c, beta=beta, targetT=target)
        return out.T.contiguous()
