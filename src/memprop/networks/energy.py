r"""The energy (Hopfield-like) network of Eq. (12)-(13), trained by equilibrium propagation.

.. math::
    E(v) = \tfrac12 \sum_i v_i^2 - \tfrac12 \sum_{i \ne j} w_{ij} g(v_i) g(v_j) - \sum_i I_i g(v_i)

    \frac{dv_i}{dt} = -\frac{\partial E}{\partial v_i}
        = -v_i + g'(v_i)\Big(\sum_{j \ne i} w_{ij} g(v_j) + I_i\Big)

(Scellier & Bengio 2017; Eq. 12 writes g_i(u_i) and Eq. 13 g_i(v_j): both mean g(v)). With the
nudging of Eq. (15)-(16), F = E + beta C and the outputs feel an extra beta (T - v). Hidden units
are state units that are not outputs; they receive no input unless I is non-zero there.

On hardware whose read-out of W is not exactly symmetric (two devices per neuron pair), the
dynamics use the matrix as held, h_i = sum_j W_ij g(v_j); the energy is then undefined, but the
gradient convention (one parameter per pair) is kept.
"""

from __future__ import annotations

import torch

from .activations import TANH, Activation, Tanh
from .base import AbstractEnergyNetwork, AbstractRecurrentNetwork
from .connectivity import symmetric_gradient
from .kernel import Kernel, zero_drive


class EnergyNetwork(AbstractRecurrentNetwork, AbstractEnergyNetwork):
    """Energy model, Eq. (12)-(13). Final class.

    Args:
        W: symmetric weights (n, n), or (C, n, n) for C configurations relaxed together.
        mask: boolean (n, n) connectivity, or (C, n, n) one per configuration; default
            all-to-all without self-connections.
        activation: g, monotone and differentiable (tanh by default).
        outputs: index of the output units (default all; the others are hidden units).
        symmetric: False accepts a matrix that is not exactly symmetric (hardware with two
            devices per neuron pair): the dynamics use it as held, the energy is then undefined.
    """

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None, activation: Activation = TANH,
                 outputs: slice | torch.Tensor = slice(None), symmetric: bool = True):
        super().__init__(W, mask=mask, symmetric=symmetric, outputs=outputs)
        self.activation = activation

    def energy(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Eq. (12), per batch element."""
        r = self.activation(s)
        return 0.5 * (s * s).sum(-1) - 0.5 * (torch.matmul(r, self.W.mT) * r).sum(-1) - (d * r).sum(-1)

    def vector_field(self, s, d, *, beta=0.0, target=None, out=None):
        """Eq. (13), plus beta (T - v) on the outputs when nudged (Eq. 16). ``d`` None: no drive.

        With tanh the field is computed in place as (1 - g^2) (g W^T + I) - v, g = tanh(v)."""
        M = self._weights_for(s)
        if out is not None and isinstance(self.activation, Tanh):  # in place (no autograd)
            g = torch.tanh(s)
            h = _mm(g, M, out)
            if d is not None:
                h += d
            f = h.mul_(g.mul_(g).neg_().add_(1.0)).sub_(s)  # g'(v) = 1 - tanh(v)^2
        else:
            h = torch.matmul(self.activation(s), M)
            if d is not None:
                h = h + d
            f = self.activation.prime(s) * h - s
            if out is not None:
                f = out.copy_(f)
        if beta != 0.0:
            idx = self.output_index
            if out is None:
                f = f + self._nudge(s, beta, target)
            else:
                f[..., idx] += beta * (target - s[..., idx])
        return f

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        """Phi(v) = (g'(v) (W g(v) + I) + beta m T) / (1 + beta m), m the output indicator."""
        phi = self.activation.prime(s) * (torch.matmul(self.activation(s), self._weights_for(s)) + d)
        if beta == 0.0:
            return phi
        nudge = self._nudge(torch.zeros_like(s), beta, target)  # beta m T
        return (phi + nudge) / self._output_weight(s, beta)

    def kernel(self, d, *, h, beta=0.0, target=None, work=None, tag="k", rows=False):
        return _FieldKernel(self, d, h=h, beta=beta, target=target, work=work, tag=tag)

    def field_fn(self, d, *, beta=0.0, target=None):
        if not isinstance(self.activation, Tanh):
            return super().field_fn(d, beta=beta, target=target)
        M = self._weights_for(d if d is not None else self.W)
        idx = self.output_index
        every = idx == slice(None)  # all units are outputs (reconstruction): no indexing
        one = torch.ones((), dtype=M.dtype, device=M.device)
        mm, g, t = None, None, None

        def field(s, out):  # Eq. (13) with tanh, in place: (1 - g^2) (g W^T + I) - v
            nonlocal mm, g, t
            if mm is None:
                mm = _product(s.ndim, M.ndim)
            if g is None or g.shape != s.shape:  # the state's own buffers (rows may leave)
                g, t = torch.empty_like(s), torch.empty_like(s)
            torch.tanh(s, out=g)
            h = mm(g, M, out=out)
            if d is not None:
                h += d
            torch.sub(one, g.mul_(g), out=g)  # g'(v) = 1 - tanh(v)^2 (the bits of -g^2 + 1)
            f = h.mul_(g).sub_(s)
            if beta != 0.0:  # + beta (T - v) on the outputs
                if every:
                    f.add_(torch.sub(target, s, out=t).mul_(beta))
                else:
                    f[..., idx] += beta * (target - s[..., idx])
            return f

        return field

    def energy_grads(self, s: torch.Tensor, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """dE/dW = -g(v_i) g(v_j) per shared pair (masked), averaged over the sample dimension."""
        r = self.activation(s)
        # -0.5 (r^T r) / b with the -0.5 on the small factor: a power of two scales each product
        # and sum exactly, so the bits are those of scaling the (n, n) result; / b is skipped at
        # b = 1 (exact). Two passes over the (n, n) matrix fewer.
        if self.batched:  # (C, b, n) -> (C, n, n)
            outer = torch.bmm(r.mT.mul(-0.5), r)
            b = r.shape[-2]
        else:
            r2 = r.reshape(-1, r.shape[-1])
            outer = r2.T.mul(-0.5) @ r2
            b = r2.shape[0]
        if b != 1:
            outer = outer.div_(b)
        return {"W": symmetric_gradient(outer, self.mask)}


def _mm(a: torch.Tensor, M: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """a @ M into ``out``: ``bmm`` for stacked (C, b, n) states (``matmul`` costs twice its
    dispatch time on such small batches), ``mm`` for (B, n), ``matmul`` otherwise."""
    return _product(a.ndim, M.ndim)(a, M, out=out)


def _product(a_ndim: int, m_ndim: int):
    """The torch product for ``_mm`` (chosen once per relaxation by the fused fields)."""
    if a_ndim == 3 and m_ndim == 3:
        return torch.bmm
    if a_ndim == 2 and m_ndim == 2:
        return torch.mm
    return torch.matmul


class _FieldKernel(Kernel):
    """Euler on an unbounded model with a fused in-place field: the field goes into a workspace
    buffer (the network's ``field_fn``, its weights bound once per relaxation), the residual is
    max |f|, and a zero drive is skipped (recall with I = 0)."""

    def __init__(self, network, d, *, h, beta=0.0, target=None, work=None, tag="k"):
        super().__init__(network, d, h=h, beta=beta, target=target, work=work, tag=tag)
        self.field = network.field_fn(None if zero_drive(d) else d, beta=self.beta, target=target)
        self._f = None

    def advance(self, u, out, residual):
        f = self._f
        if f is None or f.shape != u.shape:
            f = self._f = self.work.get(f"{self.tag}.f", tuple(u.shape), u)
        self.field(u, f)
        torch.add(u, f, alpha=self.h, out=out)
        # max_i |f_i|, |f| in place once f is used (vector_norm(inf) is ~10x slower)
        return f.abs_().amax(-1) if residual else None
