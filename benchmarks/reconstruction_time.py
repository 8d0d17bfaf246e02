"""Time the reconstruction study, stage by stage: `python benchmarks/reconstruction_time.py [--quick]`.

Runs exactly what `memprop reproduce reconstruction [--quick]` runs (paper sample sizes unless
--quick) into a temporary directory and prints the wall time of every stage (training of each
rule's stacked configurations, Table 1, Figures 1-4, the RBP diagnosis, plots and files), the
torch thread count and the number of worker processes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from memprop._runtime import configure_threads
from memprop.experiments import reconstruction as rec
from memprop.progress import Progress


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the --quick settings")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 1 or $MEMPROP_THREADS)")
    ap.add_argument("--out", default=None, help="keep the results here (default: a temporary directory)")
    args = ap.parse_args()
    threads = configure_threads(args.threads)
    cfg = rec.quick_config(workers=args.workers) if args.quick else rec.ReconstructionConfig(workers=args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t0 = time.perf_counter()
        results = rec.run(cfg, out, progress=Progress(enabled=False))
        total = time.perf_counter() - t0
    t = results["timing"]
    print(f"reconstruction study ({'--quick' if args.quick else 'full'}): torch threads {threads} "
          f"(torch reports {torch.get_num_threads()}), workers {cfg.workers}")
    for stage, s in t["wall_seconds"].items():
        print(f"  {stage:<10s} {s:8.1f} s")
    for rule, s in t["training"].items():
        print(f"    (train {rule}: {s:.1f} s)")
    print(f"  {'total':<10s} {total:8.1f} s")


if __name__ == "__main__":
    main()
