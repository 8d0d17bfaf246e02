"""Exceptions raised by memprop.

``MempropError`` is the root; ``ConfigError`` (also a ``ValueError``) reports a bad argument or
setting, naming it, the value received and what is allowed; ``ConvergenceError`` reports a
relaxation that did not reach its tolerance or produced NaN/Inf; ``DataError`` a bad input file;
``OutputError`` a result that could not be written; ``DivergenceError`` a training run that diverged.
"""

from __future__ import annotations


class MempropError(Exception):
    """Base class of every error memprop raises on purpose."""


class ConfigError(MempropError, ValueError):
    """A bad argument, setting or input: the message names it, its value and what is allowed."""


class ConvergenceError(MempropError, RuntimeError):
    """A relaxation did not converge (or produced NaN/Inf) and the caller asked to be told."""

    def __init__(self, message: str, *, residual: float | None = None, steps: int | None = None):
        super().__init__(message)
        self.residual = residual
        self.steps = steps


class DataError(MempropError, ValueError):
    """A data file is missing, truncated or malformed: the message names the file and problem."""


class OutputError(MempropError, OSError):
    """A result could not be written (unwritable path, full disk): the message names the path."""


class DivergenceError(MempropError, RuntimeError):
    """Training diverged (NaN/Inf weights or gradients): the message names what and suggests a fix."""
