"""memprop: memristor-based recurrent neural networks trained in situ by EP and RBP.

The public API, layered devices -> crossbar -> networks -> solvers -> learning -> experiments.
"""

from .errors import ConfigError as ConfigError
from .errors import ConvergenceError as ConvergenceError
from .errors import DataError as DataError
from .errors import DivergenceError as DivergenceError
from .errors import MempropError as MempropError
from .learning import EquilibriumPropagation as EquilibriumPropagation
from .learning import Hebbian as Hebbian
from .learning import RecurrentBackprop as RecurrentBackprop
from .learning import Storkey as Storkey
from .learning import implicit_gradient as implicit_gradient
from .learning import sgd_step as sgd_step
from .learning import unrolled_gradient as unrolled_gradient
from .networks import AdditiveNetwork as AdditiveNetwork
from .networks import EnergyNetwork as EnergyNetwork
from .networks import HopfieldNetwork as HopfieldNetwork
from .networks import LayeredNetwork as LayeredNetwork
from .networks import band_mask as band_mask
from .networks import full_mask as full_mask
from .solvers import AndersonSolver as AndersonSolver
from .solvers import ClippedRelaxation as ClippedRelaxation
from .solvers import Equilibrium as Equilibrium
from .solvers import EulerSolver as EulerSolver
from .solvers import FixedPointIteration as FixedPointIteration
from .solvers import relax as relax

__version__ = "0.1.0"
