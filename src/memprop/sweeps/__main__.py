"""``python -m memprop.sweeps COMMAND ...``: the ``memprop sweep`` commands, stand-alone."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
