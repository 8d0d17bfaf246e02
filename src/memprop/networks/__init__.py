"""Recurrent network models: dynamics and energies only (no solver or learning logic)."""

from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import HardSigmoid as HardSigmoid
from .activations import Sigmoid as Sigmoid
from .activations import Tanh as Tanh
from .additive import AdditiveNetwork as AdditiveNetwork
from .additive import AdjointNetwork as AdjointNetwork
from .base import AbstractEnergyNetwork as AbstractEnergyNetwork
from .base import AbstractNetwork as AbstractNetwork
from .connectivity import band_mask as band_mask
from .connectivity import band_synapses as band_synapses
from .connectivity import full_mask as full_mask
from .connectivity import init_symmetric as init_symmetric
from .connectivity import symmetric_gradient as symmetric_gradient
from .energy import EnergyNetwork as EnergyNetwork
from .hopfield import HopfieldNetwork as HopfieldNetwork
from .layered import LayeredNetwork as LayeredNetwork
