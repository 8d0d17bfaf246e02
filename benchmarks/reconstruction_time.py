"""Time the reconstruction study, stage by stage: `python benchmarks/reconstruction_time.py [--quick]`.

Runs exactly what `memprop reproduce reconstruction [--quick]` computes (paper sample sizes
unless --quick; files and plots are not written) and prints the wall time of every stage
(training of each rule's stacked configurations, Table 1, Figures 1-4, the RBP diagnosis), the
torch thread count, the torch device and the dtype.
"""

from __future__ import annotations

import argparse
import time

import torch

from memprop._runtime import configure_allocator, configure_threads
from memprop.experiments import reconstruction as rec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the --quick settings")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 1 or $MEMPROP_THREADS)")
    ap.add_argument("--torch-device", default="cpu", help="torch device (default cpu)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes for the study's pieces (default 1)")
    ap.add_argument("--dtype", default=None, choices=("float32", "float64"),
                    help="dtype of every tensor (default: the study's own)")
    args = ap.parse_args(argv)
    threads = configure_threads(args.threads)
    allocator = configure_allocator()  # as the CLI runs
    kw = dict(torch_device=args.torch_device, dtype=args.dtype)
    cfg = rec.quick_config(**kw) if args.quick else rec.ReconstructionConfig(**kw)
    t0 = time.perf_counter()
    results = rec.run(cfg, workers=args.workers)
    total = time.perf_counter() - t0
    t = results["timing"]
    print(f"reconstruction study ({'--quick' if args.quick else 'full'}): torch threads {threads} "
          f"(torch reports {torch.get_num_threads()}) per process, allocator {allocator}, {args.workers} worker process(es), torch device "
          f"{args.torch_device}, dtype "
          f"{args.dtype or 'the study default'}")
    for stage, s in t["wall_seconds"].items():
        print(f"  {stage:<10s} {s:8.1f} s")
    for rule, s in t["training"].items():
        print(f"    (train {rule}: {s:.1f} s)")
    print(f"  {'total':<10s} {total:8.1f} s")


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
