"""EP training throughput against the arithmetic floor (a script that prints figures, not a test).

Measures, in one run:

1. the machine's float32 matrix-multiply rate with the thread count used (default 1, as the CLI):
   a 1024 x 1024 x 1024 product (also shown: the rate at EP's own input-projection shape,
   20 x 784 x 500);
2. EP training throughput of memprop's trainer (``memprop.learning.train_epoch`` through
   ``memprop.experiments.classification.ep_epoch``)
   for Scellier & Bengio's 784-500-10 network: minibatch 20, 20 free + 4 nudged iterations of
   Eq. (21) (epsilon 0.5), beta 1, one-sided estimator, persistent free states, on the shipped
   10,000-digit MNIST subset; seconds per 1000 training samples (wall clock; CPU time beside).

The two are measured in alternating rounds (a matmul rate, then one training epoch), and each
figure is the best over the rounds, so a busy shared machine depresses neither more than the
other.

The arithmetic floor per training sample is
2*784*500 (the clamped input's projection, computed once per minibatch, not per iteration)
+ 24 * 4*500*10 (each of the 24 relaxation iterations: the two 500 x 10 products)
+ 2*(784*500 + 500*10) (the weight update), i.e. 2,058,000 FLOPs; the floor time is those FLOPs
divided by the measured matmul rate, and the figure of merit is floor / measured (1 would be
every FLOP at the large-matmul rate with zero overhead).

With ``--batch 20 100 500`` the training figure is measured at each minibatch size (the floor
per sample does not depend on it: the input projection is per sample either way); with
``--torch-device cuda`` everything runs on that device (the matmul rate too).

Usage: python benchmarks/ep_throughput.py [--threads N] [--samples N] [--repeats N] [--batch B ...]
       [--torch-device DEV] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from _script import add_ep_options

from memprop._runtime import configure_allocator, configure_threads, synchronize, torch_device
from memprop.data import load_builtin_mnist, to_inputs
from memprop.experiments.classification import ClassificationConfig, EPConfig, init_state
from memprop.experiments.classification import ep_epoch as train_one_epoch

N_IN, N_HID, N_OUT, BATCH, FREE, NUDGED = 784, 500, 10, 20, 20, 4
FLOPS_PROJECTION = 2 * N_IN * N_HID
FLOPS_RELAXATION = (FREE + NUDGED) * 4 * N_HID * N_OUT
FLOPS_UPDATE = 2 * (N_IN * N_HID + N_HID * N_OUT)
FLOPS_PER_SAMPLE = FLOPS_PROJECTION + FLOPS_RELAXATION + FLOPS_UPDATE


def matmul_rate(m: int, k: int, n: int, *, repeats: int = 5, min_time: float = 0.2,
                device: torch.device | None = None) -> float:
    """Best-of-``repeats`` float32 rate (FLOP/s) of an (m, k) @ (k, n) product, into a buffer."""
    device = torch.device("cpu") if device is None else device
    g = torch.Generator().manual_seed(0)
    a = torch.rand(m, k, generator=g).to(device)
    b = torch.rand(k, n, generator=g).to(device)
    c = torch.empty(m, n, device=device)
    torch.mm(a, b, out=c)
    synchronize(device)
    t = time.perf_counter()
    reps = 0
    while time.perf_counter() - t < 0.05:
        torch.mm(a, b, out=c)
        synchronize(device)
        reps += 1
    reps = max(1, int(reps * min_time / 0.05))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=c)
        synchronize(device)
        best = min(best, (time.perf_counter() - t) / reps)
    return 2.0 * m * k * n / best


def ep_setup(samples: int, batch: int = BATCH, torch_device: str = "cpu"):
    """The trainer's state, config and data for the benchmark (warmed up)."""
    images, labels = load_builtin_mnist()
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(labels.numel(), generator=g)[:samples]
    x, y = to_inputs(images[perm]), labels[perm]
    cfg = EPConfig(hidden=(N_HID,), epsilon=0.5, free_steps=FREE, nudged_steps=NUDGED, beta=1.0,
                   estimator="one_sided", alphas=(0.1, 0.05), schedule="constant", batch_size=batch,
                   persistent=True, seed=0)
    ccfg = ClassificationConfig(ep=cfg, backprop=None, torch_device=torch_device)
    warm = init_state(ccfg, 2000, N_IN, N_OUT)
    train_one_epoch(warm, cfg, x[:2000], y[:2000], N_OUT)  # warm-up (allocator, BLAS kernels)
    state = init_state(ccfg, samples, N_IN, N_OUT)
    return state, cfg, x, y


def ep_epoch(state, cfg, x, y) -> tuple[float, float]:
    """Wall and CPU seconds per 1000 samples of one EP training epoch over (x, y)."""
    device = state.network.W0.device
    synchronize(device)
    t, c = time.perf_counter(), time.process_time()
    train_one_epoch(state, cfg, x, y, N_OUT)
    synchronize(device)
    n = y.numel()
    return (time.perf_counter() - t) * 1000 / n, (time.process_time() - c) * 1000 / n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ep_options(p, batch=(BATCH,))
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = p.parse_args(argv)
    threads = configure_threads(args.threads)
    allocator = configure_allocator()  # as the CLI runs
    device = torch_device(args.torch_device)

    # Rounds interleave the measurements, so that all see the same machine (other processes come
    # and go on a shared machine); each figure is the best over the rounds.
    setups = {b: ep_setup(args.samples, b, args.torch_device) for b in args.batch}
    rates, wall, cpu = [], {b: [] for b in args.batch}, {b: [] for b in args.batch}
    for _ in range(args.repeats):
        rates.append(matmul_rate(1024, 1024, 1024, repeats=3, device=device))
        for b, (state, cfg, x, y) in setups.items():
            w, c = ep_epoch(state, cfg, x, y)
            wall[b].append(w)
            cpu[b].append(c)
    rate = max(rates)
    rate_ep = matmul_rate(BATCH, N_IN, N_HID, device=device)
    floor = FLOPS_PER_SAMPLE * 1000 / rate
    print("memprop EP training throughput: 784-500-10, 20 free + 4 nudged iterations,")
    print("  epsilon 0.5, beta 1, one-sided, persistent states, shipped MNIST subset")
    print(f"torch {torch.__version__}, threads used: {threads}, allocator: {allocator}, torch device: {device}")
    print(f"float32 matmul rate, 1024x1024x1024: {rate / 1e9:.1f} GFLOP/s (best of {args.repeats} rounds; "
          f"median {statistics.median(rates) / 1e9:.1f})")
    print(f"  (at EP's input-projection shape 20x784x500: {rate_ep / 1e9:.1f} GFLOP/s)")
    print(f"arithmetic floor per sample: {FLOPS_PROJECTION:,} (input projection, once per minibatch) "
          f"+ {FLOPS_RELAXATION:,} (24 relaxation iterations) + {FLOPS_UPDATE:,} (update) "
          f"= {FLOPS_PER_SAMPLE:,} FLOPs")
    print(f"floor time: {floor * 1e3:.2f} ms per 1000 samples (at the 1024^3 rate)")
    figures = {}
    for b in args.batch:
        measured = min(wall[b])
        figures[b] = {"measured_s_per_1000": measured, "median_s_per_1000": statistics.median(wall[b]),
                      "cpu_s_per_1000": min(cpu[b]), "ratio": floor / measured}
        print(f"measured EP training, minibatch {b}: {measured:.4f} s per 1000 samples (best of {args.repeats} "
              f"rounds, one epoch of {args.samples:,} samples; median {statistics.median(wall[b]):.4f} s; CPU time "
              f"best {min(cpu[b]):.4f} s); ratio floor / measured: {floor / measured:.3f}")
    if args.json:
        print(json.dumps({"threads": threads, "torch_device": str(device), "matmul_gflops": rate / 1e9,
                          "matmul_gflops_ep_shape": rate_ep / 1e9, "flops_per_sample": FLOPS_PER_SAMPLE,
                          "floor_s_per_1000": floor, "batches": figures}))
    return 0


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
