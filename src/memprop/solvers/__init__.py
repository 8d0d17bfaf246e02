"""Equilibrium solvers, stopping policies and the ``relax`` entry point."""

from ..networks.kernel import Workspace as Workspace
from .base import AbstractEquilibriumSolver as AbstractEquilibriumSolver
from .base import Equilibrium as Equilibrium
from .base import Steps as Steps
from .base import ToTolerance as ToTolerance
from .base import relax as relax
from .explicit import AndersonSolver as AndersonSolver
from .explicit import ClippedRelaxation as ClippedRelaxation
from .explicit import EulerSolver as EulerSolver
from .explicit import FixedPointIteration as FixedPointIteration
from .explicit import SignRecall as SignRecall

SOLVERS = {
    "euler": EulerSolver,
    "clipped": ClippedRelaxation,
    "picard": FixedPointIteration,
    "anderson": AndersonSolver,
    "sign": SignRecall,
}
