"""Limits against hostile or mistaken sizes, checked before anything is allocated or read.

Each limit has a default meant to be far above any real use of memprop on one machine and an
environment variable that raises it for a user who needs more:

==========================  ==========================  ==================================
limit                       default                     override
==========================  ==========================  ==================================
tasks in one sweep          1,000,000                   ``--max-tasks`` or ``MEMPROP_MAX_TASKS``
bytes of one input file     1 GiB (decompressed)        ``MEMPROP_MAX_FILE_BYTES``
units of a pattern          65,536 (a 256 x 256 image)  ``MEMPROP_MAX_UNITS``
memory of one study         the memory available now    ``MEMPROP_MEMORY_CHECK=off``
==========================  ==========================  ==================================

The memory check compares an estimate of a study's largest allocations (computed from its
configuration, before allocating) with the memory the operating system reports as available;
it only guards the CPU (a GPU's own allocator reports its limits clearly).
"""

from __future__ import annotations

import os

from .errors import ConfigError

TASKS_ENV = "MEMPROP_MAX_TASKS"
FILE_BYTES_ENV = "MEMPROP_MAX_FILE_BYTES"
UNITS_ENV = "MEMPROP_MAX_UNITS"
MEMORY_ENV = "MEMPROP_MEMORY_CHECK"

DEFAULTS = {TASKS_ENV: 1_000_000, FILE_BYTES_ENV: 1 << 30, UNITS_ENV: 65_536}


def limit(env: str) -> int:
    """The limit named by environment variable ``env``: its value, else the default."""
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return DEFAULTS[env]
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{env} must be an integer >= 1, got {raw!r}")
    return value


def check_count(what: str, count: int, env: str, *, hint: str = "") -> None:
    """Refuse ``count`` above the limit of ``env``, naming ``what``."""
    cap = limit(env)
    if count > cap:
        raise ConfigError(f"{what}: {count:,} is more than the limit {cap:,}{hint}; set {env} to raise it")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (None where the system does not say)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


MEMORY_VALUES = {"on": True, "1": True, "yes": True, "off": False, "0": False, "no": False}


def memory_check_enabled() -> bool:
    """Whether ``MEMPROP_MEMORY_CHECK`` leaves the memory check on (default on); a value other than
    on/off (1/0, yes/no) is a ConfigError."""
    raw = os.environ.get(MEMORY_ENV, "")
    if not raw:
        return True
    if raw.lower() not in MEMORY_VALUES:
        raise ConfigError(f"{MEMORY_ENV} must be on or off, got {raw!r}")
    return MEMORY_VALUES[raw.lower()]


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.3g} GiB"


def check_memory(what: str, nbytes: float, *, device: str = "cpu") -> None:
    """Refuse a study whose estimated memory ``nbytes`` exceeds what is available (CPU only).

    Raises:
        ConfigError: naming ``what`` (the setting that drives the size), the estimate and the
            memory available.
    """
    if str(device).split(":")[0] != "cpu" or not memory_check_enabled():
        return
    free = available_memory()
    if free is not None and nbytes > free:
        raise ConfigError(f"{what}: needs about {_gib(nbytes)} of memory, but {_gib(free)} is available; "
                          f"choose a smaller size (or set {MEMORY_ENV}=off to try anyway)")


__all__ = ["DEFAULTS", "available_memory", "check_count", "check_memory", "limit", "memory_check_enabled"]
