r"""Equilibrium propagation (Scellier & Bengio 2017), Eq. (15)-(19).

Free phase: relax F = E (beta = 0) to s^0. Nudged phase: from s^0, relax F = E + beta C to
s^beta. With the 1/beta that the paper's beta = 1 hides (Eq. 18),

.. math::
    \frac{\partial J}{\partial \theta} \approx
        \frac{1}{\beta}\Big(\frac{\partial F}{\partial \theta}(s^\beta) - \frac{\partial F}{\partial \theta}(s^0)\Big)

so the update -eta times it is Eq. (19): Delta w_ij = (eta/beta)[g(v_i^b) g(v_j^b) - g(v_i^0) g(v_j^0)].

Estimators:
- ``one_sided``: as above (bias O(beta));
- ``random_sign``: one-sided with the sign of beta drawn at random per call (Scellier & Bengio);
- ``centred``: (dF/dtheta(s^{+beta}) - dF/dtheta(s^{-beta})) / (2 beta) (Laborieux et al. 2021),
  bias O(beta^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validate import choice, nonzero_beta
from ..errors import ConfigError
from ..networks.base import AbstractEnergyNetwork
from ..solvers import AbstractEquilibriumSolver, AndersonSolver, relax
from .base import AbstractLearningRule, Estimate

ESTIMATORS = ("one_sided", "random_sign", "centred")


@dataclass(frozen=True, kw_only=True, slots=True)
class EquilibriumPropagation(AbstractLearningRule):
    """EP gradient estimator for any energy network.

    ``throw=False`` lets fixed-iteration protocols (Scellier & Bengio's 20 free + 4 nudged steps,
    set by the solvers' ``max_steps``) proceed without convergence.
    """

    beta: float = 0.5
    """Nudging strength beta (non-zero)."""
    estimator: str = "centred"
    solver: AbstractEquilibriumSolver = field(default_factory=AndersonSolver)
    """Solver of the free phase."""
    nudged_solver: AbstractEquilibriumSolver | None = None
    """Solver of the nudged phase(s); default: the free phase's."""
    throw: bool = True

    def __post_init__(self):
        nonzero_beta(self.beta)
        choice("estimator", self.estimator, ESTIMATORS)

    def estimate(self, network, x, target, *, s0=None, generator=None) -> Estimate:
        if not isinstance(network, AbstractEnergyNetwork):
            raise ConfigError(
                f"equilibrium propagation needs an energy network (EnergyNetwork, LayeredNetwork), "
                f"got {type(network).__name__}"
            )
        batch = tuple(target.shape[:-1])
        d = network.drive(x, batch)
        free = relax(network, self.solver, s0, x, drive=d, generator=generator, throw=self.throw)
        nudged_solver = self.nudged_solver or self.solver

        def nudge(beta):
            eq = relax(network, nudged_solver, free.state, drive=d, beta=beta, target=target,
                       throw=self.throw)
            return network.energy_grads(eq.state, x)

        if self.estimator == "centred":
            plus, minus, scale = nudge(self.beta), nudge(-self.beta), 2.0 * self.beta
        else:
            beta = self.beta
            if self.estimator == "random_sign":
                sign = torch.randint(0, 2, (1,), generator=generator).item() * 2 - 1
                beta = beta * sign
            plus, minus, scale = nudge(beta), network.energy_grads(free.state, x), beta
        grads = {k: (plus[k] - minus[k]) / scale for k in plus}
        return Estimate(grads, free)
