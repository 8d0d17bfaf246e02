"""The studies a sweep can run: name -> task function, resolved by import path on the worker.

A task is a deterministic function of its settings and seed::

    task(settings: dict[str, int | float | str | bool], seed: int) -> dict[str, float | int | str]

It must draw every random number from generators seeded by ``seed`` (never from global RNG state)
so that a task rerun after a crash gives the same numbers. Settings absent from ``settings`` take
the study's defaults. A study module also declares the settings a spec may use::

    SWEEP_SETTINGS: Mapping[str, type | tuple]   # name -> int | float | str | bool, or a tuple
                                                 # of the allowed values

The registry holds *import paths*, not functions: a worker imports ``module:function`` itself when
the task arrives, so it needs memprop installed but none of the driver's state. Study modules that
are still being written (``reconstruction``, ``classification``, ``devices``) are listed already;
using one before its module provides ``sweep_task`` is a :class:`~memprop.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import random
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError

Scalar = int | float | str | bool
SettingType = type | tuple
"""A setting's allowed values: ``int``, ``float``, ``str``, ``bool``, or a tuple of literals."""

MARKERS_ENV = "MEMPROP_SELFTEST_MARKERS"
"""If set on a worker, the ``selftest`` task writes a marker file per attempt into this folder."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Study:
    """One registry entry: where the task function and its settings table live."""

    name: str
    task: str
    """Import path ``"package.module:function"`` of ``task(settings, seed) -> metrics``."""
    settings: str | Mapping[str, SettingType]
    """The settings table itself, or the import path of one (``"module:SWEEP_SETTINGS"``)."""
    doc: str = ""


def _import(path: str, study: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name or module_name.startswith(f"{e.name}."):
            raise ConfigError(
                f"study {study!r}: module {module_name} does not exist yet, so it cannot provide "
                f"{attr}; a study module must define sweep_task(settings, seed) -> dict and "
                "SWEEP_SETTINGS"
            ) from None
        raise
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"study {study!r}: {module_name} does not provide {attr} yet; a study module must "
            "define sweep_task(settings, seed) -> dict and SWEEP_SETTINGS"
        ) from None


def study(name: str) -> Study:
    """The registry entry of study ``name`` (error listing the known studies)."""
    try:
        return STUDIES[name]
    except KeyError:
        raise ConfigError(
            f"study: unknown study {name!r}; allowed: {', '.join(sorted(STUDIES))}"
        ) from None


def resolve_task(name: str):
    """The task function of study ``name``, imported now (on the worker that will run it)."""
    fn = _import(study(name).task, name)
    if not callable(fn):
        raise ConfigError(f"study {name!r}: {study(name).task} is not callable")
    return fn


def resolve_settings(name: str) -> Mapping[str, SettingType]:
    """The settings table of study ``name``: setting -> type or tuple of allowed values."""
    entry = study(name)
    table = entry.settings if isinstance(entry.settings, Mapping) else _import(entry.settings, name)
    if not isinstance(table, Mapping):
        raise ConfigError(f"study {name!r}: SWEEP_SETTINGS must be a mapping, got {table!r}")
    return table


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


def execute(study_name: str, settings: dict[str, Scalar], seed: int) -> dict[str, Any]:
    """Run one task where it lands (a Dask worker) and return its result row as a plain dict.

    An exception inside the task is caught and returned as ``status="failed"`` with its
    traceback, so one bad grid point never stops the sweep. Torch uses one thread (or
    ``MEMPROP_THREADS``): sweeps parallelise over processes.
    """
    from .. import __version__
    from .._runtime import configure_threads

    started, t0 = _now(), time.perf_counter()
    try:
        configure_threads()
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
        "host": socket.gethostname(), "worker": worker, "version": __version__,
    }


# --------------------------------------------------------------------------------------------
# Built-in studies


GRADCHECK_SETTINGS: Mapping[str, SettingType] = MappingProxyType(
    {"model": ("additive", "energy", "layered"), "n": int}
)


def _flatten(prefix: str, obj: Any, out: dict) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(f"{prefix}/{k}" if prefix else str(k), v, out)
    elif obj is None:
        out[prefix] = float("nan")
    else:
        out[prefix] = obj


def gradcheck_task(settings: Mapping[str, Scalar], seed: int) -> dict[str, float | int | str]:
    """:func:`memprop.experiments.gradcheck.gradcheck` as a sweep task.

    Settings: ``model`` (default ``"additive"``), ``n`` (default 30). Metrics: the agreement
    figures flattened with ``/``, e.g. ``rbp/cosine``, ``ep/centred/0.01/cosine``; a failed EP
    point gives NaN numbers and its message in ``.../error``.
    """
    from ..experiments.gradcheck import gradcheck

    result = gradcheck(str(settings.get("model", "additive")), n=int(settings.get("n", 30)),
                       seed=seed)
    out: dict[str, Any] = {}
    for key in ("rbp", "ep"):
        if key in result:
            _flatten(key, result[key], out)
    return out


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


def _external(module: str, doc: str) -> Study:
    name = module.rsplit(".", 1)[-1]
    return Study(name=name, task=f"{module}:sweep_task", settings=f"{module}:SWEEP_SETTINGS",
                 doc=doc)


STUDIES: Mapping[str, Study] = MappingProxyType({
    "reconstruction": _external("memprop.experiments.reconstruction",
                                "pattern reconstruction (Figures 1-4, Table 1)"),
    "classification": _external("memprop.experiments.classification",
                                "EP classifier (Figure 5)"),
    "devices": _external("memprop.experiments.devices", "memristive device study"),
    "gradcheck": Study(name="gradcheck", task="memprop.sweeps.tasks:gradcheck_task",
                       settings=GRADCHECK_SETTINGS, doc="RBP/EP against the exact gradient"),
    "selftest": Study(name="selftest", task="memprop.sweeps.tasks:selftest_task",
                      settings=SELFTEST_SETTINGS, doc="cheap deterministic task for tests"),
})
"""Studies by name. Add a study here (one line) when its module provides ``sweep_task``."""
