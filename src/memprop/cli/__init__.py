"""The ``memprop`` command line: parse, build a config, call the library, write results.

This package owns every argparse parser and is the only caller of plotting. :func:`main` is the
one error boundary: an error a user can cause (a bad option or file, a refused write) reaches
them as one line, ``memprop: error: ...``, with exit status 2; a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from .._runtime import configure_allocator, configure_threads
from ..errors import MempropError
from . import device, gradcheck, reproduce, sweep, train
from .options import command_line, thread_count


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (and exit status 2), like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="memprop", description="memristor-based recurrent networks trained in situ by EP and RBP")
    p.add_argument("--version", action="version", version=f"memprop {__version__}")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="torch threads (default 1, or $MEMPROP_THREADS)")
    sub = p.add_subparsers(dest="command", required=True)
    gradcheck.add_parser(sub)
    reproduce.add_parser(sub)
    train.add_parser(sub)
    sweep.add_parser(sub)
    device.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memprop`` console script (and ``python -m memprop``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = command_line(argv)
    try:
        check_environment()
        args.threads_used = configure_threads(args.threads)
        args.allocator = configure_allocator()
        return args.func(args)
    except MempropError as e:
        print(f"memprop: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except MemoryError:
        print("memprop: error: out of memory; choose smaller sizes (network, batch, sweep) or a machine "
              "with more memory", file=sys.stderr)
        return 2


def one_line(message: str) -> str:
    """``message`` on one line (a wrapped library message, e.g. torch's, joined with spaces)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def check_environment() -> None:
    """The environment variables memprop reads, parsed and checked like options."""
    from pathlib import Path

    from .._runtime import allocator_setting
    from ..errors import ConfigError
    from ..experiments.cache import CACHE_ENV
    from ..limits import DEFAULTS, limit, memory_check_enabled

    allocator_setting()
    for name in DEFAULTS:
        limit(name)
    memory_check_enabled()
    cache = os.environ.get(CACHE_ENV)
    if cache:
        p = Path(cache)
        if p.exists() and not p.is_dir():
            raise ConfigError(f"{CACHE_ENV}={cache}: is a file, not a folder; point it at a folder for the "
                              f"cache or unset it")
        if any(q.exists() and not q.is_dir() for q in p.parents):
            raise ConfigError(f"{CACHE_ENV}={cache}: lies under a file; point it at a folder or unset it")


__all__ = ["build_parser", "main"]
