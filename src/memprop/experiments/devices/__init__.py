"""The device study: in situ EP and RBP on memristive crossbars (presets, states, noise, faults,
pairing), against the ideal weights.

``run(config) -> result``; the package holds the design (:mod:`.config`), the runs
(:mod:`.run`), the claims (:mod:`.claims`) and the sweep task (:mod:`.sweep`).
"""

from .claims import claims as claims
from .claims import section as section
from .config import TITLE as TITLE
from .config import DevicesConfig as DevicesConfig
from .config import base_device as base_device
from .config import design as design
from .run import csv_rows as csv_rows
from .run import reconstruction_points as reconstruction_points
from .run import run as run
