"""Result files: atomic JSON and CSV writes, JSON reads.

Every result file is written to a temporary file in the same directory and renamed into place,
so a crash never leaves a half-written result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_bytes as atomic_write_bytes


def jsonable(obj: Any) -> Any:
    """``obj`` with tensors, arrays and paths as JSON values and non-finite floats as None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (tensors and arrays become lists)."""
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode())


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Atomically write a list of flat dicts as CSV (columns: union of keys, first-seen order)."""
    rows = [dict(jsonable(r)) for r in rows]
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
    from .errors import DataError

    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such result file") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
