"""Independent pieces of one run on worker processes: :func:`map_workers`.

A study's run holds pieces that share nothing but their inputs: the stacked training of each
rule (EP's stack and RBP's do not talk to each other), the device study's EP, RBP and
classification runs. Each piece seeds every random stream from its own inputs, so it computes the
same numbers in any process: running the pieces on W worker processes changes the wall time, never
a result (``tests/test_parallel.py`` checks a run on 2 workers against the same run on 1).

Workers are *spawned* (a forked torch can hang in its thread pools); each sets the parent's torch
thread count, imports memprop, runs its pieces and sends the results back pickled (tensors are
copied). One worker, or one piece, runs in the calling process, with no process started.

Sweeps parallelise over tasks with dask (:mod:`memprop.sweeps`); this is for the pieces of one task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from . import _runtime
from ._validate import positive_int
from .errors import ConfigError
from .progress import Progress

T = TypeVar("T")

MAX_WORKERS = 256
"""Most worker processes accepted (more than any study has pieces)."""


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS tells, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


DEFAULT_MAX_WORKERS = 8
"""At most this many workers by default: each spawned worker holds its own torch (about 250-300
MiB resident), and a study has few pieces that take long (two training stacks; Figure 2's recall
tasks); ``--workers`` asks for more."""


def default_workers() -> int:
    """Worker processes of a run when none are asked for: one per available core, at most
    :data:`DEFAULT_MAX_WORKERS` (each runs one torch thread; on the 2-core machines this project
    targets, 2 workers ran the main job in 65 s against 99 s in one process)."""
    return min(available_cores(), DEFAULT_MAX_WORKERS)


def _init_worker(threads: int, tuned_allocator: bool) -> None:
    torch.set_num_threads(threads)
    if tuned_allocator:  # as the parent process runs
        _runtime.configure_allocator()


class Workers:
    """Up to ``n`` worker processes for one run, started at the first parallel :meth:`map` and
    kept for the next ones (a spawned worker takes seconds to import torch), closed on exit.
    ``Workers(1)`` runs everything in the calling process. Final class."""

    def __init__(self, n: int = 1):
        positive_int("workers", n)
        if n > MAX_WORKERS:
            raise ConfigError(f"workers must be an integer in 1..{MAX_WORKERS}, got {n!r}")
        self.n = n
        self._pool: ProcessPoolExecutor | None = None
        self._ahead: dict[Any, Future] = {}

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(max_workers=self.n, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(torch.get_num_threads(), _runtime.allocator() == "tuned"))
        return self._pool

    def map(self, fn: Callable[..., T], pieces: Sequence[tuple], *, progress: Progress | None = None,
            stage: str = "", on_result: Callable[[int, T], None] | None = None) -> list[T]:
        """``[fn(*args) for args in pieces]`` (see :func:`map_workers`). ``on_result(i, result)``
        runs here as each piece finishes (in order of finishing), e.g. to start work that
        needs only that piece (:meth:`ahead`)."""
        pieces = list(pieces)
        if self.n <= 1 or len(pieces) <= 1:
            out = []
            for i, args in enumerate(pieces):
                out.append(fn(*args))
                if on_result is not None:
                    on_result(i, out[-1])
            return out
        pool = self._executor()
        futures = [pool.submit(fn, *args) for args in pieces]
        index = {f: i for i, f in enumerate(futures)}
        try:
            if progress is not None:
                progress.start(f"{stage} ({len(pieces)} pieces, {min(self.n, len(pieces))} workers)", len(pieces))
            for f in as_completed(futures):
                if on_result is not None:
                    on_result(index[f], f.result())
                if progress is not None:
                    progress.update(1)
            if progress is not None:
                progress.finish()
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def ahead(self, key: Any, fn: Callable[..., Any], *args: Any) -> None:
        """Start ``fn(*args)`` on a worker now, before anyone asks for it (a piece whose inputs
        are ready while other pieces still run); :meth:`claim` ``(key)`` takes its result later.
        With one worker nothing is started (the caller computes it when needed)."""
        if self.n > 1 and key not in self._ahead:
            self._ahead[key] = self._executor().submit(fn, *args)

    def claim(self, key: Any) -> Future | None:
        """The future of the piece started ahead under ``key`` (removed), or None."""
        return self._ahead.pop(key, None)

    def close(self) -> None:
        for f in self._ahead.values():
            f.cancel()
        self._ahead.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


@contextmanager
def pool(workers: int | Workers) -> Iterator[Workers]:
    """The :class:`Workers` of a run: the caller's own (left open), or a new pool of ``workers``
    processes, closed on exit."""
    if isinstance(workers, Workers):
        yield workers
        return
    with Workers(workers) as new:
        yield new


def parallel(workers: int | Workers) -> bool:
    """Whether ``workers`` runs pieces on more than one process."""
    return (workers.n if isinstance(workers, Workers) else workers) > 1


def map_workers(fn: Callable[..., T], pieces: Sequence[tuple], *, workers: int | Workers = 1,
                progress: Progress | None = None, stage: str = "",
                on_result: Callable[[int, T], None] | None = None) -> list[T]:
    """``[fn(*args) for args in pieces]``, the pieces spread over up to ``workers`` processes
    (a :class:`Workers` pool, kept open, or a count: a pool for this call only).

    ``fn`` must be a module-level function and its arguments and result picklable. Results come
    back in the order of ``pieces``; an exception in a piece is raised here. ``progress`` counts
    finished pieces under ``stage`` when workers run them (in this process the pieces report
    their own progress, if they are given one). ``on_result``: see :meth:`Workers.map`.
    """
    with pool(workers) as w:
        return w.map(fn, pieces, progress=progress, stage=stage, on_result=on_result)


def run_pieces(pieces: Sequence[tuple[Callable[..., Any], tuple]], *, workers: int | Workers = 1,
               progress: Progress | None = None, stage: str = "") -> list[Any]:
    """Like :func:`map_workers` for pieces that call different functions: ``(fn, args)`` each."""
    return map_workers(_call, [(fn, args) for fn, args in pieces], workers=workers, progress=progress,
                       stage=stage)


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)
