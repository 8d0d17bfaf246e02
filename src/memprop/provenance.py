"""Provenance: what produced a result, recorded beside it.

Every result file the command line writes carries ``"provenance"``: the memprop, torch, numpy and
Python versions, the command line as given, the seed, torch's thread count, the torch device and
dtype, the host name and the start time (ISO 8601, UTC). A sweep's store rows record the same per
task (see :mod:`memprop.sweeps.store`).
"""

from __future__ import annotations

import platform
import socket
from datetime import datetime, timezone
from typing import Any


def now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """The versions of memprop, torch, numpy and Python running now."""
    import numpy
    import torch

    from . import __version__

    return {"memprop": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def provenance(*, command: str | None = None, seed: int | None = None, torch_device: str = "cpu",
               dtype: str | None = None, started: str | None = None) -> dict[str, Any]:
    """The provenance record of a result (``dtype`` None: the study's own precision)."""
    import torch

    from ._runtime import allocator

    return {**versions(), "command": command, "seed": seed, "threads": torch.get_num_threads(),
            "allocator": allocator() or "system",
            "torch_device": torch_device, "dtype": dtype or "study default", "host": socket.gethostname(),
            "started": started or now()}


__all__ = ["now", "provenance", "versions"]
