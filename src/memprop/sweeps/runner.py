"""Run a sweep on Dask, streaming each finished task into the results store.

Each (point, seed) is one ``dask.distributed`` task calling :func:`memprop.sweeps.tasks.execute`
on a worker; the driver (this process) writes rows as tasks finish (``as_completed``) and is the
store's only writer. Resuming is the same call again: tasks whose row says ``done`` are skipped.

Crash behaviour:
- a task that raises becomes a ``failed`` row with its traceback; the sweep goes on;
- a killed worker: Dask reruns its in-flight tasks elsewhere (up to
  ``distributed.scheduler.allowed-failures`` times, then the task is recorded as failed with
  ``KilledWorker``); rows are upserts on (hash, seed), so none is ever duplicated;
- a killed driver: rows already committed stay; the tasks in flight run again on resume.
Results are the same whatever the interruptions, because tasks are deterministic functions of
their settings and seed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MempropError
from ..limits import TASKS_ENV, limit
from ..progress import Progress
from .spec import SweepSpec, Task, load_spec, parse_spec
from .store import ResultStore, TaskResult
from .tasks import check_tasks

LOCAL = "local"


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepSummary:
    """What a :func:`run_sweep` call did, and where the spec's tasks stand afterwards."""

    total: int
    """Tasks in the spec."""
    skipped: int
    """Tasks already done before this call (not rerun)."""
    submitted: int
    """Tasks sent to Dask by this call."""
    done: int
    """Tasks of the spec done at the end."""
    failed: int
    """Tasks of the spec failed at the end."""
    lost: int
    """Tasks this call submitted that never reported (scheduler lost); they run on resume."""
    seconds: float

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed

    @property
    def complete(self) -> bool:
        """Every task of the spec has a done row."""
        return self.done == self.total


def _check_scheduler(scheduler: str) -> None:
    if scheduler == LOCAL:
        return
    proto, sep, rest = scheduler.partition("://")
    if not sep or not proto or not rest:
        raise ConfigError(f"scheduler must be 'local' or a Dask scheduler address such as "
                          f"'tcp://HOST:PORT', got {scheduler!r}")


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise MempropError("sweeps run on dask.distributed, which is not installed: "
                           "pip install 'dask[distributed]'") from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str = LOCAL, *, workers: int | None = None,
                timeout: float = 30.0) -> Iterator[object]:
    """A ``distributed.Client``: on a new LocalCluster, or on the scheduler at an address.

    The LocalCluster listens on 127.0.0.1 only, with ``workers`` worker *processes* of one thread
    each (torch runs one thread per task, so processes give the parallelism), no dashboard.
    """
    _check_scheduler(scheduler)
    distributed = _import_distributed()
    if scheduler == LOCAL:
        n = workers if workers is not None else (os.cpu_count() or 1)
        try:
            cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR,
            )
        except RuntimeError as e:
            raise MempropError(
                f"could not start the LocalCluster's {n} worker processes ({e}). Worker "
                "processes are spawned and re-import the main module: a script that calls "
                "run_sweep must do so under `if __name__ == \"__main__\":`") from e
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    if workers is not None:
        warnings.warn(f"workers={workers} is ignored with scheduler={scheduler!r}: the "
                      "scheduler's own workers run the tasks", stacklevel=3)
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"scheduler: cannot reach the Dask scheduler at {scheduler!r} within "
                          f"{timeout:g} s ({e})") from None
    with client:
        yield client


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def run_sweep(
    spec: SweepSpec | str | Path,
    store_path: str | Path,
    *,
    scheduler: str = LOCAL,
    workers: int | None = None,
    progress: Progress | None = None,
    retry_failed: bool = True,
    timeout: float = 30.0,
    max_tasks: int | None = None,
) -> SweepSummary:
    """Run every task of ``spec`` not yet done in the store at ``store_path``.

    Args:
        spec: a :class:`SweepSpec` or the path of its TOML file.
        store_path: the SQLite results store (created if missing).
        scheduler: ``"local"`` (a LocalCluster on this machine) or a Dask scheduler address
            ``"tcp://HOST:PORT"``.
        workers: LocalCluster worker processes (default: CPU count, at most one per task).
        progress: a :class:`~memprop.progress.Progress` showing done/total, failures and
            ETA; None for silence.
        retry_failed: also rerun tasks whose row says ``failed`` (default); done rows are
            always kept.
        timeout: seconds to wait for a scheduler given by address.
        max_tasks: refuse a spec of more tasks (default: ``$MEMPROP_MAX_TASKS``, else 1,000,000).

    Returns:
        A :class:`SweepSummary`.

    A script calling this with the local scheduler must call it under
    ``if __name__ == "__main__":``: the worker processes are spawned and re-import the script.

    Raises:
        ConfigError: bad spec, scheduler or workers.
        DataError: ``store_path`` is not a memprop results store (it is left unchanged).
    """
    t0 = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    spec = spec.checked()
    _check_scheduler(scheduler)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    # Everything is checked before the store is created or a cluster started: the task count
    # (counted, not listed), then every task's config and the study's own checks.
    cap = limit(TASKS_ENV) if max_tasks is None else max_tasks
    if spec.size() > cap:
        raise ConfigError(f"{spec.name or spec.study}: {spec.size():,} tasks, more than the limit {cap:,}; "
                          f"shrink the grid or the seeds, or raise the limit (--max-tasks or {TASKS_ENV})")
    tasks = spec.tasks()
    check_tasks(spec.study, tasks)
    with ResultStore(store_path) as store:
        store.record_spec(spec.to_dict())
        before = store.statuses()
        todo = [t for t in tasks if before.get(t.key) != "done"
                and (retry_failed or before.get(t.key) != "failed")]
        lost = 0
        if todo:
            n = min(workers or os.cpu_count() or 1, len(todo)) if scheduler == LOCAL else workers
            cache_dir = str(Path(store_path).resolve()) + ".cache"
            with dask_client(scheduler, workers=n, timeout=timeout) as client:
                lost = _run(client, todo, store, progress, label=spec.name or spec.study,
                            already=len(tasks) - len(todo), cache_dir=cache_dir)
        after = store.statuses()
    keys = [t.key for t in tasks]
    return SweepSummary(
        total=len(tasks), skipped=len(tasks) - len(todo), submitted=len(todo),
        done=sum(after.get(k) == "done" for k in keys),
        failed=sum(after.get(k) == "failed" for k in keys),
        lost=lost, seconds=time.perf_counter() - t0,
    )


def _run(client, todo: list[Task], store: ResultStore, progress: Progress | None, *,
         label: str, already: int, cache_dir: str | None = None) -> int:
    """Submit ``todo`` and write each result as it arrives; returns the number lost."""
    from distributed import as_completed

    from .tasks import execute

    by_key = {}
    for t in todo:
        fut = client.submit(execute, t.study, t.settings, t.seed, cache_dir,
                            key=f"memprop-{t.study}-{t.hash}-{t.seed}")
        by_key[fut.key] = (fut, t)
    if progress is not None:
        progress.start(f"sweep {label}" + (f" (+{already} done)" if already else ""), len(todo))
    failed = lost = 0
    for fut in as_completed([f for f, _ in by_key.values()]):
        _, t = by_key.pop(fut.key)
        try:
            result = TaskResult(**fut.result())
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - KilledWorker, errors outside the task
            if "cancel" in type(e).__name__.lower():  # scheduler lost: pending, not failed
                lost += 1
                continue
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
            result = TaskResult(study=t.study, hash=t.hash, seed=t.seed, settings=t.settings,
                                status="failed", traceback=tb, finished=_now())
        fut.release()
        assert result.key == t.key, (result.key, t.key)
        store.put(result)
        failed += result.status == "failed"
        if progress is not None:
            progress.update(1, info=f"{failed} failed" if failed else "")
    if progress is not None:
        progress.finish(info=f"{failed} failed" if failed else "")
    return lost


def run_collect(spec: SweepSpec | Mapping[str, Any], store_path: str | Path, *, workers: int | None = None,
                progress: Progress | None = None, fresh: bool = False,
                scheduler: str = LOCAL) -> tuple[list[tuple[dict[str, Any], int, dict[str, Any]]], dict[str, Any]]:
    """Run a sweep (a spec, or its TOML-shaped data) into ``store_path``, resuming what the store
    holds (``fresh``: delete the store first), and return every finished task of the spec as
    (settings, seed, metrics), with the summary as a dict. For studies built on sweeps (the
    claims map), which the layering keeps from importing this engine.

    Raises:
        MempropError: when tasks failed (they are retried by running the same call again).
    """
    if not isinstance(spec, SweepSpec):
        spec = parse_spec(spec, source="spec")
    path = Path(store_path)
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                extra.unlink()
    summary = run_sweep(spec, path, workers=workers, progress=progress, scheduler=scheduler)
    if summary.failed:
        raise MempropError(f"{spec.name or spec.study}: {summary.failed} task(s) failed; see `memprop sweep status "
                           f"{path}`; run the same command again to retry them")
    wanted = {t.key: t for t in spec.checked().tasks()}
    with ResultStore(path, readonly=True) as store:
        rows = [(dict(wanted[r.key].settings), r.seed, dict(r.metrics)) for r in store.rows(status="done")
                if r.key in wanted]
    return rows, {"total": summary.total, "submitted": summary.submitted, "skipped": summary.skipped,
                  "done": summary.done, "seconds": summary.seconds}
