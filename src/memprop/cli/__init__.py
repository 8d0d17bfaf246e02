"""The ``memprop`` command line: parse, build a config, call the library, write results.

This package owns every argparse parser and is the only caller of plotting. :func:`main` is the
one error boundary: an error a user can cause (a bad option or file, a refused write) reaches
them as one line, ``memprop: error: ...``, with exit status 2; a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .._runtime import configure_threads
from ..errors import MempropError
from . import device, gradcheck, reproduce, sweep, train
from .options import command_line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memprop", description="memristor-based recurrent networks trained in situ by EP and RBP")
    p.add_argument("--version", action="version", version=f"memprop {__version__}")
    p.add_argument("--threads", type=int, default=None,
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
        args.threads_used = configure_threads(args.threads)
        return args.func(args)
    except MempropError as e:
        print(f"memprop: error: {e}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
