"""Wall time of the quick reconstruction study's training stacks (the main job's longest pieces).

    python benchmarks/training_stacks.py [--rules ep rbp] [--torch-device DEV]

Trains each rule's stack of ``memprop reproduce reconstruction --quick`` (every configuration the
study trains for that rule) in this process with 1 torch thread, and prints its wall time and a
checksum of the final weights, so that a before/after pair (``ab_commits.sh``, or two trees run at
once) shows both the speed and that the numbers did not change.
"""

from __future__ import annotations

import argparse
import time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rules", nargs="+", choices=("ep", "rbp"), default=["rbp", "ep"])
    p.add_argument("--torch-device", default="cpu", help="torch device (default cpu)")
    args = p.parse_args(argv)
    from memprop._runtime import configure_allocator, configure_threads, synchronize

    threads, allocator = configure_threads(1), configure_allocator()  # as the CLI runs
    from memprop.experiments.reconstruction.config import load_pattern_set, quick_config
    from memprop.experiments.reconstruction.run import plan_rows, train_stack

    cfg = quick_config(torch_device=args.torch_device)  # checks the device
    ps = load_pattern_set(cfg.patterns, cfg.recall_dtype())
    for rule in args.rules:
        rows = [r for r in plan_rows(cfg, ps.n, fig2=True, k0_seeds=True, sweep=True) if r.rule == rule]
        synchronize(cfg.torch_device)
        t = time.perf_counter()
        tr = train_stack(rule, rows, ps.patterns, cfg)
        synchronize(cfg.torch_device)
        W = tr["W"].double()
        print(f"{rule} stack ({len(rows)} configurations): {time.perf_counter() - t:.1f} s, "
              f"{threads} thread, allocator {allocator}, {cfg.torch_device}; W checksum {float(W.sum()):.12g} {float(W.abs().sum()):.12g}")


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
