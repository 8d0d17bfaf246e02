"""The pattern-reconstruction study of Zoppo et al. (2020): Table 1, Figures 1-4, the RBP question.

``run(config) -> results``; the package holds the config (:mod:`.config`), the training and
recall compositions of the engine (:mod:`.training`, :mod:`.recall`), the experiments
(:mod:`.run`), the claims and report text (:mod:`.claims`) and the sweep task (:mod:`.sweep`).
"""

from .claims import claims as claims
from .claims import section as section
from .config import TITLE as TITLE
from .config import VARIANTS as VARIANTS
from .config import RecallConfig as RecallConfig
from .config import ReconstructionConfig as ReconstructionConfig
from .config import TrainConfig as TrainConfig
from .config import check as check
from .config import check_patterns as check_patterns
from .config import quick_config as quick_config
from .run import CSV_ROWS as CSV_ROWS
from .run import fig1 as fig1
from .run import fig2 as fig2
from .run import fig3 as fig3
from .run import fig4 as fig4
from .run import rbp_diagnosis as rbp_diagnosis
from .run import run as run
from .run import table1 as table1
