r"""Recurrent backpropagation (Almeida 1987, Pineda 1988), Eq. (4)-(11).

1. Relax the additive network, Eq. (3), to v* (from a random state).
2. Relax the side network, Eq. (9), dy/dt = -y + g'(h) (W^T y + J) with J = T - v* on the
   outputs, from y(0) = 0.5 (the paper's reset), to y* = g'(h) (W^T y* + J) (Eq. 8): the side
   network is integrated as the analog dynamical system the paper builds, by the side solver.
3. dJ/dW_ij = -y_i v_j (Eq. 10 with the sign of a gradient); for symmetric W the shared
   parameter's gradient is -(y_i v_j + v_i y_j), so -eta times it is the symmetrised Eq. (11).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validate import in_range
from ..errors import ConfigError
from ..networks.additive import AdditiveNetwork, AdjointNetwork
from ..networks.connectivity import symmetric_gradient
from ..solvers import (
    AbstractEquilibriumSolver,
    AndersonSolver,
    EulerSolver,
    Steps,
    ToTolerance,
    relax,
)
from .base import AbstractLearningRule, Estimate


def _mean_outer(a: torch.Tensor, b: torch.Tensor, batched: bool) -> torch.Tensor:
    """mean over samples of a b^T: (B, n) -> (n, n), or (C, b, n) -> (C, n, n)."""
    if batched:
        return torch.bmm(a.mT, b) / a.shape[-2]
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return a2.T @ b2 / a2.shape[0]


@dataclass(frozen=True, kw_only=True, slots=True)
class RecurrentBackprop(AbstractLearningRule):
    """RBP for the additive network."""

    solver: AbstractEquilibriumSolver = field(default_factory=AndersonSolver)
    """Solver of the forward relaxation, Eq. (3)."""
    side_solver: AbstractEquilibriumSolver = field(default_factory=lambda: EulerSolver(dt=0.5))
    """Solver of the side network, Eq. (9) (Euler: the analog network's own dynamics)."""
    y0: float = 0.5
    """The side state's reset value y(0)."""
    stop: ToTolerance | Steps | None = None
    """Stopping policy of both relaxations (None: each solver's tolerance)."""
    compact: float | None = 0.0
    """How converged rows leave the working set (see ``relax``)."""
    throw: bool = True

    def __post_init__(self):
        if self.compact is not None:
            in_range("compact", self.compact, 0.0, 1.0)

    def estimate(self, network, x, target, *, s0=None, generator=None, drive=None, workspace=None,
                 validate=True) -> Estimate:
        if not isinstance(network, AdditiveNetwork):
            raise ConfigError(f"recurrent backpropagation needs an AdditiveNetwork, got {type(network).__name__}")
        batch = tuple(target.shape[:-1])
        d = network.drive(x, batch) if drive is None else drive
        kw = dict(throw=self.throw, stop=self.stop, compact=self.compact, workspace=workspace, validate=validate)
        free = relax(network, self.solver, s0, x, drive=d, generator=generator, tag="free", **kw)
        v = free.state
        h = network.preactivation(v, d)
        J = torch.zeros_like(v)
        J[..., network.output_index] = target - network.outputs(v)
        side = AdjointNetwork(network.W, network.activation.prime(h))
        y0 = torch.full_like(v, self.y0)
        y = relax(side, self.side_solver, y0, drive=J, tag="side", **kw).state
        full = -_mean_outer(y, v, network.batched)  # dJ/dW_ij = -y_i v_j
        grad = symmetric_gradient(full, network.mask) if network.symmetric else full * network.mask
        return Estimate({"W": grad}, free)
