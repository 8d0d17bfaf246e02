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

The contrast of the energy gradient between the two states is the network's own
(``network.energy_grad_contrast``): dense for the recurrent models, factored for the layered
network (dE/dW_k = -rho(s_k)^T rho(s_{k+1}) / m: :mod:`memprop.networks.factored`), so that
applying it costs one product per phase and layer and no dense temporary; the input layer,
clamped in both phases, takes one product of the difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validate import choice, in_range, nonzero_beta
from ..errors import ConfigError
from ..networks.base import AbstractEnergyNetwork
from ..solvers import AbstractEquilibriumSolver, AndersonSolver, Steps, ToTolerance, relax
from .base import AbstractLearningRule, Estimate

ESTIMATORS = ("one_sided", "random_sign", "centred")


@dataclass(frozen=True, kw_only=True, slots=True)
class EquilibriumPropagation(AbstractLearningRule):
    """EP gradient estimator for any energy network.

    ``stop`` / ``nudged_stop`` set the phases' stopping policies (default: each solver's
    tolerance; ``Steps(20)`` and ``Steps(4)`` give Scellier & Bengio's fixed 20 free + 4 nudged
    iterations); ``compact`` how converged rows leave (see :func:`~memprop.solvers.relax`).
    ``throw=False`` lets relaxations that did not converge proceed.
    """

    beta: float = 0.5
    """Nudging strength beta (non-zero)."""
    estimator: str = "centred"
    solver: AbstractEquilibriumSolver = field(default_factory=AndersonSolver)
    """Solver of the free phase."""
    nudged_solver: AbstractEquilibriumSolver | None = None
    """Solver of the nudged phase(s); default: the free phase's."""
    stop: ToTolerance | Steps | None = None
    """Stopping policy of the free phase (None: the solver's tolerance)."""
    nudged_stop: ToTolerance | Steps | None = None
    """Stopping policy of the nudged phase(s) (None: the nudged solver's tolerance)."""
    compact: float | None = 0.0
    """How converged rows leave the working set under a tolerance (see ``relax``)."""
    throw: bool = True

    def __post_init__(self):
        nonzero_beta(self.beta)
        choice("estimator", self.estimator, ESTIMATORS)
        if self.compact is not None:
            in_range("compact", self.compact, 0.0, 1.0)

    def estimate(self, network, x, target, *, s0=None, generator=None, drive=None, workspace=None,
                 validate=True) -> Estimate:
        if validate and not isinstance(network, AbstractEnergyNetwork):
            raise ConfigError(
                f"equilibrium propagation needs an energy network (EnergyNetwork, LayeredNetwork), "
                f"got {type(network).__name__}"
            )
        batch = tuple(target.shape[:-1])
        d = network.drive(x, batch) if drive is None else drive
        kw = dict(drive=d, throw=self.throw, compact=self.compact, workspace=workspace, validate=validate)
        free = relax(network, self.solver, s0, x, generator=generator, stop=self.stop, tag="free", **kw)
        nudged_solver = self.nudged_solver or self.solver

        def nudge(beta, tag):
            return relax(network, nudged_solver, free.state, beta=beta, target=target, stop=self.nudged_stop,
                         tag=tag, **kw).state

        if self.estimator == "centred":
            plus, minus, scale = nudge(self.beta, "plus"), nudge(-self.beta, "minus"), 2.0 * self.beta
        else:
            beta = self.beta
            if self.estimator == "random_sign":
                sign = torch.randint(0, 2, (1,), generator=generator).item() * 2 - 1
                beta = beta * sign
            plus, minus, scale = nudge(beta, "plus"), free.state, beta
        return Estimate(network.energy_grad_contrast(plus, minus, x, scale, workspace), free)
