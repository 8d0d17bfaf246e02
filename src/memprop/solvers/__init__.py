"""Equilibrium solvers and the ``relax`` entry point."""

from .base import AbstractEquilibriumSolver as AbstractEquilibriumSolver
from .base import Equilibrium as Equilibrium
from .base import relax as relax
from .explicit import AndersonSolver as AndersonSolver
from .explicit import ClippedRelaxation as ClippedRelaxation
from .explicit import EulerSolver as EulerSolver
from .explicit import FixedPointIteration as FixedPointIteration

SOLVERS = {
    "euler": EulerSolver,
    "clipped": ClippedRelaxation,
    "picard": FixedPointIteration,
    "anderson": AndersonSolver,
}
