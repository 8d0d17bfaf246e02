"""``memprop sweep run|status|export|plot``: parse, call :mod:`memprop.sweeps`, print.

Importing this module does not import Dask.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .options import positive_int
from .outputs import output_file

TITLE = "parameter sweeps on Dask with a resumable SQLite results store"


def _where(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)  # 4 -> int, 0.1 -> float, true -> bool
    except json.JSONDecodeError:
        value = raw  # ep -> "ep"
    return key, value


def cmd_run(args: argparse.Namespace) -> int:
    """``memprop sweep run SPEC --store DB``: run what is not done yet; 0 when all is done."""
    from ..progress import Progress
    from ..sweeps.inspect import last_line
    from ..sweeps.runner import run_sweep
    from ..sweeps.spec import load_spec
    from ..sweeps.store import ResultStore

    spec = load_spec(args.spec)
    try:
        summary = run_sweep(spec, args.store, scheduler=args.scheduler, workers=args.workers,
                            progress=Progress(enabled=not args.quiet),
                            retry_failed=not args.skip_failed, max_tasks=args.max_tasks)
    except KeyboardInterrupt:
        print(f"\ninterrupted; the rows written so far are in {args.store}: rerun the same "
              "command to resume", file=sys.stderr)
        return 130
    print(f"{spec.name or spec.study}: {summary.total} tasks: {summary.done} done, "
          f"{summary.failed} failed, {summary.pending} pending ({summary.skipped} kept from "
          f"earlier runs, {summary.submitted} run now); {summary.seconds:.1f} s; "
          f"store {args.store}")
    if summary.failed:
        keys = {t.key for t in spec.tasks()}
        with ResultStore(args.store, readonly=True) as store:
            failed = [r for r in store.rows(status="failed") if r.key in keys]
        for r in failed[:5]:
            print(f"  failed: seed {r.seed} {json.dumps(r.settings)}: {last_line(r.traceback)}",
                  file=sys.stderr)
        if len(failed) > 5:
            print(f"  ... and {len(failed) - 5} more (memprop sweep status {args.store})",
                  file=sys.stderr)
    if summary.lost:
        print(f"{summary.lost} tasks never reported (scheduler lost?); rerun to resume",
              file=sys.stderr)
    return 0 if summary.complete else 1


def cmd_status(args: argparse.Namespace) -> int:
    """``memprop sweep status STORE [--spec SPEC]``: done, failed, pending."""
    from ..sweeps.inspect import last_line, status
    from ..sweeps.spec import load_spec

    spec = load_spec(args.spec, check=False) if args.spec else None
    st = status(args.store, spec)
    if args.json:
        print(json.dumps(st.to_dict(), indent=2))
        return 0
    scope = f" (spec {', '.join(st.specs)})" if st.specs else ""
    pending = f", {st.pending} pending" if st.pending is not None else ""
    total = f"{st.total} tasks: " if st.total is not None else ""
    print(f"{args.store}{scope}: {total}{st.done} done, {st.failed} failed{pending}")
    for r in st.failures[:20]:
        print(f"  failed: seed {r.seed} {json.dumps(r.settings)}: {last_line(r.traceback)}")
    if len(st.failures) > 20:
        print(f"  ... and {len(st.failures) - 20} more (memprop sweep export {args.store} --json)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``memprop sweep export STORE --csv|--json [--out FILE]``."""
    from ..sweeps.inspect import export_csv, export_json

    export = export_csv if args.csv else export_json
    if args.out is not None:
        output_file(args.out, "--out", force=args.force, inputs=[args.store])
    text = export(args.store, args.out)
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """``memprop sweep plot STORE --x K --y accuracy [--hue rule] [--facet p] [--out FILE]``."""
    from ..plotting import check_format, save
    from ..plotting.sweeps import plot_sweep

    out = args.out or f"{args.y}_vs_{args.x}.png".replace("/", "_")
    check_format(out)
    output_file(out, "--out", force=args.force, inputs=[args.store])
    save(plot_sweep(args.store, args.x, args.y, hue=args.hue, facet=args.facet, where=dict(args.where),
                    band=args.band), out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def add_parser(top) -> None:
    """Add ``sweep`` with its ``run``, ``status``, ``export`` and ``plot`` subcommands."""
    parser = top.add_parser("sweep", help=TITLE, description=TITLE)
    sub = parser.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run (or resume) a sweep: every task not done yet")
    r.add_argument("spec", help="sweep specification (TOML)")
    r.add_argument("--store", required=True, help="SQLite results store (created if missing)")
    r.add_argument("--scheduler", default="local",
                   help="'local' (a LocalCluster on 127.0.0.1, default) or tcp://HOST:PORT")
    r.add_argument("--workers", type=positive_int, default=None,
                   help="LocalCluster worker processes (default: CPU count)")
    r.add_argument("--skip-failed", action="store_true",
                   help="do not rerun tasks recorded as failed (default: rerun them)")
    r.add_argument("--max-tasks", type=positive_int, default=None, metavar="N",
                   help="refuse a spec of more tasks (default $MEMPROP_MAX_TASKS, else 1,000,000)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("status", help="done, failed and pending tasks of a store")
    s.add_argument("store")
    s.add_argument("--spec", default=None,
                   help="count against this spec (default: the specs run against the store)")
    s.add_argument("--json", action="store_true", help="JSON output")
    s.set_defaults(func=cmd_status)

    e = sub.add_parser("export", help="the store as CSV or JSON (settings and metrics as columns)")
    e.add_argument("store")
    fmt = e.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", action="store_true")
    fmt.add_argument("--json", action="store_true")
    e.add_argument("--out", default=None, help="output file (default: stdout)")
    e.add_argument("--force", action="store_true", help="replace --out if it exists")
    e.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="lines of y against x with a band over seeds")
    p.add_argument("store")
    p.add_argument("--x", required=True, help="setting on the x axis")
    p.add_argument("--y", required=True, help="metric on the y axis")
    p.add_argument("--hue", default=None, help="one line per value of this column")
    p.add_argument("--facet", default=None, help="one panel per value of this column")
    p.add_argument("--where", type=_where, action="append", default=[], metavar="KEY=VALUE",
                   help="keep rows with this value (repeatable)")
    p.add_argument("--band", choices=("sd", "range", "none"), default="sd",
                   help="band over seeds: mean +- sd (default), min-max, or none")
    p.add_argument("--out", default=None, help="image file (default Y_vs_X.png)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_plot)
