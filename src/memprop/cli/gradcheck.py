"""``memprop gradcheck``: RBP and EP against the exact gradient on a random small network."""

from __future__ import annotations

import argparse
import json

from .options import seed


def command(args: argparse.Namespace) -> int:
    from ..experiments.gradcheck import MODELS, GradcheckConfig, run

    models = [args.model] if args.model else list(MODELS)
    configs = {m: GradcheckConfig(model=m, n=args.n, seed=args.seed, torch_device=args.torch_device) for m in models}
    results = {m: run(cfg) for m, cfg in configs.items()}
    out = results[models[0]] if args.model else results
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


def add_parser(sub) -> None:
    g = sub.add_parser("gradcheck", help="compare RBP and EP with the exact gradient (float64)")
    g.add_argument("--model", choices=["additive", "energy", "layered"], default=None,
                   help="one model (default: all three, keyed by model name)")
    g.add_argument("--n", type=int, default=30, help="network size (default 30)")
    g.add_argument("--seed", type=seed, default=0)
    g.add_argument("--json", action="store_true", help="one-line JSON (default: indented JSON)")
    g.add_argument("--torch-device", default="cpu", metavar="DEVICE",
                   help="torch device: cpu (default), cuda, cuda:N or mps (always float64)")
    g.set_defaults(func=command)
