r"""The energy (Hopfield-like) network of Eq. (12)-(13), trained by equilibrium propagation.

.. math::
    E(v) = \tfrac12 \sum_i v_i^2 - \tfrac12 \sum_{i \ne j} w_{ij} g(v_i) g(v_j) - \sum_i I_i g(v_i)

    \frac{dv_i}{dt} = -\frac{\partial E}{\partial v_i}
        = -v_i + g'(v_i)\Big(\sum_{j \ne i} w_{ij} g(v_j) + I_i\Big)

(Scellier & Bengio 2017; Eq. 12 writes g_i(u_i) and Eq. 13 g_i(v_j): both mean g(v)). With the
nudging of Eq. (15)-(16), F = E + beta C and the outputs feel an extra beta (T - v). Hidden units
are state units that are not outputs; they receive no input unless I is non-zero there.
"""

from __future__ import annotations

import torch

from .activations import TANH, Activation
from .base import AbstractEnergyNetwork, AbstractRecurrentNetwork
from .connectivity import symmetric_gradient


class EnergyNetwork(AbstractRecurrentNetwork, AbstractEnergyNetwork):
    """Energy model, Eq. (12)-(13). Final class.

    Args:
        W: symmetric weights (n, n), or (C, n, n) for C configurations relaxed together.
        mask: boolean (n, n) connectivity; default all-to-all without self-connections.
        activation: g, monotone and differentiable (tanh by default).
        outputs: index of the output units (default all; the others are hidden units).
    """

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None, activation: Activation = TANH,
                 outputs: slice | torch.Tensor = slice(None)):
        super().__init__(W, mask=mask, symmetric=True, outputs=outputs)
        self.activation = activation

    def energy(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Eq. (12), per batch element."""
        r = self.activation(s)
        return 0.5 * (s * s).sum(-1) - 0.5 * (torch.matmul(r, self.W.mT) * r).sum(-1) - (d * r).sum(-1)

    def vector_field(self, s, d, *, beta=0.0, target=None):
        """Eq. (13), plus beta (T - v) on the outputs when nudged (Eq. 16)."""
        f = self.activation.prime(s) * (torch.matmul(self.activation(s), self.W.mT) + d) - s
        nudge = self._nudge(s, beta, target)
        return f if nudge is None else f + nudge

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        """Phi(v) = (g'(v) (W g(v) + I) + beta m T) / (1 + beta m), m the output indicator."""
        phi = self.activation.prime(s) * (torch.matmul(self.activation(s), self.W.mT) + d)
        if beta == 0.0:
            return phi
        nudge = self._nudge(torch.zeros_like(s), beta, target)  # beta m T
        return (phi + nudge) / self._output_weight(s, beta)

    def energy_grads(self, s: torch.Tensor, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """dE/dW = -g(v_i) g(v_j) per shared pair (masked), averaged over the sample dimension."""
        r = self.activation(s)
        if self.batched:  # (C, b, n) -> (C, n, n)
            outer = torch.matmul(r.mT, r) / r.shape[-2]
        else:
            r2 = r.reshape(-1, r.shape[-1])
            outer = r2.T @ r2 / r2.shape[0]
        return {"W": symmetric_gradient(-0.5 * outer, self.mask)}
