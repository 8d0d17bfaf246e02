"""Process-level settings for command-line runs (never changed at import time)."""

from __future__ import annotations

import os

import torch

THREADS_ENV = "MEMPROP_THREADS"


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count and return it.

    Default 1: on 2-core machines torch's default thread count measured about 10x slower than one
    thread for EP-sized work (small matrices, many steps); sweeps parallelise over processes.
    ``MEMPROP_THREADS`` overrides the default; an explicit argument overrides both.
    """
    if threads is None:
        threads = int(os.environ.get(THREADS_ENV, "1"))
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()
