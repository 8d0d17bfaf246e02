"""Progress reporting: a one-line progress bar on stderr (what long runs report through)."""

from __future__ import annotations

import math
import sys
import time


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
