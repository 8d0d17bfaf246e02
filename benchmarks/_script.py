"""What the benchmark scripts share: the entry point (memprop's own errors, such as a torch device
this machine lacks or an impossible setting, end the script with one line on stderr and exit
status 2, as the ``memprop`` command does, instead of a traceback) and the EP scripts' options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from memprop.cli import one_line
from memprop.errors import MempropError


def run_main(main: Callable[[], int | None]) -> None:
    """Run a script's ``main()`` and exit with its status (0 when it returns None)."""
    try:
        code = main()
    except MempropError as e:
        print(f"{Path(sys.argv[0]).name}: error: {one_line(str(e))}", file=sys.stderr)
        code = 2
    raise SystemExit(code or 0)


def add_ep_options(parser: argparse.ArgumentParser, *, batch: tuple[int, ...],
                   device_help: str = "torch device (default cpu)") -> None:
    """The options of the scripts that time EP training on ``ep_throughput.py``'s setup."""
    parser.add_argument("--batch", type=int, nargs="+", default=list(batch),
                        help=f"minibatch size(s) (default {' '.join(map(str, batch))})")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--samples", type=int, default=10_000, help="training samples per epoch (default 10000)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1, or $MEMPROP_THREADS)")
    parser.add_argument("--torch-device", default="cpu", help=device_help)
