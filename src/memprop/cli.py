"""The ``memprop`` command line: parse, build a config, call the library, write results.

Thin by design: every command is one function of the library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from ._runtime import configure_threads
from .errors import MempropError


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    from .experiments.gradcheck import MODELS, gradcheck

    models = [args.model] if args.model else list(MODELS)
    results = {m: gradcheck(m, n=args.n, seed=args.seed) for m in models}
    out = results[models[0]] if args.model else results
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memprop", description=__doc__)
    p.add_argument("--version", action="version", version=f"memprop {__version__}")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default 1, or $MEMPROP_THREADS)")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gradcheck", help="compare RBP and EP with the exact gradient (float64)")
    g.add_argument("--model", choices=["additive", "energy", "layered"], default=None,
                   help="one model (default: all three, keyed by model name)")
    g.add_argument("--n", type=int, default=30, help="network size (default 30)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--json", action="store_true", help="one-line JSON (default: indented JSON)")
    g.set_defaults(func=_cmd_gradcheck)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memprop`` console script."""
    args = build_parser().parse_args(argv)
    configure_threads(args.threads)
    try:
        return args.func(args)
    except MempropError as e:
        print(f"memprop: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
