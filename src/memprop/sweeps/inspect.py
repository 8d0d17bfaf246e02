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
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..experiments.io import _jsonable, atomic_write_bytes, write_csv, write_json
from .spec import SweepSpec, Task, parse_spec
from .store import ResultStore, TaskResult

META = ("study", "hash", "seed", "status")
TRAILER = ("seconds", "started", "finished", "host", "worker", "version", "traceback")
BANDS = ("sd", "range", "none")


@contextlib.contextmanager
def _opened(store: ResultStore | str | Path) -> Iterator[ResultStore]:
    if isinstance(store, ResultStore):
        yield store
    else:
        with ResultStore(store, readonly=True) as s:
            yield s


def _order(value: Any) -> tuple:
    if isinstance(value, (bool, int, float)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _row_order(r: TaskResult) -> tuple:
    return (r.study, tuple((k, _order(v)) for k, v in sorted(r.settings.items())), r.seed)


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
    with _opened(store) as s:
        rows = {r.key: r for r in s.rows()}
        if spec is not None:
            specs = [spec]
        else:
            specs = [parse_spec(d, source="spec recorded in the store", check=False)
                     for d in s.specs()]
    if not specs:
        failures = tuple(sorted((r for r in rows.values() if r.status == "failed"),
                                key=_row_order))
        done = sum(r.status == "done" for r in rows.values())
        return SweepStatus(done=done, failed=len(failures), pending=None, total=None, specs=(),
                           failures=failures)
    tasks: dict[tuple[str, int], Task] = {}
    for sp in specs:
        for t in sp.tasks():
            tasks.setdefault(t.key, t)
    present = [rows[k] for k in tasks if k in rows]
    failures = tuple(sorted((r for r in present if r.status == "failed"), key=_row_order))
    done = sum(r.status == "done" for r in present)
    return SweepStatus(done=done, failed=len(failures), pending=len(tasks) - len(present),
                       total=len(tasks), specs=tuple(sp.name or sp.study for sp in specs),
                       failures=failures)


# --------------------------------------------------------------------------------------------
# Flat tables


def _flat(r: TaskResult) -> tuple[dict[str, Any], list[str]]:
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
    return _flat(r)[0]


def table(store: ResultStore | str | Path, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every row (or those with ``status``) as flat dicts, ordered by study, settings, seed."""
    with _opened(store) as s:
        rows = s.rows(status=status)
    return [flat(r) for r in sorted(rows, key=_row_order)]


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
    w.writerows(_jsonable(rows))
    return buf.getvalue()


def export_json(store: ResultStore | str | Path, out: str | Path | None = None) -> str:
    """The store as a JSON list of flat rows (NaN/Inf become null); written to ``out`` if given."""
    rows = table(store)
    if out is not None:
        write_json(out, rows)
        return Path(out).read_text()
    return json.dumps(_jsonable(rows), indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------
# Plot


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return type(value) is type(wanted) and value == wanted
    return value == wanted  # 4 == 4.0: a --where K=4 matches K = 4.0


def plot(
    store: ResultStore | str | Path,
    x: str,
    y: str,
    *,
    hue: str | None = None,
    facet: str | None = None,
    where: Mapping[str, Any] | None = None,
    band: str = "sd",
    out: str | Path | None = None,
):
    """Lines of the mean of ``y`` against ``x``, one per ``hue`` value, one panel per ``facet``
    value, with a band over seeds (``"sd"``: mean +- one standard deviation, ``"range"``: min to
    max, ``"none"``).

    Only done rows are drawn, after keeping rows whose columns equal ``where``'s values. Rows
    that differ in any other setting are pooled with the seeds (with a warning naming them).
    matplotlib is imported here, and only its object API is used (no pyplot, no global backend).

    Returns:
        The ``matplotlib.figure.Figure``; also saved to ``out`` (format from its suffix) if given.

    Raises:
        ConfigError: an unknown column (the message lists the available ones), a non-numeric
            ``y``, an unknown ``band``, or no rows left to plot.
    """
    import numpy as np
    from matplotlib.figure import Figure

    if band not in BANDS:
        raise ConfigError(f"band must be one of {', '.join(map(repr, BANDS))}; got {band!r}")
    with _opened(store) as st:
        results = sorted(st.rows(status="done"), key=_row_order)
    if not results:
        raise ConfigError("no done rows in the store to plot")
    flats = [_flat(r) for r in results]
    rows = [f for f, _ in flats]
    setting_cols = {c for _, cols in flats for c in cols}
    columns = sorted({k for r in rows for k in r if k not in TRAILER})
    for name, col in (("x", x), ("y", y), ("hue", hue), ("facet", facet),
                      *(("where", k) for k in (where or {}))):
        if col is not None and col not in columns:
            raise ConfigError(f"{name}: unknown column {col!r}; available: {', '.join(columns)}")
    rows = [r for r in rows if all(_matches(r.get(k), v) for k, v in (where or {}).items())]
    if not rows:
        raise ConfigError(f"no done rows match where={dict(where or {})!r}")
    used = {x, y, hue, facet, *(where or {})}
    pooled = sorted(k for k in setting_cols - used
                    if len({json.dumps(r.get(k), sort_keys=True) for r in rows}) > 1)
    if pooled:
        warnings.warn(f"plot pools rows that differ in {', '.join(pooled)} with the seeds; fix "
                      "them with where= (--where K=V) or use them as hue/facet", stacklevel=2)

    def numeric(v: Any) -> float | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v)

    if any(numeric(r.get(y)) is None and r.get(y) is not None for r in rows):
        raise ConfigError(f"y: column {y!r} is not numeric")
    facets = sorted({r.get(facet) for r in rows}, key=_order) if facet else [None]
    hues = sorted({r.get(hue) for r in rows}, key=_order) if hue else [None]
    xs_all = sorted({r.get(x) for r in rows}, key=_order)
    categorical = any(numeric(v) is None for v in xs_all)
    position = {v: (i if categorical else numeric(v)) for i, v in enumerate(xs_all)}

    fig = Figure(figsize=(4.2 * len(facets), 3.4), layout="constrained")
    axes = fig.subplots(1, len(facets), sharey=True, squeeze=False)[0]
    for ax, fv in zip(axes, facets):
        for hv in hues:
            pts: dict[Any, list[float]] = {}
            for r in rows:
                if (facet and r.get(facet) != fv) or (hue and r.get(hue) != hv):
                    continue
                val = numeric(r.get(y))
                if val is not None and math.isfinite(val):
                    pts.setdefault(r.get(x), []).append(val)
            if not pts:
                continue
            keys = sorted(pts, key=_order)
            px = np.array([position[k] for k in keys], dtype=float)
            vals = [np.array(pts[k]) for k in keys]
            mean = np.array([v.mean() for v in vals])
            n_seeds = max(len(v) for v in vals)
            label = f"{hue}={hv}" if hue else y
            (line,) = ax.plot(px, mean, marker="o", ms=3, label=f"{label} (n={n_seeds})")
            if band == "sd":
                sd = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
                lo, hi = mean - sd, mean + sd
            elif band == "range":
                lo = np.array([v.min() for v in vals])
                hi = np.array([v.max() for v in vals])
            if band != "none":
                ax.fill_between(px, lo, hi, alpha=0.2, color=line.get_color(), linewidth=0)
        if categorical:
            ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
        ax.set_xlabel(x)
        if facet:
            ax.set_title(f"{facet} = {fv}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(y)
    axes[0].legend(fontsize="small")
    if out is not None:
        buf = io.BytesIO()
        fmt = Path(out).suffix.lstrip(".") or "png"
        fig.savefig(buf, format=fmt, dpi=150)
        atomic_write_bytes(out, buf.getvalue())
    return fig
