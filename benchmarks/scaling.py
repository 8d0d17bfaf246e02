"""How cost grows with size: wall time and peak memory against network size, batch, patterns and
configurations, with a fitted log-log exponent and the FLOP count beside (prints its figures).

Series (each point in a fresh process, so that its peak resident memory is its own):

- ``recon_train_N``: EP training of the reconstruction network (energy model, full connectivity,
  16 generated patterns of mean correlation 0.2, one configuration), seconds per epoch, for N in
  100..1600 (``--max-n``);
- ``recon_recall_N``: recall of 1000 corrupted patterns (p = 0.1, protocol ``initial``) by the
  network after those epochs, seconds per 1000 patterns;
- ``recon_train_P``: the same training at N = 100 against the number of patterns (8..64);
- ``recon_train_C``: the same training at N = 100, 16 patterns, against the number of stacked
  configurations C (1..64): what one tensor program costs for C networks at once;
- ``ep_hidden``: EP on the layered 784-H-10 network (minibatch 20, 20 + 4 iterations), seconds per
  1000 samples, for H in 500..4000;
- ``ep_batch``: the same at H = 500 against the minibatch size (20..500).

FLOPs: recall counts 2 N^2 per relaxation step (the matrix-vector product; the elementwise work
is O(N)) over the steps each relaxation took; training counts the free phase's measured steps
and the same again for the nudged phase (an estimate: the nudged phase starts at the free fixed
point and usually takes fewer), plus the update; the layered network counts Scellier & Bengio's
floor (see ``ep_throughput.py``). The exponent is the least-squares slope of log(time) against
log(size); an exponent near the FLOP count's means the cost follows the arithmetic, a smaller one
that fixed per-step overhead still dominates at the small sizes.

Usage: python benchmarks/scaling.py [--out DIR] [--max-n 1600] [--max-hidden 4000] [--threads N]
       [--torch-device DEV] [--series NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from memprop._runtime import synchronize

SERIES = ("recon_train_N", "recon_recall_N", "recon_train_P", "recon_train_C", "ep_hidden", "ep_batch")
EPOCHS = 2


def _recon(n: int, patterns: int, configs: int, device: torch.device, recall_samples: int = 0) -> dict:
    """Train EP on generated patterns for EPOCHS epochs; optionally time a recall."""
    from memprop.data import random_correlated
    from memprop.experiments.reconstruction.config import RecallConfig, TrainConfig
    from memprop.experiments.reconstruction.recall import recall
    from memprop.experiments.reconstruction.run import test_set
    from memprop.experiments.reconstruction.training import train
    from memprop.networks import full_mask, init_symmetric

    ps = random_correlated(n, patterns, 0.2, seed=1)
    x = ps.patterns.to(device=device, dtype=torch.float64)
    W0 = init_symmetric(n, scale=0.1, generator=torch.Generator().manual_seed(0), dtype=torch.float64,
                        configs=configs).to(device)
    synchronize(device)
    t = time.perf_counter()
    tr = train(x, W0, full_mask(n, device=device), rule="ep", etas=torch.full((configs,), 0.01, dtype=torch.float64),
               cfg=TrainConfig(epochs=EPOCHS), generator=torch.Generator().manual_seed(2),
               row_seeds=list(range(configs)))
    synchronize(device)
    seconds = (time.perf_counter() - t) / EPOCHS
    steps = float(tr.history["steps"].mean())  # free-phase steps per pattern
    flops = configs * patterns * (2 * steps * 2 * n * n + 2 * n * n)
    out = {"train_s_per_epoch": seconds, "train_flops_per_epoch": flops, "free_steps": steps}
    if recall_samples:
        per_class = max(1, recall_samples // patterns)
        xt, tt = test_set(ps.patterns.to(torch.float32), 0.1, per_class, 3)
        W = tr.W[:1].to(torch.float32)
        synchronize(device)
        t = time.perf_counter()
        r = recall("ep", W, xt.to(device), tt.to(device), cfg=RecallConfig(), dtype=torch.float32)
        synchronize(device)
        m = xt.shape[0]
        out["recall_s_per_1000"] = (time.perf_counter() - t) * 1000 / m
        out["recall_flops_per_1000"] = float(r["steps"].double().sum()) * 2 * n * n * 1000 / m
    return out


def _ep(hidden: int, batch: int, device: torch.device, samples: int = 2000) -> dict:
    from memprop.data import load_builtin_mnist, to_inputs
    from memprop.experiments.classification import (
        ClassificationConfig,
        EPConfig,
        ep_epoch,
        init_state,
    )

    images, labels = load_builtin_mnist()
    x, y = to_inputs(images[:samples]), labels[:samples]
    cfg = EPConfig(hidden=(hidden,), epsilon=0.5, free_steps=20, nudged_steps=4, beta=1.0, estimator="one_sided",
                   alphas=(0.1, 0.05), schedule="constant", batch_size=batch, persistent=True, seed=0)
    ccfg = ClassificationConfig(ep=cfg, backprop=None, torch_device=str(device))
    warm = init_state(ccfg, 200, 784, 10)
    ep_epoch(warm, cfg, x[:200], y[:200], 10)  # warm-up (allocator, BLAS kernels)
    state = init_state(ccfg, samples, 784, 10)
    synchronize(device)
    t = time.perf_counter()
    ep_epoch(state, cfg, x, y, 10)
    synchronize(device)
    flops = 2 * 784 * hidden + 24 * 4 * hidden * 10 + 2 * (784 * hidden + hidden * 10)
    return {"s_per_1000": (time.perf_counter() - t) * 1000 / samples, "flops_per_1000": flops * 1000}


def point(series: str, value: int, device_name: str) -> dict:
    """One measurement (run in a fresh process by :func:`main`)."""
    device = torch.device(device_name)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if series == "recon_train_N":
        r = _recon(value, 16, 1, device)
        m = {"time": r["train_s_per_epoch"], "flops": r["train_flops_per_epoch"], "steps": r["free_steps"]}
    elif series == "recon_recall_N":
        r = _recon(value, 16, 1, device, recall_samples=1000)
        m = {"time": r["recall_s_per_1000"], "flops": r["recall_flops_per_1000"]}
    elif series == "recon_train_P":
        r = _recon(100, value, 1, device)
        m = {"time": r["train_s_per_epoch"], "flops": r["train_flops_per_epoch"], "steps": r["free_steps"]}
    elif series == "recon_train_C":
        r = _recon(100, 16, value, device)
        m = {"time": r["train_s_per_epoch"], "flops": r["train_flops_per_epoch"], "steps": r["free_steps"]}
    elif series == "ep_hidden":
        r = _ep(value, 20, device)
        m = {"time": r["s_per_1000"], "flops": r["flops_per_1000"]}
    elif series == "ep_batch":
        r = _ep(500, value, device)
        m = {"time": r["s_per_1000"], "flops": r["flops_per_1000"]}
    else:
        raise SystemExit(f"unknown series {series!r}; one of {', '.join(SERIES)}")
    m["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        m["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return m


def _slope(xs, ys) -> float:
    lx = [math.log(v) for v in xs]
    ly = [math.log(v) for v in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


UNITS = {"recon_train_N": ("N", "s per epoch"), "recon_recall_N": ("N", "s per 1000 recalls"),
         "recon_train_P": ("patterns", "s per epoch"), "recon_train_C": ("configurations", "s per epoch"),
         "ep_hidden": ("hidden units", "s per 1000 samples"), "ep_batch": ("minibatch", "s per 1000 samples")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="scaling", help="folder for scaling.json and scaling.png (default ./scaling)")
    p.add_argument("--max-n", type=int, default=1600, help="largest reconstruction N (default 1600)")
    p.add_argument("--max-hidden", type=int, default=4000, help="largest hidden layer (default 4000)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per point (default 1)")
    p.add_argument("--torch-device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--series", nargs="+", choices=SERIES, default=list(SERIES), help="which series (default all)")
    p.add_argument("--force", action="store_true", help="replace an earlier scaling.json in --out")
    p.add_argument("--point", nargs=2, metavar=("SERIES", "VALUE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from memprop._runtime import configure_allocator, configure_threads, torch_device
    from memprop.errors import MempropError, OutputError
    from memprop.io import write_json

    torch_device(args.torch_device)  # one line now, not a failure at every point
    out = Path(args.out)
    if not args.point and (out / "scaling.json").exists() and not args.force:
        raise OutputError(f"--out {str(out)!r} already holds scaling.json; pass --force to replace it, or "
                          f"choose another --out")
    threads = configure_threads(args.threads)
    allocator = configure_allocator()  # as the CLI runs (each point's process too)
    if args.point:
        print(json.dumps(point(args.point[0], int(args.point[1]), args.torch_device)))
        return 0
    grids = {
        "recon_train_N": [n for n in (100, 200, 400, 800, 1600, 3200) if n <= args.max_n],
        "recon_recall_N": [n for n in (100, 200, 400, 800, 1600, 3200) if n <= args.max_n],
        "recon_train_P": [8, 16, 32, 64],
        "recon_train_C": [1, 4, 16, 64],
        "ep_hidden": [h for h in (500, 1000, 2000, 4000, 8000) if h <= args.max_hidden],
        "ep_batch": [20, 100, 500],
    }
    results = {}
    failed = 0
    print(f"scaling: torch {torch.__version__}, {threads} torch thread(s) per point, allocator {allocator}, torch device {args.torch_device}")
    for series in args.series:
        rows = []
        for v in grids[series]:
            cmd = [sys.executable, __file__, "--point", series, str(v), "--threads", str(threads),
                   "--torch-device", args.torch_device]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"  {series} {v}: failed: {done.stderr.strip().splitlines()[-1:]}")
                failed += 1
                continue
            m = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"x": v, **m})
            print(f"  {series:15s} {UNITS[series][0]} = {v:5d}: {m['time']:.4g} {UNITS[series][1]}, "
                  f"{m['flops'] / 1e9:.3g} GFLOP, peak RSS {m['peak_rss_mib']:.0f} MiB"
                  + (f", peak GPU {m['peak_gpu_mib']:.0f} MiB" if "peak_gpu_mib" in m else ""))
        if len(rows) >= 2:
            xs = [r["x"] for r in rows]
            fit = {"time_exponent": _slope(xs, [r["time"] for r in rows]),
                   "flops_exponent": _slope(xs, [r["flops"] for r in rows]),
                   "memory_exponent": _slope(xs, [r["peak_rss_mib"] for r in rows])}
            print(f"  {series}: time ~ {UNITS[series][0]}^{fit['time_exponent']:.2f}, FLOPs ~ "
                  f"^{fit['flops_exponent']:.2f}, peak RSS ~ ^{fit['memory_exponent']:.2f}")
        else:
            fit = {}
        results[series] = {"rows": rows, "fit": fit, "units": UNITS[series]}
    if not any(r["rows"] for r in results.values()):
        raise MempropError(f"every one of the {failed} points failed; nothing written")
    meta = {"torch": torch.__version__, "threads": threads, "allocator": allocator, "torch_device": args.torch_device}
    write_json(out / "scaling.json", {"meta": meta, "series": results})
    _plot(results, out / "scaling.png")
    print(f"wrote {out / 'scaling.json'} and {out / 'scaling.png'}" + (f"; {failed} points failed" if failed else ""))
    return 1 if failed else 0


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    names = [s for s in results if results[s]["rows"]]
    if not names:
        return
    cols = 3
    fig, axes = plt.subplots(math.ceil(len(names) / cols), cols, figsize=(12, 3.6 * math.ceil(len(names) / cols)),
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        r = results[name]
        xs = [row["x"] for row in r["rows"]]
        ax.loglog(xs, [row["time"] for row in r["rows"]], "o-", color="#0072B2", label="time")
        ax2 = ax.twinx()
        ax2.loglog(xs, [row["flops"] for row in r["rows"]], "s--", color="#D55E00", label="FLOPs")
        ax2.set_ylabel("FLOPs", color="#D55E00")
        fit = r["fit"]
        ax.set_title(f"{name}: time ^{fit.get('time_exponent', float('nan')):.2f}, "
                     f"FLOPs ^{fit.get('flops_exponent', float('nan')):.2f}", fontsize=9)
        for a in (ax, ax2):
            a.xaxis.set_minor_formatter(NullFormatter())  # only the decades are labelled
        ax.set_xticks(xs, [str(v) for v in xs])
        ax.set_xlabel(r["units"][0])
        ax.set_ylabel(r["units"][1], color="#0072B2")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
