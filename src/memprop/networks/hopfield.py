r"""Binary Hopfield network with synchronous sign dynamics, for Hebbian and Storkey recall.

.. math:: s \leftarrow \operatorname{sign}(W s), \quad \text{a unit with } (W s)_i = 0 \text{ keeps its state.}

Recall runs from the corrupted pattern until a fixed point (or the step limit: synchronous updates
can fall into 2-cycles, which is then reported as not converged).
"""

from __future__ import annotations

import torch

from .base import AbstractNetwork
from .connectivity import check_weights, full_mask


class HopfieldNetwork(AbstractNetwork):
    """Sign dynamics on weights W (n, n) or (C, n, n). Final class."""

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None):
        n = W.shape[-1] if isinstance(W, torch.Tensor) else 0
        self.mask = full_mask(n, device=W.device) if mask is None and n else mask
        self.W = check_weights(W, self.mask, symmetric=True)
        self.n_state = self.W.shape[-1]

    @property
    def batched(self) -> bool:
        return self.W.ndim == 3

    @property
    def output_index(self):
        return slice(None)

    @property
    def parameters(self) -> dict[str, torch.Tensor]:
        return {"W": self.W}

    def with_parameters(self, params: dict[str, torch.Tensor]) -> HopfieldNetwork:
        """The same network with other parameter tensors (e.g. autograd leaves); not re-validated."""
        new = object.__new__(HopfieldNetwork)
        new.__dict__.update(self.__dict__)
        new.W = params["W"]
        return new

    def take(self, rows: torch.Tensor) -> HopfieldNetwork:
        if not self.batched:
            return self
        new = object.__new__(HopfieldNetwork)
        new.__dict__.update(self.__dict__)
        new.W = self.W.index_select(0, rows)
        return new

    def drive(self, x, batch_shape):
        if x is None:
            return self.W.new_zeros(*batch_shape, self.n_state)
        return x.expand(*batch_shape, self.n_state)

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        h = torch.matmul(s, self.W.mT) + d
        return torch.where(h > 0, 1.0, torch.where(h < 0, -1.0, s)).to(s.dtype)

    def vector_field(self, s, d, *, beta=0.0, target=None):
        return self.fixed_point_map(s, d) - s
