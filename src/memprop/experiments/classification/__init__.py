"""MNIST classification by equilibrium propagation: the paper's Figure 5 and general runs.

``run(config) -> result``; the package holds the config (:mod:`.config`), the data split
(:mod:`.data`), EP training, evaluation and checkpoints composed from the engine
(:mod:`.training`), the whole run (:mod:`.run`), the claim (:mod:`.claims`) and the sweep task
(:mod:`.sweep`).
"""

from .claims import section as section
from .claims import summary_line as summary_line
from .config import TITLE as TITLE
from .config import BackpropConfig as BackpropConfig
from .config import ClassificationConfig as ClassificationConfig
from .config import DataConfig as DataConfig
from .config import EPConfig as EPConfig
from .config import fig5_config as fig5_config
from .data import Split as Split
from .data import load_split as load_split
from .run import check as check
from .run import csv_rows as csv_rows
from .run import run as run
from .training import EPState as EPState
from .training import ep_epoch as ep_epoch
from .training import init_state as init_state
from .training import learning_rates as learning_rates
from .training import predict as predict
from .training import run_backprop as run_backprop
from .training import run_ep as run_ep
