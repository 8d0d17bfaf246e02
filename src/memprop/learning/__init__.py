"""Learning rules: EP, RBP, Hebbian, Storkey, and exact gradient references."""

from .base import AbstractLearningRule as AbstractLearningRule
from .base import Estimate as Estimate
from .base import sgd_step as sgd_step
from .ep import ESTIMATORS as ESTIMATORS
from .ep import EquilibriumPropagation as EquilibriumPropagation
from .exact import implicit_gradient as implicit_gradient
from .exact import unrolled_gradient as unrolled_gradient
from .hebbian import Hebbian as Hebbian
from .hebbian import Storkey as Storkey
from .rbp import RecurrentBackprop as RecurrentBackprop
