"""A content-addressed cache of computed tensors on disk (trained weights shared by sweep tasks).

A study's expensive shared work (e.g. training a stack of configurations that many sweep tasks
evaluate) is keyed by the SHA-256 of a canonical JSON description of everything it depends on
(settings, seeds, the memprop version); the result, a dict of tensors, is saved atomically as a
``torch.save`` file and read back with ``weights_only=True``. A lock file serialises the work
between processes on one machine, so that concurrent tasks needing the same result compute it
once: the first computes, the others wait and read.

The sweep runner puts the cache beside its store (``STORE.cache/``) and tells the tasks through
the environment variable ``MEMPROP_CACHE_DIR``; without it nothing is cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_write_bytes

CACHE_ENV = "MEMPROP_CACHE_DIR"


def cache_key(description: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``description`` (sorted keys, repr floats)."""
    from .. import __version__

    text = json.dumps({"memprop": __version__, **description}, sort_keys=True, separators=(",", ":"),
                      default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def cached(description: Mapping[str, Any], compute: Callable[[], dict[str, torch.Tensor]], *,
           root: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """``compute()``, or its saved result for the same ``description`` under ``root`` (default
    ``$MEMPROP_CACHE_DIR``; no caching when neither is set). Tensors come back on the CPU."""
    root = root if root is not None else os.environ.get(CACHE_ENV)
    if not root:
        return compute()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    key = cache_key(description)
    path = root / f"{key}.pt"
    with _Lock(root / f"{key}.lock"):
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # a damaged entry is recomputed and replaced
                pass
        value = compute()
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in value.items()}, buf)
        atomic_write_bytes(path, buf.getvalue())
        (root / f"{key}.json").write_text(json.dumps(description, sort_keys=True, default=repr, indent=1))
        return value


class _Lock:
    """An exclusive advisory lock on a file (POSIX ``flock``; a no-op where unavailable)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        return False
