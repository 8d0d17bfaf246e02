"""``memprop reproduce [STUDY] [--quick] [--out DIR] [--seed S] ...``: the paper's studies.

Each study of the registry that reports on the paper has an adapter here: its own options, the
config they make, and the files its result becomes (JSON and CSV per figure, the figures); the
study's own ``run(config)`` computes everything. Without a study name, the main job runs: every
study of the paper's own results (the registry's ``default`` ones: reconstruction and
classification) with its default options, and ``DIR/report.md`` sets each claim of the paper beside
what we measured. Studies too long for the main job (the device study) run by name.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .._parallel import default_workers
from ..experiments.registry import STUDIES
from ..io import write_csv, write_json
from ..progress import Progress
from ..provenance import now, provenance
from .options import (
    MNIST_ENV,
    add_device_options,
    add_runtime_options,
    crossbar_config,
    mnist_dir,
    seed,
    worker_count,
)
from .outputs import make_dir, output_dir


@dataclass(frozen=True, slots=True)
class Adapter:
    """How the command line drives one study."""

    add_options: Callable[[argparse.ArgumentParser], None]
    config: Callable[[argparse.Namespace], Any]
    write: Callable[[Path, dict[str, Any], dict[str, Any]], tuple[str, ...]]
    """``write(out, result, provenance)``: the result's files (each JSON with the provenance record)
    into a directory; returns the figure file names."""


def _figure(out: Path, name: str, plot, result) -> tuple[str, ...]:
    """Draw ``plot(result)`` into ``out/name.png`` (nothing, with a note, without matplotlib)."""
    try:
        from ..plotting import save
    except ImportError as e:  # pragma: no cover - matplotlib missing
        print(f"memprop: {name}.png not drawn ({e})", file=sys.stderr)
        return ()
    save(plot(result), out / f"{name}.png")
    return (f"{name}.png",)


# ------------------------------------------------------------------------------ reconstruction
def _reconstruction_options(p: argparse.ArgumentParser) -> None:
    from ..experiments.reconstruction.config import PRESENTATIONS, PROTOCOLS, TRAINING_INPUTS

    p.add_argument("--patterns", default=None, metavar="FILE",
                   help="pattern set (.txt/.npy/.npz/.png or a directory of .png; default: the 16 letters)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="initial",
                   help="test clamping: corrupted pattern as v(0) with I = 0 (initial, default) or as "
                        "the constant input I from a random state (input)")
    p.add_argument("--training-input", choices=TRAINING_INPUTS, default="clean",
                   help="training input: the clean pattern (the paper) or a corrupted copy")
    p.add_argument("--training-p", type=float, default=0.1,
                   help="flip probability of corrupted training inputs (default 0.1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 300, the paper's)")
    p.add_argument("--presentation", choices=PRESENTATIONS, default="once",
                   help="each pattern once per epoch (default), or repeatedly until memorised (the paper's "
                        "words; at most --max-presentations times per epoch)")
    p.add_argument("--max-presentations", type=int, default=None,
                   help="cap of --presentation until-memorised per pattern and epoch (default 5)")
    p.add_argument("--eta-rbp", type=float, default=None,
                   help="RBP learning rate of variant 'rbp' (default 0.02, with --rbp-presentation until-memorised; the paper's 0.01 is 'rbp_paper')")
    p.add_argument("--rbp-rate-exponent", type=float, default=None,
                   help="variant 'rbp' trains at eta_rbp * (100 / N) ** this (default: the development rule's choice)")
    p.add_argument("--rbp-presentation", choices=PRESENTATIONS, default=None,
                   help="presentation of variant 'rbp' (default: the study's documented change)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds at full connectivity (default 1)")
    add_device_options(p)


def _reconstruction_config(args: argparse.Namespace):
    from ..experiments.reconstruction import (
        RecallConfig,
        ReconstructionConfig,
        TrainConfig,
        quick_config,
    )

    training = TrainConfig(training_input=args.training_input, training_p=args.training_p,
                           presentation=args.presentation,
                           **({"epochs": args.epochs} if args.epochs is not None else {}),
                           **({"max_presentations": args.max_presentations}
                              if args.max_presentations is not None else {}))
    kw: dict[str, Any] = dict(seed=args.seed, training=training, recall=RecallConfig(protocol=args.protocol),
                              device=crossbar_config(args), torch_device=args.torch_device, dtype=args.dtype)
    if args.patterns is not None:
        kw["patterns"] = str(args.patterns)
    if args.eta_rbp is not None:
        kw["eta_rbp"] = args.eta_rbp
    if args.rbp_rate_exponent is not None:
        kw["rbp_rate_exponent"] = args.rbp_rate_exponent
    if args.rbp_presentation is not None:
        kw["rbp_presentation"] = args.rbp_presentation
    if args.seeds is not None:
        kw["seeds"] = args.seeds
    return quick_config(**kw) if args.quick else ReconstructionConfig(**kw)


def _reconstruction_write(out: Path, results: dict[str, Any], prov: dict[str, Any]) -> tuple[str, ...]:
    from ..experiments.reconstruction import CSV_ROWS
    from ..plotting import reconstruction as plots

    figures: tuple[str, ...] = ()
    for name, rows in CSV_ROWS.items():
        write_json(out / f"{name}.json", {**results[name], "provenance": prov})
        write_csv(out / f"{name}.csv", rows(results[name]))
        figures += _figure(out, name, getattr(plots, f"plot_{name}"), results[name])
    write_json(out / "reconstruction_timing.json", {**results["timing"], "provenance": prov})
    return figures


# ------------------------------------------------------------------------------ classification
def _classification_options(p: argparse.ArgumentParser) -> None:
    from ..experiments.classification.config import FIG5_EPOCHS, FIG5_QUICK_EPOCHS

    p.add_argument("--epochs", type=int, default=None,
                   help=f"EP epochs (default {FIG5_EPOCHS}, Scellier & Bengio's; {FIG5_QUICK_EPOCHS} with --quick)")
    p.add_argument("--data-dir", default=None,
                   help=f"folder of MNIST IDX files (train-*, t10k-*); default ${MNIST_ENV}, else the shipped "
                        f"10,000-digit subset")
    add_device_options(p)


def _classification_config(args: argparse.Namespace):
    from ..experiments.classification import fig5_config

    cfg = fig5_config(quick=args.quick, seed=args.seed, epochs=getattr(args, "epochs", None))
    data = dataclasses.replace(cfg.data, data_dir=mnist_dir(getattr(args, "data_dir", None)))
    return dataclasses.replace(cfg, data=data, device=crossbar_config(args), torch_device=args.torch_device,
                               dtype=args.dtype or "float32")


def _classification_write(out: Path, result: dict[str, Any], prov: dict[str, Any]) -> tuple[str, ...]:
    from ..experiments.classification import csv_rows
    from ..plotting.classification import plot_fig5

    write_json(out / "fig5.json", {**result, "provenance": prov})
    write_csv(out / "fig5.csv", csv_rows(result))
    return _figure(out, "fig5", plot_fig5, result)


# ------------------------------------------------------------------------------ devices
def _devices_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", nargs="+", choices=("ep", "rbp"), default=["ep", "rbp"],
                   help="reconstruction rules (default ep rbp)")


def _devices_config(args: argparse.Namespace):
    from ..experiments.devices import DevicesConfig

    return DevicesConfig(quick=args.quick, seed=args.seed, rules=tuple(args.rules),
                         torch_device=args.torch_device, dtype=args.dtype)


def _devices_write(out: Path, result: dict[str, Any], prov: dict[str, Any]) -> tuple[str, ...]:
    from ..experiments.devices import csv_rows
    from ..plotting.devices import plot_devices

    write_json(out / "devices.json", {**result, "provenance": prov})
    write_csv(out / "devices.csv", csv_rows(result))
    return _figure(out, "devices", plot_devices, result)


# ------------------------------------------------------------------------------ development
def _development_config(args: argparse.Namespace):
    from ..experiments.reconstruction.development import DevelopmentConfig, quick_development

    kw = dict(seed=args.seed, torch_device=args.torch_device, dtype=args.dtype)
    if args.sets is not None:
        kw["sets"] = tuple(args.sets)
    if args.round3:
        kw["round3"] = True
    if args.check:
        kw["check"] = tuple(str(f) for f in args.check)
        if args.sets is None:
            kw["sets"] = ()  # only the check sets
    return quick_development(**kw) if args.quick else DevelopmentConfig(**kw)


def _development_options(p: argparse.ArgumentParser) -> None:
    from ..data import DEVELOPMENT_SETS

    p.add_argument("--sets", nargs="+", choices=DEVELOPMENT_SETS, default=None,
                   help="development sets to run (default: all eight; --quick: one; with --check: none)")
    p.add_argument("--check", nargs="+", default=None, metavar="FILE",
                   help="pattern sets outside the collection (files or builtin:NAME) on which EP, rbp_paper and "
                        "the shipped rbp default are trained and tested as Table 1 (never used by the rule)")
    p.add_argument("--round3", action="store_true",
                   help="run round 3 of the rule (how EP and RBP present the patterns: screened on the two "
                        "alphabets, confirmed on the other sets; docs/claims.md) instead of rounds 1-2")


def _development_write(out: Path, result: dict[str, Any], prov: dict[str, Any]) -> tuple[str, ...]:
    from ..experiments.reconstruction.development import csv_rows

    write_json(out / "development.json", {**result, "provenance": prov})
    write_csv(out / "development.csv", csv_rows(result))
    return ()


# ------------------------------------------------------------------------------ claims
def _claims_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=None, help="training seeds per cell (default 5; --quick: 2)")
    p.add_argument("--K", type=int, nargs="+", default=None, dest="k_grid", metavar="K",
                   help="Figure 2's K values (default the study's grid of 10; a smaller map: e.g. 0 80 90)")
    p.add_argument("--p", type=float, nargs="+", default=None, dest="p_fig2", metavar="P",
                   help="Figure 2's flip probabilities (default 0.1 0.15 0.2 0.25)")
    p.add_argument("--samples", type=int, default=None,
                   help="corrupted test patterns per class for Table 1 and Figures 2 and 3 (default 500, 500, 300)")


def _claims_config(args: argparse.Namespace):
    from ..experiments.claims import ClaimsConfig, quick_claims

    kw: dict[str, Any] = dict(seed=args.seed, torch_device=args.torch_device, dtype=args.dtype,
                              store=str(Path(args.out) / "claims.db"), fresh=args.force)
    if args.seeds is not None:
        kw["seeds"] = args.seeds
    if args.k_grid is not None:
        kw["K"] = tuple(args.k_grid)
    if args.p_fig2 is not None:
        kw["p_fig2"] = tuple(args.p_fig2)
    if args.samples is not None:
        kw.update(samples_table1=args.samples, samples_fig2=args.samples, samples_fig3=args.samples)
    return quick_claims(**kw) if args.quick else ClaimsConfig(**kw)


def _claims_write(out: Path, result: dict[str, Any], prov: dict[str, Any]) -> tuple[str, ...]:
    from ..experiments.claims import csv_rows
    from ..plotting.claims import plot_claims

    write_json(out / "claims.json", {**result, "provenance": prov})
    write_csv(out / "claims.csv", csv_rows(result))
    return _figure(out, "claims", plot_claims, result)


ADAPTERS: dict[str, Adapter] = {
    "reconstruction": Adapter(_reconstruction_options, _reconstruction_config, _reconstruction_write),
    "classification": Adapter(_classification_options, _classification_config, _classification_write),
    "devices": Adapter(_devices_options, _devices_config, _devices_write),
    "claims": Adapter(_claims_options, _claims_config, _claims_write),
    "development": Adapter(_development_options, _development_config, _development_write),
}
"""The command line's side of each study of the paper (keys: names in the registry)."""


def paper_studies() -> list[str]:
    """The registry's studies of the paper, in report order."""
    return [name for name, s in STUDIES.items() if s.paper and name in ADAPTERS]


def main_job_studies() -> list[str]:
    """What ``memprop reproduce`` runs when no study is named (the main job)."""
    return [name for name in paper_studies() if STUDIES[name].default]


def shared_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sample sizes (the main job)")
    p.add_argument("--out", default="results", help="output directory (default ./results)")
    p.add_argument("--seed", type=seed, default=0, help="seed of everything random (default 0)")
    p.add_argument("--force", action="store_true", help="replace a finished run in --out (its report.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=worker_count, default=None,
                   help="processes for a study's independent pieces (e.g. each rule's training); "
                        "same numbers with any count (default: one per available core, at most 8)")
    add_runtime_options(p)


def add_parser(sub) -> None:
    """Add ``reproduce`` (and one subcommand per study) to the top-level subparsers."""
    r = sub.add_parser("reproduce", help="reproduce the paper's studies; writes DIR/report.md",
                       description=__doc__.splitlines()[0])
    shared_options(r)
    r.set_defaults(func=command, study=None)
    rsub = r.add_subparsers(dest="study")
    for name in paper_studies():
        sp = rsub.add_parser(name, help=STUDIES[name].title, description=STUDIES[name].title)
        shared_options(sp)
        ADAPTERS[name].add_options(sp)
        sp.set_defaults(func=command, study=name)


def _default_args(name: str, parent: argparse.Namespace) -> argparse.Namespace:
    """The options of study ``name`` at their defaults, with the shared ones from ``parent``."""
    p = argparse.ArgumentParser()
    shared_options(p)
    ADAPTERS[name].add_options(p)
    args = p.parse_args([])
    for key in ("quick", "out", "seed", "force", "quiet", "workers", "torch_device", "dtype"):
        setattr(args, key, getattr(parent, key))
    return args


def command(args: argparse.Namespace) -> int:
    """Run the study (or the main job: the studies of the paper), write the files and ``report.md``."""
    from ..experiments.report import write_report

    names = [args.study] if args.study else main_job_studies()
    workers = args.workers if args.workers is not None else default_workers()
    # Every config is built (and so validated) before anything is written.
    configs = {name: ADAPTERS[name].config(args if args.study else _default_args(name, args)) for name in names}
    for name in names:  # input files and sizes, before any folder is made
        if STUDIES[name].check is not None:
            STUDIES[name].check(configs[name])
    out = make_dir(output_dir(args.out, force=args.force))
    progress = Progress(enabled=not args.quiet)
    sections = []
    for name in names:
        study = STUDIES[name]
        started = now()
        kw: dict[str, Any] = {"workers": workers} if study.parallel else {}
        if study.sweep_engine:
            from ..sweeps import run_collect

            kw["sweep"] = run_collect
        result = study.run(configs[name], progress=progress, **kw)
        prov = provenance(command=args.command_line, seed=args.seed, torch_device=args.torch_device,
                          dtype=getattr(configs[name], "dtype", None), started=started)
        ADAPTERS[name].write(out, result, prov)
        sections.append(study.section(result, command=args.command_line))
    header = (f"memprop {__version__}; run as `{args.command_line}`; torch threads: {args.threads_used} per "
              f"process; worker processes: {workers}; allocator: {args.allocator}; torch device: {args.torch_device}.")
    path = write_report(out, sections, header=header)
    print(f"wrote {path}", file=sys.stderr)
    return 0
