"""Crossbars: signed weights on device pairs, read-out with noise, and pulse programming.

Layer 2 of memprop (devices -> crossbar -> networks -> ...). :class:`Crossbar` owns the
conductances of one weight tensor; :func:`apply_update` is the in situ counterpart of
:func:`memprop.learning.sgd_step`.
"""

from .crossbar import PAIRINGS as PAIRINGS
from .crossbar import Crossbar as Crossbar
from .crossbar import CrossbarConfig as CrossbarConfig
from .crossbar import ProgramStats as ProgramStats
from .insitu import apply_update as apply_update
from .insitu import crossbars_for as crossbars_for
from .insitu import read_weights as read_weights
from .insitu import run_counters as run_counters
from .mapping import SIGNED as SIGNED
from .mapping import conductances_to_weights as conductances_to_weights
from .mapping import weights_to_conductances as weights_to_conductances
from .pulses import SCHEMES as SCHEMES
from .pulses import pulse_counts as pulse_counts
