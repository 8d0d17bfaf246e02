"""Milliseconds per programming step of the device study's crossbar stacks, with a checksum.

Builds the quick device study's design (``memprop reproduce devices --quick``: 18 EP
configurations, 13 for RBP, crossbars of 2 x 100 x 100 devices) as one
:class:`~memprop.crossbar.CrossbarStack`, programs fixed random symmetric updates of the size EP
makes, and prints the mean time per update and a checksum of the weights and conductances
(before/after a refactor, the checksums must agree). One torch thread unless ``--threads``; ``--torch-device cuda`` holds the
stack on that device (the checksum must agree with the CPU's to rounding).

    python benchmarks/crossbar_program.py [--updates 60] [--rounds 3] [--full] [--torch-device DEV]
"""

from __future__ import annotations

import argparse
import time

import torch

from memprop._runtime import configure_allocator, configure_threads, synchronize, torch_device
from memprop.crossbar import CrossbarStack
from memprop.experiments.devices.config import (
    FULL,
    QUICK,
    W_MAX_RECONSTRUCTION,
    derive_seed,
    design,
)
from memprop.networks import full_mask


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="the full design (every preset, 2-1024 states)")
    ap.add_argument("--torch-device", default="cpu", help="torch device (default cpu)")
    args = ap.parse_args(argv)
    device = torch_device(args.torch_device)
    threads = configure_threads(args.threads)
    configure_allocator()
    grid = FULL if args.full else QUICK
    points = design(grid, W_MAX_RECONSTRUCTION, pairing=True, states=grid["states"])
    C, N = len(points), 100
    g = torch.Generator().manual_seed(0)
    mask = full_mask(N).expand(C, N, N).to(device)
    A = torch.randn(C, N, N, generator=g, dtype=torch.float64).to(device) * 0.2
    W = (A + A.mT) / 2 * mask
    deltas = []
    for _ in range(8):  # loop over the fixed updates
        d = torch.randn(C, N, N, generator=g, dtype=torch.float64).to(device) * 2e-3
        deltas.append((d + d.mT) / 2 * mask)
    for r in range(args.rounds):  # loop over rounds, each from the same start
        stack = CrossbarStack(W, [p.crossbar for p in points], mask=mask, symmetric=True,
                              generators=[torch.Generator().manual_seed(derive_seed(0, c)) for c in range(C)])
        stack.program(deltas[0])
        synchronize(device)
        t0 = time.perf_counter()
        for i in range(args.updates):  # loop over programming steps
            stack.program(deltas[i % len(deltas)])
        synchronize(device)
        ms = (time.perf_counter() - t0) / args.updates * 1e3
        check = float(stack.weight.sum()) + sum(float(xb.g.sum()) * 1e6 for xb in stack.crossbars
                                                 if getattr(xb, "g", None) is not None)
        print(f"round {r}: {ms:.2f} ms per update, {C} configurations, threads={threads}, {device}, "
              f"checksum {check:.12g}")


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
