r"""The additive recurrent network of Eq. (3) (Zoppo et al. 2020), trained by RBP.

.. math:: \frac{dv}{dt} = -v + g(W v + I), \qquad v^* = g(W v^* + I) \text{ at a fixed point.}

The loss (Eq. 4) is E = 1/2 sum_i (T_i - v_i^*)^2 over the output units.
"""

from __future__ import annotations

import torch

from .activations import TANH, Activation
from .base import AbstractNetwork, AbstractRecurrentNetwork
from .energy import _FieldKernel, _mm, _product


class AdditiveNetwork(AbstractRecurrentNetwork):
    """Additive model, Eq. (3). Final class.

    Args:
        W: recurrent weights (n, n), or (C, n, n) for C configurations relaxed together.
        mask: boolean (n, n) connectivity (or (C, n, n)); default all-to-all without
            self-connections.
        activation: g, monotone and differentiable (tanh by default).
        outputs: index of the output units (default: all units, as in reconstruction).
        symmetric: require W = W^T (the paper's setting; False allows asymmetric hardware).
    """

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None, activation: Activation = TANH,
                 outputs: slice | torch.Tensor = slice(None), symmetric: bool = True):
        super().__init__(W, mask=mask, symmetric=symmetric, outputs=outputs)
        self.activation = activation

    def preactivation(self, v: torch.Tensor, d: torch.Tensor | None, out: torch.Tensor | None = None) -> torch.Tensor:
        """h = W v + I, shape of v (``d`` None: no input)."""
        M = self._weights_for(v)
        if out is None:
            h = torch.bmm(v, M) if v.ndim == 3 and M.ndim == 3 else torch.matmul(v, M)
            return h if d is None else h + d
        h = _mm(v, M, out)
        if d is not None:
            h += d
        return h

    def vector_field(self, s, d, *, beta=0.0, target=None, out=None):
        """Eq. (3): -v + g(W v + I), in place. (The additive model is not nudged; beta is ignored.)"""
        if out is None:  # functional (autograd may run through it)
            return self.activation(self.preactivation(s, d)) - s
        h = self.preactivation(s, d, out)
        if self.activation.name == "tanh":
            return torch.tanh_(h).sub_(s)
        return h.copy_(self.activation(h)).sub_(s)

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        """Phi(v) = g(W v + I), Eq. (6)."""
        return self.activation(self.preactivation(s, d))

    def kernel(self, d, *, h, beta=0.0, target=None, work=None, tag="k", rows=False):
        return _FieldKernel(self, d, h=h, beta=beta, target=target, work=work, tag=tag)

    def field_fn(self, d, *, beta=0.0, target=None):
        if self.activation.name != "tanh":
            return super().field_fn(d, beta=beta, target=target)
        M = self._weights_for(d if d is not None else self.W)
        mm = None

        def field(s, out):  # Eq. (3), in place: tanh(W v + I) - v
            nonlocal mm
            if mm is None:
                mm = _product(s.ndim, M.ndim)
            h = mm(s, M, out=out)
            if d is not None:
                h += d
            return torch.tanh_(h).sub_(s)

        return field


class AdjointNetwork(AbstractNetwork):
    r"""The side network of RBP, Eq. (9): dy/dt = -y + g'(h) * (W^T y + J).

    Linear in y; built at the forward fixed point v* (h = W v* + I, J = T - v* on the outputs, 0
    elsewhere), which is passed as the drive. Its fixed point y = g'(h) (W^T y + J) is Eq. (8).
    It reads the forward network's W (no parameters of its own). Final class.
    """

    weight_names = ("W",)

    def __init__(self, W: torch.Tensor, gprime: torch.Tensor):
        super().__init__()
        self.W = W
        self.gprime = gprime  # (*batch, n): per element, so ``take`` restricts it too
        self.n_state = W.shape[-1]

    @property
    def batched(self) -> bool:
        return True  # g'(h) is per element: rows must always be restricted together

    @property
    def output_index(self):
        return slice(None)

    def check_state(self, s, name="s"):
        return s

    def with_parameters(self, params):
        return AdjointNetwork(params["W"], self.gprime)

    def take(self, rows: torch.Tensor) -> AdjointNetwork:
        W = self.W.index_select(0, rows) if self.W.ndim == 3 else self.W
        return AdjointNetwork(W, self.gprime.index_select(0, rows))

    def drive(self, x, batch_shape):
        return x.expand(*batch_shape, self.n_state)

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        return self.gprime * (torch.matmul(s, self.W) + d)

    def vector_field(self, s, d, *, beta=0.0, target=None, out=None):
        if out is None:
            return self.fixed_point_map(s, d) - s
        h = _mm(s, self.W, out)
        if d is not None:
            h += d
        return h.mul_(self.gprime).sub_(s)

    def kernel(self, d, *, h, beta=0.0, target=None, work=None, tag="k", rows=False):
        return _FieldKernel(self, d, h=h, beta=beta, target=target, work=work, tag=tag)

    def field_fn(self, d, *, beta=0.0, target=None):
        W, gp = self.W, self.gprime
        mm = None

        def field(s, out):  # Eq. (9), in place: g'(h) (W^T y + J) - y
            nonlocal mm
            if mm is None:
                mm = _product(s.ndim, W.ndim)
            h = mm(s, W, out=out)
            if d is not None:
                h += d
            return h.mul_(gp).sub_(s)

        return field
