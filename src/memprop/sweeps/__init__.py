"""Parameter sweeps on Dask with a resumable SQLite results store.

A sweep is a TOML spec (:func:`load_spec`): a study, fixed settings, a grid and/or random samples,
and seeds. :func:`run_sweep` runs each (point, seed) as one ``dask.distributed`` task (a
LocalCluster or a scheduler by address) and writes one row per task into a :class:`ResultStore`
as it finishes; rerunning resumes. :func:`status`, :func:`export_csv`, :func:`export_json` and
:func:`plot` read the store. Dask is imported only when a sweep runs.
"""

from .inspect import SweepStatus as SweepStatus
from .inspect import export_csv as export_csv
from .inspect import export_json as export_json
from .inspect import status as status
from .inspect import table as table
from .runner import SweepSummary as SweepSummary
from .runner import run_collect as run_collect
from .runner import run_sweep as run_sweep
from .spec import Distribution as Distribution
from .spec import SweepSpec as SweepSpec
from .spec import Task as Task
from .spec import load_spec as load_spec
from .spec import parse_spec as parse_spec
from .store import ResultStore as ResultStore
from .store import TaskResult as TaskResult
from .tasks import settings_hash as settings_hash
from .tasks import study as study
