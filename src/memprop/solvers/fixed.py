r"""A lean fixed-iteration form of Eq. (21) for the layered network (Scellier & Bengio 2017).

Eq. (21) is s <- rho(s - epsilon dF/ds) with F = E + beta C. On the layered network with the hard
sigmoid rho(s) = clip(s, 0, 1), once every unit lies in [0, 1] (after the first step, or from the
start for zero or stored states) rho(s) = s and rho'(s) = 1, so one step of layer k is

.. math::
    s_k \leftarrow \mathrm{clip}\big((1 - \epsilon - \epsilon\beta m_k) s_k
        + \epsilon (d_k + \beta m_k T) + \epsilon s_{k-1} W_{k-1} + \epsilon s_{k+1} W_k^\top,\ 0, 1\big)

with d_k the constant drive (x W_0 + b_1 on the first layer, b_k elsewhere) and m_k = 1 on the
output layer only. All layers update synchronously (from the previous iterate), as
:class:`~memprop.solvers.ClippedRelaxation` does.

:class:`FixedStepRelaxation` runs exactly ``steps`` such iterations: no residuals, no
convergence test, no early exit, three tensor operations per layer and step into preallocated
buffers, and the scaled drive epsilon (x W_0 + b_1) computed once per input batch. It computes
what ``relax(network, ClippedRelaxation(epsilon=..., tol=<tiny>, max_steps=steps), throw=False)``
computes (Scellier & Bengio's fixed 20 free + 4 nudged iterations), up to rounding; the tests
check this in float64. It is not an :class:`~memprop.solvers.AbstractEquilibriumSolver`: it
reports no residual, so it cannot honour ``throw``; use it where a fixed iteration count is the
protocol (EP training and evaluation of the layered network).

States are lists of per-layer tensors ``[s_1 (B, n_1), ..., s_L (B, n_L)]``; :meth:`split` and
:meth:`join` convert from and to the flat (B, n_1 + ... + n_L) state of
:class:`~memprop.networks.LayeredNetwork`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import positive, positive_int
from ..errors import ConfigError
from ..networks.layered import LayeredNetwork


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

    # -- flat <-> layer lists ---------------------------------------------------------------

    @staticmethod
    def split(network: LayeredNetwork, s: torch.Tensor) -> list[torch.Tensor]:
        """Contiguous per-layer copies [s_1, ..., s_L] of a flat (B, n_state) state."""
        return [t.contiguous() for t in network.layers(s)]

    @staticmethod
    def join(layers: list[torch.Tensor]) -> torch.Tensor:
        """The flat (B, n_1 + ... + n_L) state of a layer list."""
        return layers[0].clone() if len(layers) == 1 else torch.cat(layers, dim=-1)

    # -- drives --------------------------------------------------------------------------------

    def scaled_drive(self, network: LayeredNetwork, x: torch.Tensor) -> list[torch.Tensor]:
        """epsilon d per layer: [eps (x W_0 + b_1) (B, n_1), eps b_2 (1, n_2), ...].

        The input projection, the only O(n_0 n_1) term of the relaxation, is computed here once.
        """
        eps = self.epsilon
        first = torch.addmm(network.biases[0], x, network.weights[0], beta=eps, alpha=eps)  # (B, n_1)
        return [first, *(torch.mul(b, eps)[None] for b in network.biases[1:])]

    # -- the iteration -------------------------------------------------------------------------

    def run(self, network: LayeredNetwork, s: list[torch.Tensor], c: list[torch.Tensor], *,
            beta: float = 0.0, target: torch.Tensor | None = None, steps: int | None = None,
            in_bounds: bool = False) -> list[torch.Tensor]:
        """Iterate Eq. (21) ``steps`` times (default ``self.steps``) from ``s``.

        Args:
            network: the layered network (its live weights are read, not copied).
            s: the initial state, one (B, n_k) tensor per layer; not modified.
            c: the scaled drive epsilon d_k per layer, from :meth:`scaled_drive`; (B, n_k) or
                broadcastable (1, n_k).
            beta: the nudging strength of this phase (0 for the free phase).
            target: (B, n_L) target T, required when beta != 0.
            steps: number of iterations (default ``self.steps``).
            in_bounds: promise that every entry of ``s`` lies in [0, 1] (true for zero states and
                for the outputs of this method), which skips a check.

        Returns:
            The state after ``steps`` iterations, one fresh (B, n_k) tensor per layer.
        """
        n = self.steps if steps is None else steps
        eps = self.epsilon
        W = network.weights
        L = len(W)
        if len(s) != L or len(c) != L:
            raise ConfigError(f"s and c must hold one tensor per layer ({L}), got {len(s)} and {len(c)}")
        if beta != 0.0:
            if target is None:
                raise ConfigError("target is required when beta != 0 (the nudged phase pulls towards it)")
            c = [*c[:-1], torch.add(c[-1], target, alpha=eps * beta)]  # eps (d_L + beta T)
        if n == 0:
            return [t.clone() for t in s]
        WT = [w.T for w in W]  # views: BLAS reads the transpose in place
        # Coefficient of s_k itself: 1 - eps, and 1 - eps - eps beta on the (nudged) output.
        keep = [1.0 - eps] * L
        keep[-1] = 1.0 - eps - eps * beta
        if not in_bounds and not all(bool(((t >= 0.0) & (t <= 1.0)).all()) for t in s):
            # Outside [0, 1] rho(s) != s: take the first step with the model's own field.
            s = self._generic_step(network, s, c, beta, target)
            n -= 1
        cur = s
        a = [torch.empty(t.shape, dtype=t.dtype, device=t.device) for t in s]
        b = [torch.empty_like(t) for t in a]
        for it in range(n):  # loop over iterations and (below) layers, never over units
            new = a if it % 2 == 0 else b
            for k in range(L):
                out = new[k]
                torch.add(c[k], cur[k], alpha=keep[k], out=out)
                if k > 0:
                    out.addmm_(cur[k - 1], W[k], alpha=eps)
                if k + 1 < L:
                    out.addmm_(cur[k + 1], WT[k + 1], alpha=eps)
                out.clamp_(0.0, 1.0)
            cur = new
        return cur

    def _generic_step(self, network: LayeredNetwork, s: list[torch.Tensor], c: list[torch.Tensor],
                      beta: float, target: torch.Tensor | None) -> list[torch.Tensor]:
        """One step s <- clip(s + eps f(s)) with the full field (for states outside [0, 1])."""
        eps = self.epsilon
        rho = network.activation
        r = [rho(t) for t in s]
        out = []
        for k in range(len(s)):
            h = c[k] / eps  # d_k (+ beta T on the nudged output), broadcast
            if k == len(s) - 1 and beta != 0.0:
                h = h - beta * target  # the nudge acts outside rho' (Eq. 16)
            if k > 0:
                h = h + r[k - 1] @ network.weights[k]
            if k + 1 < len(s):
                h = h + r[k + 1] @ network.weights[k + 1].T
            f = rho.prime(s[k]) * h - s[k]
            if k == len(s) - 1 and beta != 0.0:
                f = f + beta * (target - s[k])
            out.append((s[k] + eps * f).clamp(0.0, 1.0))
        return out

    # -- flat-state convenience ----------------------------------------------------------------

    def relax(self, network: LayeredNetwork, s0: torch.Tensor | None, x: torch.Tensor, *,
              beta: float = 0.0, target: torch.Tensor | None = None) -> torch.Tensor:
        """Flat-state form: ``steps`` iterations from ``s0`` (default zeros) with input ``x``.

        Equals ``relax(network, ClippedRelaxation(epsilon, tol=1e-300, max_steps=steps), s0, x,
        beta=beta, target=target, throw=False).state`` up to rounding.

        Args:
            network: a :class:`LayeredNetwork`.
            s0: (B, n_state) initial state, or None for zeros.
            x: (B, n_0) clamped input.
            beta: nudging strength.
            target: (B, n_L), required when beta != 0.

        Returns:
            The flat (B, n_state) state.
        """
        if not isinstance(network, LayeredNetwork):
            raise ConfigError(f"FixedStepRelaxation needs a LayeredNetwork, got {type(network).__name__}")
        if x.ndim != 2 or x.shape[-1] != network.sizes[0]:
            raise ConfigError(f"x must have shape (B, {network.sizes[0]}), got {tuple(x.shape)}")
        if s0 is None:
            s0 = network.initial_state((x.shape[0],), dtype=x.dtype, device=x.device)
        s0 = network.check_state(s0, "s0")
        c = self.scaled_drive(network, x)
        return self.join(self.run(network, self.split(network, s0), c, beta=beta, target=target))
