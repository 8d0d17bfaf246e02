"""Read a results store: status, flat tables (CSV/JSON export) and line plots with seed bands.

Everything here opens the store read-only; nothing reruns a task. Flat rows have the columns
``study, hash, seed, status``, then one column per setting, one per metric, then ``seconds,
started, finished, host, worker, version, traceback``. A setting or metric whose name clashes
with an earlier column is prefixed ``settings.`` or ``metrics.``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import jsonable, write_csv, write_json
from .spec import SweepSpec, Task, parse_spec
from .store import ResultStore, TaskResult

META = ("study", "hash", "seed", "status")
TRAILER = ("seconds", "started", "finished", "host", "worker", "version", "traceback")
BANDS = ("sd", "range", "none")


@contextlib.contextmanager
def opened(store: ResultStore | str | Path) -> Iterator[ResultStore]:
    if isinstance(store, ResultStore):
        yield store
    else:
        with ResultStore(store, readonly=True) as s:
            yield s


def sort_key(value: Any) -> tuple:
    if isinstance(value, (bool, int, float)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def row_order(r: TaskResult) -> tuple:
    return (r.study, tuple((k, sort_key(v)) for k, v in sorted(r.settings.items())), r.seed)


# --------------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepStatus:
    """Where a sweep stands. ``pending``/``total`` are None when no spec is known."""

    done: int
    failed: int
    pending: int | None
    total: int | None
    specs: tuple[str, ...]
    """Names (or studies) of the specs the counts refer to; empty: the whole store."""
    failures: tuple[TaskResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "failed": self.failed, "pending": self.pending,
                "total": self.total, "specs": list(self.specs),
                "failures": [{"study": r.study, "hash": r.hash, "seed": r.seed,
                              "settings": r.settings, "error": last_line(r.traceback)}
                             for r in self.failures]}


def last_line(tb: str | None) -> str:
    """The last non-empty line of a traceback (the exception and its message)."""
    lines = [ln for ln in (tb or "").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def status(store: ResultStore | str | Path, spec: SweepSpec | None = None) -> SweepStatus:
    """Done, failed and pending tasks of ``spec`` in ``store``.

    Without ``spec``: the tasks of every spec ever run against the store (recorded by
    :func:`~memprop.sweeps.run_sweep`); with none recorded, done and failed over the whole store
    and ``pending=None``.
    """
    with opened(store) as s:
        rows = {r.key: r for r in s.rows()}
        if spec is not None:
            specs = [spec]
        else:
            specs = [parse_spec(d, source="spec recorded in the store", check=False)
                     for d in s.specs()]
    if not specs:
        failures = tuple(sorted((r for r in rows.values() if r.status == "failed"),
                                key=row_order))
        done = sum(r.status == "done" for r in rows.values())
        return SweepStatus(done=done, failed=len(failures), pending=None, total=None, specs=(),
                           failures=failures)
    tasks: dict[tuple[str, int], Task] = {}
    for sp in specs:
        for t in sp.tasks():
            tasks.setdefault(t.key, t)
    present = [rows[k] for k in tasks if k in rows]
    failures = tuple(sorted((r for r in present if r.status == "failed"), key=row_order))
    done = sum(r.status == "done" for r in present)
    return SweepStatus(done=done, failed=len(failures), pending=len(tasks) - len(present),
                       total=len(tasks), specs=tuple(sp.name or sp.study for sp in specs),
                       failures=failures)


# --------------------------------------------------------------------------------------------
# Flat tables


def flat_columns(r: TaskResult) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {"study": r.study, "hash": r.hash, "seed": r.seed, "status": r.status}
    setting_columns = []
    for k, v in r.settings.items():
        col = f"settings.{k}" if k in out or k in TRAILER else k
        out[col] = v
        setting_columns.append(col)
    for k, v in r.metrics.items():
        out[f"metrics.{k}" if k in out or k in TRAILER else k] = v
    for k in TRAILER:
        out[k] = getattr(r, k)
    return out, setting_columns


def flat(r: TaskResult) -> dict[str, Any]:
    """One row as a flat dict (settings and metrics as columns; see the module docstring)."""
    return flat_columns(r)[0]


def table(store: ResultStore | str | Path, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every row (or those with ``status``) as flat dicts, ordered by study, settings, seed."""
    with opened(store) as s:
        rows = s.rows(status=status)
    return [flat(r) for r in sorted(rows, key=row_order)]


def export_csv(store: ResultStore | str | Path, out: str | Path | None = None) -> str:
    """The store as CSV; written atomically to ``out`` if given. Returns the text."""
    rows = table(store)
    if out is not None:
        write_csv(out, rows)
        return Path(out).read_text()
    buf = io.StringIO()
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    w = csv.DictWriter(buf, fieldnames=columns or list(META), lineterminator="\n")
    w.writeheader()
    w.writerows(jsonable(rows))
    return buf.getvalue()


def export_json(store: ResultStore | str | Path, out: str | Path | None = None) -> str:
    """The store as a JSON list of flat rows (NaN/Inf become null); written to ``out`` if given."""
    rows = table(store)
    if out is not None:
        write_json(out, rows)
        return Path(out).read_text()
    return json.dumps(jsonable(rows), indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------
# Plot


def matches(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return type(value) is type(wanted) and value == wanted
    return value == wanted  # 4 == 4.0: a --where K=4 matches K = 4.0
