"""Steps and time each equilibrium solver needs to relax a batch of the energy model.

The issue's setting: a batch of 1000 states of the N = 100 energy model (tanh, W symmetric
uniform in [-0.1, 0.1], no self-connections, inputs I uniform in [-1, 1]) relaxed from random
states to residual 1e-6, float32. Prints, per solver, the mean/max steps per element, the wall
time (best of ``--repeat``), and the thread count.

    python benchmarks/solvers.py [--n 100] [--batch 1000] [--tol 1e-6] [--threads 1] [--torch-device DEV]
"""

from __future__ import annotations

import argparse
import time

import torch

from memprop._runtime import configure_allocator, configure_threads, synchronize, torch_device
from memprop.networks import EnergyNetwork, init_symmetric
from memprop.solvers import AndersonSolver, ClippedRelaxation, EulerSolver, relax


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--scale", type=float, default=0.1, help="weights uniform in [-scale, scale]")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--torch-device", default="cpu", help="torch device (default cpu)")
    a = p.parse_args(argv)
    device = torch_device(a.torch_device)
    threads = configure_threads(a.threads)
    allocator = configure_allocator()  # as the CLI runs
    dtype = getattr(torch, a.dtype)
    g = torch.Generator().manual_seed(0)
    net = EnergyNetwork(init_symmetric(a.n, scale=a.scale, generator=g, dtype=dtype).to(device))
    x = (torch.rand(a.batch, a.n, generator=g) * 2 - 1).to(device=device, dtype=dtype)
    s0 = net.initial_state((a.batch,), generator=g, dtype=dtype, device=device)
    solvers = {
        "euler (dt=0.5)": EulerSolver(dt=0.5, tol=a.tol, max_steps=100_000),
        "clipped (eps=0.5)": ClippedRelaxation(epsilon=0.5, tol=a.tol, max_steps=100_000),
        "anderson (m=5, h=0.5)": AndersonSolver(tol=a.tol, max_steps=100_000),
    }
    print(f"energy model N={a.n}, batch={a.batch}, tol={a.tol:g}, {a.dtype}, {device}, torch threads={threads}, allocator {allocator}")
    print(f"{'solver':<24} {'mean steps':>10} {'max steps':>10} {'time (s)':>9} {'max residual':>13}")
    for name, solver in solvers.items():
        best = float("inf")
        for _ in range(a.repeat):
            synchronize(device)
            t0 = time.perf_counter()
            eq = relax(net, solver, s0, x)
            synchronize(device)
            best = min(best, time.perf_counter() - t0)
        print(f"{name:<24} {eq.steps.float().mean():10.1f} {int(eq.steps.max()):10d} {best:9.3f} "
              f"{float(eq.residual.max()):13.2e}")


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
