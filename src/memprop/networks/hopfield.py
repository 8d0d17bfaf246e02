r"""Binary Hopfield network with synchronous sign dynamics, for Hebbian and Storkey recall.

.. math:: s \leftarrow \operatorname{sign}(W s), \quad \text{a unit with } (W s)_i = 0 \text{ keeps its state.}

Recall runs from the corrupted pattern until a fixed point (or the step limit: synchronous updates
can fall into 2-cycles, which is then reported as not converged).
"""

from __future__ import annotations

import torch

from .base import AbstractRecurrentNetwork


class HopfieldNetwork(AbstractRecurrentNetwork):
    """Sign dynamics on weights W (n, n) or (C, n, n). Final class."""

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None):
        super().__init__(W, mask=mask, symmetric=True)

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        h = torch.matmul(s, self.W.mT) + d
        return torch.where(h > 0, 1.0, torch.where(h < 0, -1.0, s)).to(s.dtype)

    def vector_field(self, s, d, *, beta=0.0, target=None):
        return self.fixed_point_map(s, d) - s
