r"""Binary Hopfield network with synchronous sign dynamics, for Hebbian and Storkey recall.

.. math:: s \leftarrow \operatorname{sign}(W s + I), \quad \text{a unit with } (W s + I)_i = 0 \text{ keeps its state.}

Recall runs from the corrupted pattern until a fixed point (or the step limit: synchronous updates
can fall into 2-cycles, which :class:`~memprop.solvers.SignRecall` detects and reports as not
converged).
"""

from __future__ import annotations

import torch

from .base import AbstractRecurrentNetwork


class HopfieldNetwork(AbstractRecurrentNetwork):
    """Sign dynamics on weights W (n, n) or (C, n, n). Final class.

    ``symmetric=False`` accepts the asymmetric matrix of hardware with two devices per pair."""

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None, symmetric: bool = True):
        super().__init__(W, mask=mask, symmetric=symmetric)

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        h = torch.matmul(s, self._weights_for(s))
        if d is not None:
            h += d
        return torch.where(h == 0, s, torch.sign(h))

    def vector_field(self, s, d, *, beta=0.0, target=None, out=None):
        f = self.fixed_point_map(s, d) - s
        return f if out is None else out.copy_(f)
