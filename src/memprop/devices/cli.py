"""Command-line pieces for devices: ``memprop device fit`` and the studies' ``--device`` options.

``memprop device fit FILE.csv --model exponential`` reads measured sweeps, fits the model,
writes a device TOML (``--out``, default FILE.toml) and a plot of data against fit (``--plot``,
default FILE_fit.png), and prints a JSON summary. Wiring (in ``memprop.cli.build_parser``)::

    from .devices import cli as device_cli
    device_cli.add_device_parser(sub)   # adds `memprop device fit ...`

The training commands add ``--device ideal|PRESET|FILE.toml`` and the crossbar options with
:func:`add_device_options` and turn them into a config with :func:`crossbar_config`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TITLE = "fit a device model to measured conductance-vs-pulse sweeps; writes a device TOML and a plot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``memprop device fit``."""
    from .fit import FIT_MODELS

    parser.add_argument("file", help="CSV: an optional 'pulse' column and one column per sweep, in "
                        "siemens, named ltp*/pot*/up* (potentiation) or ltd*/dep*/down* (depression)")
    parser.add_argument("--model", choices=list(FIT_MODELS), default="exponential",
                        help="device model to fit (default exponential)")
    parser.add_argument("--out", default=None, help="device TOML to write (default: FILE with .toml)")
    parser.add_argument("--plot", default=None, help="plot to write (default: FILE with _fit.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")
    parser.add_argument("--energy-per-pulse", type=float, default=None,
                        help="joules per pulse of the device (default: an estimate, V^2 G t at 2 V, 10 ns)")


def fit_command(args: argparse.Namespace) -> int:
    """Run ``memprop device fit``; errors surface as MempropError (exit status 2 in main)."""
    from .fit import fit_device, plot_fit, read_sweeps
    from .toml import save_device

    src = Path(args.file)
    sweeps = read_sweeps(src)
    result = fit_device(sweeps, args.model, energy_per_pulse=args.energy_per_pulse)
    out = Path(args.out) if args.out else src.with_suffix(".toml")
    comment = (f"fitted by `memprop device fit {src.name} --model {args.model}`: "
               f"{result.n_points} points, rmse {result.rmse:.4g} S")
    save_device(result.device, out, comment=comment)
    summary = {**result.summary(), "toml": str(out)}
    if not args.no_plot:
        plot = Path(args.plot) if args.plot else src.with_name(src.stem + "_fit.png")
        summary["plot"] = str(plot_fit(sweeps, result, plot))
    print(json.dumps(summary, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def add_device_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``device`` (with its ``fit`` subcommand) to the top-level subparsers."""
    d = subparsers.add_parser("device", help="memristive device tools")
    dsub = d.add_subparsers(dest="device_command", required=True)
    f = dsub.add_parser("fit", help=TITLE, description=TITLE)
    add_arguments(f)
    f.set_defaults(func=fit_command)
    return d


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and the crossbar options of a training command (default: no devices)."""
    from ..crossbar import PAIRINGS, SCHEMES, SIGNED
    from .presets import PRESETS

    parser.add_argument("--device", default=None,
                        help=f"train in situ on devices: ideal, a preset ({', '.join(PRESETS)}) or a "
                             f"device .toml file (default: no devices, the exact weights)")
    parser.add_argument("--w-max", type=float, default=1.0,
                        help="weight mapped to the full conductance range (default 1.0)")
    parser.add_argument("--signed", choices=SIGNED, default="differential",
                        help="signed weights: differential pair or one device against a reference")
    parser.add_argument("--pairing", choices=PAIRINGS, default="one",
                        help="symmetric weights: one device (pair) per neuron pair, or two (default one)")
    parser.add_argument("--scheme", choices=SCHEMES, default="stochastic",
                        help="update -> pulses: deterministic count, stochastic rounding or amplitude")


def crossbar_config(args: argparse.Namespace):
    """The CrossbarConfig the options of :func:`add_device_options` ask for (None: no devices)."""
    if getattr(args, "device", None) is None:
        return None
    from ..crossbar import CrossbarConfig
    from .presets import resolve_device

    return CrossbarConfig(device=resolve_device(args.device), w_max=args.w_max, signed=args.signed,
                          pairing=args.pairing, scheme=args.scheme)
