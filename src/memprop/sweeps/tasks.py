"""What a sweep task runs: the study registry's task functions, plus a self-test task.

The studies and their settings come from :data:`memprop.experiments.registry.STUDIES` (the one
registry the command line uses too); a Dask worker resolves a study by name when the task
arrives, so it needs memprop installed but none of the driver's state. ``selftest`` is a cheap
deterministic task for testing the sweep machinery itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import socket
import time
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from ..experiments.registry import STUDIES as REGISTRY
from ..experiments.registry import SettingType as SettingType
from ..experiments.registry import Study

Scalar = int | float | str | bool

MARKERS_ENV = "MEMPROP_SELFTEST_MARKERS"
"""If set on a worker, the ``selftest`` task writes a marker file per attempt into this folder."""


def study(name: str) -> Study:
    """The study ``name``: one of the registry's (with a sweep task) or ``selftest``."""
    entry = REGISTRY.get(name)
    if entry is not None and entry.sweep_task is not None:
        return entry
    if name in EXTRA:
        return EXTRA[name]
    known = sorted([n for n, s in REGISTRY.items() if s.sweep_task is not None] + list(EXTRA))
    raise ConfigError(f"study: unknown study {name!r}; allowed: {', '.join(known)}")


def resolve_task(name: str):
    """The task function of study ``name``."""
    return study(name).sweep_task


def resolve_settings(name: str) -> Mapping[str, SettingType]:
    """The settings table of study ``name``: setting -> type or tuple of allowed values."""
    return study(name).sweep_settings


def describe(kind: SettingType) -> str:
    """Words for a setting type, for error messages."""
    if isinstance(kind, tuple):
        return "one of " + ", ".join(map(repr, kind))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, repr(kind)
    )


def coerce(where: str, value: Any, kind: SettingType) -> Scalar:
    """Check ``value`` against a setting type and return it normalised (ints -> float for float).

    Raises:
        ConfigError: naming ``where`` (the spec key), the value and what is allowed.
    """
    if isinstance(kind, tuple):
        for allowed in kind:
            same_kind = isinstance(value, bool) == isinstance(allowed, bool)
            if same_kind and type(value) in (int, float, str, bool) and value == allowed:
                return allowed
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a study's table is wrong
        raise ConfigError(f"{where}: the study declares an unsupported type {kind!r}")
    raise ConfigError(
        f"{where} must be {describe(kind)}, got {value!r} ({type(value).__name__})"
    )


def check_tasks(study_name: str, tasks: list) -> None:
    """Build every task's config (which validates its settings and seed) and run the study's
    ``check`` once per distinct setting point, so that a sweep fails before it starts.

    Raises:
        MempropError: naming the task's settings and seed, then the problem.
    """
    from ..errors import MempropError

    entry = study(study_name)
    checked: set[str] = set()
    for t in tasks:
        try:
            cfg = entry.sweep_config(dict(t.settings), t.seed) if entry.sweep_config is not None else None
            if cfg is not None and entry.check is not None and t.hash not in checked:
                checked.add(t.hash)
                entry.check(cfg)
        except MempropError as e:
            shown = ", ".join(f"{k} = {v!r}" for k, v in t.settings.items()) or "the defaults"
            raise type(e)(f"task ({shown}; seed {t.seed}): {e}") from None


def settings_hash(study_name: str, settings: Mapping[str, Scalar]) -> str:
    """Stable hash of a task's settings (with its study): 16 hex digits of SHA-256.

    Canonical JSON (sorted keys, no spaces) of ``{"study": ..., "settings": ...}``; floats print
    by ``repr``, which round-trips exactly, so the hash is the same on every machine and Python.
    """
    text = json.dumps(
        {"study": study_name, "settings": dict(settings)},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_metrics(metrics: Any) -> dict[str, float | int | str]:
    """A task's return value, checked: a dict of str -> int | float | str (bools become ints)."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"a sweep task must return a dict of metrics, got {type(metrics).__name__}")
    out: dict[str, float | int | str] = {}
    for k, v in metrics.items():
        if not isinstance(k, str):
            raise TypeError(f"metric names must be strings, got {k!r}")
        if isinstance(v, bool):
            v = int(v)
        elif hasattr(v, "item") and callable(v.item):  # 0-d tensors and numpy scalars
            v = v.item()
        if not isinstance(v, (int, float, str)):
            raise TypeError(f"metric {k!r} must be a float, int or str, got {type(v).__name__}")
        out[k] = v
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def execute(study_name: str, settings: dict[str, Scalar], seed: int,
            cache_dir: str | None = None) -> dict[str, Any]:
    """Run one task where it lands (a Dask worker) and return its result row as a plain dict.

    An exception inside the task is caught and returned as ``status="failed"`` with its
    traceback, so one bad grid point never stops the sweep. Torch uses one thread (or
    ``MEMPROP_THREADS``): sweeps parallelise over processes. ``cache_dir``: where tasks share
    their expensive common work (:mod:`memprop.experiments.cache`; the runner puts it beside
    the store).
    """
    from .._runtime import configure_allocator, configure_threads
    from ..experiments.cache import CACHE_ENV
    from ..provenance import versions

    started, t0 = _now(), time.perf_counter()
    if cache_dir:
        os.environ[CACHE_ENV] = cache_dir
    try:
        configure_threads()
        configure_allocator()
        metrics = check_metrics(resolve_task(study_name)(dict(settings), seed))
        status, tb = "done", None
    except Exception:
        metrics, status, tb = {}, "failed", traceback.format_exc()
    seconds = time.perf_counter() - t0
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = ""
    return {
        "study": study_name, "hash": settings_hash(study_name, settings), "seed": seed,
        "settings": dict(settings), "status": status, "metrics": metrics, "traceback": tb,
        "started": started, "finished": _now(), "seconds": seconds,
        "host": socket.gethostname(), "worker": worker,
        "version": "; ".join(f"{k} {v}" for k, v in versions().items()) + f"; threads {torch_threads()}",
    }


# --------------------------------------------------------------------------------------------
# Built-in studies


SELFTEST_SETTINGS: Mapping[str, SettingType] = MappingProxyType(
    {"x": float, "k": int, "label": str, "sleep": float, "fail": bool, "fail_x": float}
)


def selftest_task(settings: Mapping[str, Scalar], seed: int) -> dict[str, float | int | str]:
    """A cheap deterministic task for testing sweeps: ``y = k x + seed / 10 + noise``.

    Settings: ``x`` (0.0), ``k`` (1), ``label`` (""), ``sleep`` seconds before returning (0.0),
    ``fail`` (raise if true), ``fail_x`` (raise if ``x`` equals it). The noise is a Gaussian of
    scale 0.01 drawn from a generator seeded by the settings and seed, so reruns are identical.
    If ``$MEMPROP_SELFTEST_MARKERS`` names a folder, each attempt first writes an empty file
    ``HASH-SEED-PID-NS`` there (tests use it to kill the worker running a task).
    """
    markers = os.environ.get(MARKERS_ENV)
    if markers:
        name = f"{settings_hash('selftest', settings)}-{seed}-{os.getpid()}-{time.time_ns()}"
        open(os.path.join(markers, name), "w").close()
    x, k = float(settings.get("x", 0.0)), int(settings.get("k", 1))
    time.sleep(float(settings.get("sleep", 0.0)))
    if settings.get("fail", False) or ("fail_x" in settings and x == settings["fail_x"]):
        raise RuntimeError(f"selftest failure requested (x={x}, seed={seed})")
    rng = random.Random(json.dumps(dict(settings), sort_keys=True) + f"|{seed}")
    return {"y": k * x + seed / 10 + rng.gauss(0.0, 0.01), "k_times_x": k * x,
            "label": str(settings.get("label", "")), "seed_echo": seed}


EXTRA: Mapping[str, Study] = MappingProxyType({
    "selftest": Study(name="selftest", title="cheap deterministic task for tests", sweep_task=selftest_task,
                      sweep_settings=SELFTEST_SETTINGS, doc="cheap deterministic task for tests"),
})
"""Sweep-only tasks beside the registry's studies."""
