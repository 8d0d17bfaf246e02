"""Learning rules (EP, RBP, Hebbian, Storkey), exact gradient references, the one update and
the one training loop."""

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
from .trainer import EpochResult as EpochResult
from .trainer import deferral_window as deferral_window
from .trainer import train_epoch as train_epoch
from .updates import OuterProducts as OuterProducts
from .updates import RowSum as RowSum
from .updates import Scaled as Scaled
from .updates import apply_update as apply_update
from .updates import dense as dense
