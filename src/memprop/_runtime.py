"""Process-level settings: torch threads, and the torch device and dtype a study runs on.

Nothing here runs at import time; the CLI sets threads and the allocator once (and each worker
process it starts does too), studies check their device and dtype with :func:`check_runtime` and
allocate with :func:`torch_device` / :func:`torch_dtype`.
"""

from __future__ import annotations

import os

import torch

from .errors import ConfigError

THREADS_ENV = "MEMPROP_THREADS"
ALLOCATOR_ENV = "MEMPROP_ALLOCATOR"
ALLOCATORS = ("tuned", "system")
"""``MEMPROP_ALLOCATOR``: ``tuned`` (default) keeps freed memory for reuse (see
:func:`configure_allocator`); ``system`` leaves the C library's allocator as it is."""
MMAP_THRESHOLD = 32 * 2**20
"""Blocks from this size up are mapped on their own (glibc's largest dynamic threshold)."""
TRIM_THRESHOLD = 256 * 2**20
"""Free memory at the top of the heap is handed back to the system beyond this."""

MAX_THREADS = 4096
"""Most torch threads accepted (more than any machine's cores; far from an overflow)."""

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
"""Floating-point dtypes by name (the spellings of ``--dtype`` and of every config)."""


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count and return it.

    Default 1: on 2-core machines torch's default thread count measured about 10x slower than one
    thread for EP-sized work (small matrices, many steps); sweeps parallelise over processes.
    ``MEMPROP_THREADS`` overrides the default; an explicit argument overrides both.
    """
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "1")
        try:
            threads = int(raw)
        except ValueError:
            raise ConfigError(f"{THREADS_ENV} must be an integer >= 1, got {raw!r}") from None
        if not 1 <= threads <= MAX_THREADS:
            raise ConfigError(f"{THREADS_ENV} must be an integer in 1..{MAX_THREADS}, got {raw!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"threads must be an integer in 1..{MAX_THREADS}, got {threads!r}")
    torch.set_num_threads(threads)
    return torch.get_num_threads()


_allocator: str | None = None


def allocator_setting() -> str:
    """``MEMPROP_ALLOCATOR`` checked: ``tuned`` (unset) or ``system``."""
    raw = os.environ.get(ALLOCATOR_ENV, "tuned")
    if raw not in ALLOCATORS:
        raise ConfigError(f"{ALLOCATOR_ENV} must be one of {', '.join(ALLOCATORS)}, got {raw!r}")
    return raw


def allocator() -> str | None:
    """What :func:`configure_allocator` put in force in this process (None: not called)."""
    return _allocator


def configure_allocator() -> str:
    """Let glibc's malloc keep freed blocks for reuse; return what is in force.

    The engine's steps free and allocate the same medium-sized tensors (0.1-10 MB) thousands of
    times per second. With glibc's defaults the heap top is handed back to the system and
    taken again, and every reuse page-faults: on the EP until-memorised stack of the claims map
    that was 350,000-560,000 faults and 17-25 % of the CPU time (``/usr/bin/time`` on 2 training
    epochs: 5.9 s user + 1.2 s system against 5.2 s + 0.3 s tuned; ``benchmarks/allocator.py``).
    Tuned: blocks below :data:`MMAP_THRESHOLD` come from the heap and up to :data:`TRIM_THRESHOLD`
    of free heap is kept (the process holds at most that much more than it uses). Numbers are
    unchanged: only where memory comes from. Elsewhere than glibc (macOS, Windows, musl) nothing
    changes and this returns ``"system"``. Set ``MEMPROP_ALLOCATOR=system`` to opt out.
    """
    global _allocator
    if _allocator is not None:
        return _allocator
    want = allocator_setting()
    _allocator = "system"
    if want == "tuned":
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt  # glibc only
        except (OSError, AttributeError):
            return _allocator
        # M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3 (malloc.h); mallopt returns 1 on success
        if mallopt(-3, MMAP_THRESHOLD) == 1 and mallopt(-1, TRIM_THRESHOLD) == 1:
            _allocator = "tuned"
    return _allocator


def torch_device(name: str) -> torch.device:
    """The torch device ``name`` ("cpu", "cuda", "cuda:1", "mps", ...), checked to exist here."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"torch_device must be a torch device such as 'cpu', 'cuda', 'cuda:0' or 'mps', "
                          f"got {name!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"torch_device {name!r}: CUDA is not available on this machine (torch "
                              f"{torch.__version__}); use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"torch_device {name!r}: this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s), numbered from 0")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError(f"torch_device {name!r}: MPS is not available on this machine; use 'cpu'")
    elif dev.type != "cpu":
        raise ConfigError(f"torch_device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {name!r}")
    return dev


def synchronize(device: torch.device | str) -> None:
    """Wait until ``device`` has finished the work queued on it (a timer's fence: CUDA and MPS run
    asynchronously; on the CPU nothing is queued)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def torch_dtype(name: str) -> torch.dtype:
    """The dtype ``name`` ("float32" or "float64")."""
    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(map(repr, DTYPES))}; got {name!r}")
    return DTYPES[name]


def check_runtime(torch_device_name: object, dtype: object, *, allow_default_dtype: bool = True) -> None:
    """Validate a config's ``torch_device`` and ``dtype`` fields (dtype None: the study's own)."""
    if not isinstance(torch_device_name, str):
        raise ConfigError(f"torch_device must be a string such as 'cpu' or 'cuda', got {torch_device_name!r}")
    torch_device(torch_device_name)
    if dtype is None and allow_default_dtype:
        return
    if not isinstance(dtype, str):
        raise ConfigError(f"dtype must be one of {', '.join(map(repr, DTYPES))}, got {dtype!r}")
    torch_dtype(dtype)
