"""The entry point every benchmark script shares: memprop's own errors (a torch device this machine
lacks, an impossible setting) end the script with one line on stderr and exit status 2, as the
``memprop`` command does, instead of a traceback."""

from __future__ import annotations

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
