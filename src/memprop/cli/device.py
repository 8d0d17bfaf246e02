"""``memprop device fit|import|export|list|show``: memristive device tools.

- ``fit FILE.csv --model M``: fit a device model to measured conductance-vs-pulse sweeps; writes
  a device TOML (``--out``, default FILE.toml) and a plot of data against fit;
- ``import FILE.{json,toml}``: a device described in IBM aihwkit's terms, as a memprop device TOML;
- ``export DEVICE``: a memprop device (preset, ``ideal`` or a TOML file) in aihwkit's terms (JSON);
- ``list``: the presets with their sources; ``show NAME``: a preset as a device TOML that
  ``--device`` accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .outputs import output_file

FIT_TITLE = "fit a device model to measured conductance-vs-pulse sweeps; writes a device TOML and a plot"


def _fit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``memprop device fit``."""
    from ..devices.fit import FIT_MODELS

    parser.add_argument("file", help="CSV: an optional 'pulse' column and one column per sweep, in "
                        "siemens, named ltp*/pot*/up* (potentiation) or ltd*/dep*/down* (depression)")
    parser.add_argument("--model", choices=list(FIT_MODELS), default="exponential",
                        help="device model to fit (default exponential)")
    parser.add_argument("--out", default=None, help="device TOML to write (default: FILE with .toml)")
    parser.add_argument("--plot", default=None, help="plot to write (default: FILE with _fit.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")
    parser.add_argument("--force", action="store_true", help="replace --out and --plot if they exist")
    parser.add_argument("--energy-per-pulse", type=float, default=None,
                        help="joules per pulse of the device (default: an estimate, V^2 G t at 2 V, 10 ns)")


def fit_command(args: argparse.Namespace) -> int:
    """Run ``memprop device fit``; errors surface as MempropError (exit status 2 in main)."""
    from ..devices.fit import fit_device, read_sweeps
    from ..devices.toml import save_device
    from ..plotting import check_format, save
    from ..plotting.devices import plot_fit

    src = Path(args.file)
    out = Path(args.out) if args.out else src.with_suffix(".toml")
    plot = None if args.no_plot else (Path(args.plot) if args.plot else src.with_name(src.stem + "_fit.png"))
    output_file(out, "--out", force=args.force, inputs=[src])
    if plot is not None:
        check_format(plot)
        output_file(plot, "--plot", force=args.force, inputs=[src, out])
    sweeps = read_sweeps(src)
    result = fit_device(sweeps, args.model, energy_per_pulse=args.energy_per_pulse)
    comment = (f"fitted by `memprop device fit {src.name} --model {args.model}`: "
               f"{result.n_points} points, rmse {result.rmse:.4g} S")
    save_device(result.device, out, comment=comment)
    summary = {**result.summary(), "toml": str(out)}
    if plot is not None:
        summary["plot"] = str(save(plot_fit(sweeps, result), plot))
    print(json.dumps(summary, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def import_command(args: argparse.Namespace) -> int:
    """``memprop device import FILE``: an aihwkit-style device as a memprop device TOML."""
    from ..devices import device_to_toml, import_device
    from ..devices.toml import save_device

    src = Path(args.file)
    device = import_device(src, g_min=args.g_min, g_max=args.g_max)
    if args.out is None:
        sys.stdout.write(device_to_toml(device))
        return 0
    out = output_file(args.out, "--out", force=args.force, inputs=[src])
    save_device(device, out, comment=f"imported from {src.name} (aihwkit terms) by `memprop device import`")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def export_command(args: argparse.Namespace) -> int:
    """``memprop device export DEVICE``: the device in aihwkit's terms, as JSON."""
    from ..devices import export_device

    print(json.dumps(export_device(args.device, w_max=args.w_max), indent=2))
    return 0


def list_command(args: argparse.Namespace) -> int:
    """``memprop device list``: the presets, their main parameters and sources."""
    from ..devices import preset_table

    rows = preset_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<14} {r['model']:<12} {r['n_states']:>5} states  "
              f"G {r['g_min']:.3g}-{r['g_max']:.3g} S  NL {r['nl_up']}/{r['nl_down']}  c2c {r['c2c']:.3g}")
        print(f"{'':<14} source: {r['source']}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    """``memprop device show NAME``: a preset as a device TOML that ``--device`` accepts."""
    from ..devices import preset_toml

    sys.stdout.write(preset_toml(args.name))
    return 0


def add_parser(sub) -> None:
    """Add ``device`` (fit, import, export, list, show) to the top-level subparsers."""
    d = sub.add_parser("device", help="memristive device tools", description=__doc__.splitlines()[0])
    dsub = d.add_subparsers(dest="device_command", required=True)
    f = dsub.add_parser("fit", help=FIT_TITLE, description=FIT_TITLE)
    _fit_arguments(f)
    f.set_defaults(func=fit_command)
    i = dsub.add_parser("import", help="an aihwkit device (JSON/TOML with \"class\") as a memprop device TOML")
    i.add_argument("file", help="JSON or TOML file: {\"class\": \"SoftBoundsDevice\", \"dw_min\": ..., ...}")
    i.add_argument("--out", default=None, help="device TOML to write (default: print it)")
    i.add_argument("--force", action="store_true", help="replace --out if it exists")
    i.add_argument("--g-min", type=float, default=1e-6, help="conductance of w_min, in siemens (default 1e-6)")
    i.add_argument("--g-max", type=float, default=1e-5, help="conductance of w_max, in siemens (default 1e-5)")
    i.set_defaults(func=import_command)
    e = dsub.add_parser("export", help="a memprop device in aihwkit's terms (JSON)")
    e.add_argument("device", help="ideal, a preset name or a device .toml file")
    e.add_argument("--w-max", type=float, default=1.0, help="aihwkit weight range [-w_max, w_max] (default 1)")
    e.set_defaults(func=export_command)
    ls = dsub.add_parser("list", help="the device presets and their sources")
    ls.add_argument("--json", action="store_true", help="JSON output")
    ls.set_defaults(func=list_command)
    sh = dsub.add_parser("show", help="a preset as a device TOML that --device accepts")
    sh.add_argument("name", help="preset name (see memprop device list)")
    sh.set_defaults(func=show_command)
