"""Crossbars: signed weights on device pairs, read-out with noise, and pulse programming.

Layer 2 of memprop (devices -> crossbar -> networks -> ...). :class:`Crossbar` owns the
conductances of one weight tensor and is the weight holder a network reads
(:class:`AbstractWeightHolder`); :class:`CrossbarStack` holds stacked configurations, each on
its own crossbar.
"""

from .crossbar import PAIRINGS as PAIRINGS
from .crossbar import Crossbar as Crossbar
from .crossbar import CrossbarConfig as CrossbarConfig
from .crossbar import ProgramStats as ProgramStats
from .holder import AbstractWeightHolder as AbstractWeightHolder
from .insitu import run_counters as run_counters
from .mapping import SIGNED as SIGNED
from .mapping import conductances_to_weights as conductances_to_weights
from .mapping import weights_to_conductances as weights_to_conductances
from .pulses import SCHEMES as SCHEMES
from .pulses import pulse_counts as pulse_counts
from .stack import CrossbarStack as CrossbarStack
