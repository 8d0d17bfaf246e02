"""``memprop train classify ...``: general EP training of the layered network on MNIST digits.

Writes ``OUT/classify.{json,csv,png}`` and an atomic checkpoint ``OUT/checkpoint.pt`` after every
epoch; ``--resume`` continues exactly (in situ too: the checkpoint holds the crossbars' state and
random streams). An existing run in OUT is never replaced without ``--force``.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError
from ..io import write_csv, write_json
from ..learning.backprop import LOSSES, OUTPUTS
from ..learning.ep import ESTIMATORS
from ..progress import Progress
from ..provenance import now, provenance
from .options import (
    MNIST_ENV,
    add_device_options,
    add_runtime_options,
    crossbar_config,
    mnist_dir,
    seed,
    spelling,
)
from .outputs import make_dir, output_dir


def add_parser(sub) -> None:
    """Add ``train`` (with its ``classify`` subcommand) to the top-level subparsers."""
    from ..experiments.classification.config import SCHEDULES

    t = sub.add_parser("train", help="general training runs")
    tsub = t.add_subparsers(dest="trainer", required=True)
    p = tsub.add_parser("classify", help=__doc__.splitlines()[0], description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, action="append", default=None, metavar="N",
                   help="a hidden layer of N units; repeat for more layers (default one of 500)")
    p.add_argument("--classes", default="0-9", help="digit classes, e.g. 0-9, 0-4 or 0,3,7 (default 0-9)")
    p.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="training digits per class, the rest held out (default: all, with the shipped "
                        "subset split by --test-fraction)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="held-out fraction of the shipped subset without --per-class (default 0.2)")
    p.add_argument("--data-dir", default=None,
                   help=f"directory with MNIST IDX files (train-*, t10k-*); default ${MNIST_ENV}, else the "
                        f"shipped 10,000-digit subset")
    p.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    p.add_argument("--beta", type=float, default=1.0, help="nudging strength beta (default 1)")
    p.add_argument("--estimator", type=spelling(ESTIMATORS), default="one_sided",
                   help="EP gradient estimator: one_sided (the paper's, default), random_sign or centred")
    p.add_argument("--schedule", choices=list(SCHEDULES), default="halve",
                   help="halve: rates halved after every --halve-every epochs (the paper); constant")
    p.add_argument("--halve-every", type=int, default=1, metavar="K", help="halve schedule: every K epochs")
    p.add_argument("--alphas", type=float, nargs="+", default=None,
                   help="learning rate per weight layer (default Scellier & Bengio's for the depth)")
    p.add_argument("--batch-size", type=int, default=20, help="minibatch size (default 20)")
    p.add_argument("--epsilon", type=float, default=0.5, help="step of Eq. (21) (default 0.5)")
    p.add_argument("--free-steps", type=int, default=None,
                   help="free-phase iterations (default Scellier & Bengio's: 20, 100, 500 by depth)")
    p.add_argument("--nudged-steps", type=int, default=None,
                   help="nudged-phase iterations (default 4, 6, 8 by depth)")
    p.add_argument("--eval-steps", type=int, default=100,
                   help="iterations from the zero state when classifying (default 100)")
    p.add_argument("--no-persistent", action="store_true", help="start every free phase from zero")
    p.add_argument("--seed", type=seed, default=0, help="seed of the split, the init and the order")
    p.add_argument("--no-backprop", action="store_true", help="skip the backprop reference")
    p.add_argument("--backprop-alphas", type=float, nargs="+", default=None,
                   help="the reference's SGD rate per weight layer (default: EP's alphas)")
    p.add_argument("--backprop-schedule", choices=list(SCHEDULES), default=None,
                   help="the reference's schedule (default: EP's; --halve-every and --epochs are shared)")
    p.add_argument("--backprop-output", type=spelling(OUTPUTS), default="linear",
                   help="output function of the feed-forward reference: linear (default) or hard_sigmoid")
    p.add_argument("--backprop-loss", type=spelling(LOSSES), default="mse",
                   help="mse (EP's cost, default) or cross_entropy")
    p.add_argument("--out", default="runs/classify", help="output directory (default runs/classify)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--force", action="store_true", help="replace a run already in OUT (its files are lost)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)
    add_runtime_options(p, default_dtype="float32")
    p.set_defaults(func=command)


def train_config(args: argparse.Namespace):
    """The config of ``memprop train classify``'s options."""
    from ..experiments.classification import (
        BackpropConfig,
        ClassificationConfig,
        DataConfig,
        EPConfig,
    )

    data_dir = mnist_dir(args.data_dir)
    data = DataConfig(classes=args.classes, per_class=args.per_class, test_fraction=args.test_fraction,
                      data_dir=data_dir, split_seed=args.seed)
    ep = EPConfig(hidden=tuple(args.hidden or (500,)), epsilon=args.epsilon, free_steps=args.free_steps,
                  nudged_steps=args.nudged_steps, beta=args.beta, estimator=args.estimator,
                  alphas=None if args.alphas is None else tuple(args.alphas), schedule=args.schedule,
                  halve_every=args.halve_every, batch_size=args.batch_size, epochs=args.epochs,
                  persistent=not args.no_persistent, eval_steps=args.eval_steps, seed=args.seed)
    bp = None
    if not args.no_backprop:
        changes = {"output": args.backprop_output, "loss": args.backprop_loss}
        if args.backprop_alphas is not None:
            changes["alphas"] = tuple(args.backprop_alphas)
        if args.backprop_schedule is not None:
            changes["schedule"] = args.backprop_schedule
        bp = BackpropConfig.like(ep, **changes)
    return ClassificationConfig(data=data, ep=ep, backprop=bp, device=crossbar_config(args),
                                torch_device=args.torch_device, dtype=args.dtype)


def command(args: argparse.Namespace) -> int:
    """``memprop train classify``: writes OUT/classify.{json,csv,png} and OUT/checkpoint.pt."""
    from ..experiments.classification import check, run, summary_line
    from ..experiments.classification.run import csv_rows

    cfg = train_config(args)
    out = output_dir(args.out, force=args.force or args.resume, finished=("checkpoint.pt", "classify.json"),
                     resume_hint=True)
    ckpt = out / "checkpoint.pt"
    if args.resume and not ckpt.is_file():
        raise ConfigError(f"--resume: {ckpt}: no such checkpoint to continue; run without --resume to start "
                          f"a new run")
    split = check(cfg)  # bad data, too large a network: reported before the folder is made
    make_dir(out)
    progress = Progress(enabled=not args.quiet)
    started = now()
    result = run(cfg, progress=progress, checkpoint=ckpt, resume=args.resume, split=split)
    write_json(out / "classify.json", {**result, "provenance": provenance(
        command=args.command_line, seed=args.seed, torch_device=args.torch_device, dtype=args.dtype, started=started)})
    write_csv(out / "classify.csv", csv_rows(result))
    try:
        from ..plotting import save
        from ..plotting.classification import plot_fig5

        save(plot_fig5(result), out / "classify.png")
    except ImportError as e:  # pragma: no cover - matplotlib missing
        print(f"memprop: classify.png not drawn ({e})", file=sys.stderr)
    print(summary_line(result) + f"; wrote {out / 'classify.json'}")
    return 0
