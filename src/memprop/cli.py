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


# Studies of ``memprop reproduce``, in report order: name -> module. Each module provides
# ``TITLE``, ``add_arguments(parser)`` (its own options) and
# ``reproduce(args, out: Path, progress: Progress) -> report.Section``.
STUDIES: dict[str, str] = {
    "reconstruction": "memprop.experiments.reconstruction",
    "classification": "memprop.experiments.classification",
    "devices": "memprop.experiments.devices",
}


# Commands of ``memprop train``: name -> module providing ``TITLE``,
# ``add_train_arguments(parser)`` and ``train(args) -> int``.
TRAINERS: dict[str, str] = {
    "classify": "memprop.experiments.classification",
}


def _available_studies(table: dict[str, str] | None = None) -> dict[str, object]:
    import importlib

    found = {}
    for name, module in (STUDIES if table is None else table).items():
        try:
            found[name] = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return found


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .experiments.io import Progress
    from .experiments.report import write_report

    studies = _available_studies()
    names = [args.study] if args.study else list(studies)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(enabled=not args.quiet)
    sections = []
    for name in names:
        sub_args = args if args.study else _default_args(name, args)
        sections.append(studies[name].reproduce(sub_args, out, progress))
    header = (
        f"memprop {__version__}; run as `memprop reproduce {' '.join(sys.argv[2:])}`".rstrip()
        + f"; torch threads: {args.threads_used}."
    )
    path = write_report(out, sections, header=header)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _default_args(name: str, parent: argparse.Namespace) -> argparse.Namespace:
    """The options of study ``name`` at their defaults, with the shared ones from ``parent``."""
    p = argparse.ArgumentParser()
    _shared_reproduce_args(p)
    _available_studies()[name].add_arguments(p)
    args = p.parse_args([])
    for key in ("quick", "out", "seed", "quiet", "threads_used"):
        setattr(args, key, getattr(parent, key))
    return args


def _shared_reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sample sizes (about a minute)")
    p.add_argument("--out", default="results", help="output directory (default ./results)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


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

    r = sub.add_parser("reproduce", help="reproduce the paper's studies; writes DIR/report.md")
    _shared_reproduce_args(r)
    r.set_defaults(func=_cmd_reproduce, study=None)
    rsub = r.add_subparsers(dest="study")
    for name, module in _available_studies().items():
        sp = rsub.add_parser(name, help=module.TITLE)
        _shared_reproduce_args(sp)
        module.add_arguments(sp)
        sp.set_defaults(func=_cmd_reproduce, study=name)

    from .sweeps import cli as sweep_cli

    sw = sub.add_parser("sweep", help=sweep_cli.TITLE, description=sweep_cli.TITLE)
    sweep_cli.add_arguments(sw)

    from .devices import cli as device_cli

    device_cli.add_device_parser(sub)

    trainers = _available_studies(TRAINERS)
    if trainers:
        t = sub.add_parser("train", help="general training runs")
        tsub = t.add_subparsers(dest="trainer", required=True)
        for name, module in trainers.items():
            sp = tsub.add_parser(name, help=module.TITLE)
            module.add_train_arguments(sp)
            sp.set_defaults(func=module.train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memprop`` console script."""
    args = build_parser().parse_args(argv)
    args.threads_used = configure_threads(args.threads)
    try:
        return args.func(args)
    except MempropError as e:
        print(f"memprop: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
