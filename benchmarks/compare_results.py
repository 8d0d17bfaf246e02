"""Which numbers of two result folders differ: ``python benchmarks/compare_results.py BEFORE AFTER``.

For a refactor that should not change the math. For every result JSON of BEFORE, prints how many
values differ in AFTER's file of the same name and the first six (path, both values, difference).
Timing, thread counts, configs and provenance are ignored.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

SKIP = {"provenance", "config", "threads", "workers", "seconds", "training_seconds", "eval_seconds", "timing",
        "total_seconds", "wall_seconds", "elapsed"}


def differences(a, b, path: str = "") -> list[tuple[str, str]]:
    """(path, description) of every value that differs between two JSON values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in a:
            if k in SKIP:
                continue
            out += differences(a[k], b[k], f"{path}/{k}") if k in b else [(f"{path}/{k}", "missing after")]
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [(path, f"length {len(a)} vs {len(b)}")]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        same = a == b or (math.isnan(a) and math.isnan(b))
        return [] if same else [(path, f"{a!r} vs {b!r} (diff {abs(a - b):.3g})")]
    return [] if a == b else [(path, f"{a!r} vs {b!r}")]


def main(before: Path, after: Path) -> None:
    for f in sorted(before.glob("*.json")):
        if "timing" in f.name:
            continue
        g = after / f.name
        if not g.exists():
            print(f"{f.name}: missing after")
            continue
        out = differences(json.loads(f.read_text()), json.loads(g.read_text()))
        print(f"{f.name}: {len(out)} differences")
        for p, d in out[:6]:
            print(f"    {p} {d}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/compare_results.py BEFORE_DIR AFTER_DIR")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
