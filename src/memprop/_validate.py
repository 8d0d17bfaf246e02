"""Boundary checks shared by every public entry point.

Each check raises :class:`memprop.errors.ConfigError` whose message names the argument, the value
received and what is allowed, so that a user can fix the call without reading the source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .errors import ConfigError

SEED_MAX = 2**63 - 1
"""Largest seed: torch generators take 64-bit seeds."""


def positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Check that a scalar setting is a finite positive number (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not ok:
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    return value


def positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    """Check that an integer setting is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def in_range(name: str, value: float, lo: float, hi: float, *, closed: bool = True) -> float:
    """Check ``lo <= value <= hi`` (or the open interval with ``closed=False``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    ok = lo <= value <= hi if closed else lo < value < hi
    if not ok:
        brackets = "[{}, {}]" if closed else "({}, {})"
        raise ConfigError(f"{name} must lie in {brackets.format(lo, hi)}, got {value!r}")
    return value


def flag(name: str, value: bool) -> bool:
    """Check that a switch is exactly True or False (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def choice(name: str, value: str, allowed: Sequence[str]) -> str:
    """Check that a string option is one of ``allowed`` (listed in the error)."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def all_finite(value: torch.Tensor) -> bool:
    """Whether every entry of ``value`` is finite, in one reduction: a sum is finite only if
    every entry is (NaN and Inf propagate through it), so the elementwise test (several passes
    over the data) runs only when the sum is not finite, which an overflowing sum of finite
    entries also makes. Integer and bool tensors are finite."""
    if not (value.is_floating_point() or value.is_complex()) or value.numel() == 0:
        return True
    if bool(torch.isfinite(value.sum())):
        return True
    return bool(torch.isfinite(value).all())


def tensor(
    name: str,
    value: object,
    *,
    ndim: int | tuple[int, ...] | None = None,
    last: int | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check a tensor argument: its type, its number of dimensions, its last size, no NaN/Inf."""
    if not isinstance(value, torch.Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if value.ndim not in allowed:
            raise ConfigError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {tuple(value.shape)}"
            )
    if last is not None and (value.ndim == 0 or value.shape[-1] != last):
        raise ConfigError(
            f"{name} must have last dimension {last}, got shape {tuple(value.shape)}"
        )
    if finite and not all_finite(value):
        bad = int((~torch.isfinite(value)).sum())
        raise ConfigError(f"{name} contains {bad} NaN/Inf entries; all entries must be finite")
    return value


def nonzero_beta(beta: float) -> float:
    """EP's nudging strength: a finite non-zero number (the estimator divides by it)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
        raise ConfigError(f"beta must be a finite non-zero number, got {beta!r}")
    if beta == 0:
        raise ConfigError("beta must be non-zero (EP divides by beta), got 0")
    return float(beta)
