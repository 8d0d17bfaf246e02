"""Result files and progress: atomic JSON/CSV writes, a stderr progress bar.

Every result file is written to a temporary file in the same directory and renamed into place,
so a crash never leaves a half-written result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes as atomic_write_bytes


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (tensors and arrays become lists)."""
    text = json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode())


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Atomically write a list of flat dicts as CSV (columns: union of keys, first-seen order)."""
    rows = [dict(_jsonable(r)) for r in rows]
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return atomic_write_bytes(path, buf.getvalue().encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read a result JSON file (the plotting functions' only input)."""
    from ..errors import DataError

    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such result file") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None


class Progress:
    """A one-line progress bar on stderr: stage, done/total, rate and ETA.

    Silent when ``enabled`` is False or stderr is not a terminal and ``force`` is False; then it
    prints one line per stage start and end, so logs stay readable.
    """

    def __init__(self, *, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.stage = ""
        self.total = 0
        self.done = 0
        self.t0 = time.perf_counter()
        self._last = 0.0

    def start(self, stage: str, total: int) -> None:
        self.stage, self.total, self.done = stage, max(int(total), 1), 0
        self.t0 = time.perf_counter()
        if self.enabled and not self.tty:
            print(f"[memprop] {stage} ...", file=self.stream, flush=True)
        self._draw(force=True)

    def update(self, n: int = 1, info: str = "") -> None:
        self.done += n
        self._draw(info=info)

    def finish(self, info: str = "") -> float:
        elapsed = time.perf_counter() - self.t0
        if self.enabled:
            if self.tty:
                self.done = self.total
                self._draw(force=True, info=info)
                print(file=self.stream, flush=True)
            else:
                print(f"[memprop] {self.stage} done in {elapsed:.1f} s {info}".rstrip(),
                      file=self.stream, flush=True)
        return elapsed

    def _draw(self, force: bool = False, info: str = "") -> None:
        if not (self.enabled and self.tty):
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        elapsed = now - self.t0
        frac = min(self.done / self.total, 1.0)
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        eta_s = f"ETA {eta:5.0f}s" if math.isfinite(eta) else "ETA    ?"
        line = f"\r{self.stage:<28.28} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s {eta_s} {info}"
        print(line[:160], end="", file=self.stream, flush=True)


def save_result(out: str | os.PathLike, stem: str, result: Mapping[str, Any],
                rows: Iterable[Mapping[str, Any]], plot=None) -> tuple[str, ...]:
    """Write ``out/stem.json`` and ``out/stem.csv``; draw ``out/stem.png`` with
    ``plot(json_path, png_path)`` (from the saved JSON only). Returns the plot file names drawn."""
    out = Path(out)
    write_json(out / f"{stem}.json", result)
    write_csv(out / f"{stem}.csv", rows)
    if plot is None:
        return ()
    try:
        plot(out / f"{stem}.json", out / f"{stem}.png")
    except ImportError as e:  # pragma: no cover - matplotlib missing
        print(f"memprop: {stem}.png not drawn ({e})", file=sys.stderr)
        return ()
    return (f"{stem}.png",)
