"""CPU time and page faults of engine work with glibc's allocator as it is and as memprop tunes it.

    python benchmarks/allocator.py [--epochs 2] [--rounds 2] [--workloads train recall] [--torch-device DEV]

Each round runs every workload twice, in fresh processes one after the other, with
``MEMPROP_ALLOCATOR=system`` and ``=tuned`` (:func:`memprop._runtime.configure_allocator`), and
prints wall time, user and system CPU time, minor page faults and a checksum of the result (the
two settings must agree: only where memory comes from changes). CPU time is the figure to read
on a busy machine; wall time is shown too. Workloads, 1 torch thread:

- ``train``: the claims map's EP until-memorised stack (letters16, the ten K of Figure 2, beta 0.1
  one-sided) for ``--epochs`` epochs;
- ``recall``: Figure 2's recall (protocol initial, p = 0.25, 100 test patterns per letter) by the ten
  K of EP's stack trained (once per epoch, not measured) for 30 epochs.

Figures are for the measured part only (process resource usage before and after it). With
``--torch-device cuda`` the workloads run there: the figures are then the host side's (memory on
the GPU comes from torch's own caching allocator, which memprop leaves as it is).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
from memprop._runtime import configure_allocator, configure_threads
threads = configure_threads(1)
allocator = configure_allocator()
workload, epochs, dev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from memprop.experiments.claims.task import sweep_config
from memprop.experiments.reconstruction.config import load_pattern_set
cfg = sweep_config({"cell": "ep/one_sided/0.1/until-memorised", "K": "0,20,40,60,70,80,85,90,95,99",
                    "epochs": epochs, "p_fig2": "0.25", "samples_fig2": 100, "torch_device": dev}, 0)
ps = load_pattern_set(cfg.patterns, cfg.recall_dtype())
Ks = cfg.k_grid(ps.n)
def usage():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), u.ru_utime, u.ru_stime, u.ru_minflt
from memprop.experiments.reconstruction.run import Job, Row, evaluate, train_stack
from memprop.experiments.reconstruction.config import derive_seed
if workload == "recall":  # weights to recall with: the EP stack trained once-per-epoch (not measured)
    cfg = sweep_config({"cell": "ep/one_sided/0.1/once", "K": "0,20,40,60,70,80,85,90,95,99", "epochs": 30,
                        "p_fig2": "0.25", "samples_fig2": 100, "torch_device": dev}, 0)
    W = train_stack("ep", [Row("ep", cfg.eta_of("ep", ps.n), k, 0) for k in Ks], ps.patterns, cfg)["W"]
t0 = usage()
if workload == "train":
    tr = train_stack("ep", [Row("ep", cfg.eta_of("ep", ps.n), k, 0) for k in Ks], ps.patterns, cfg)
    W = tr["W"].double()
    check = float((W * torch.arange(W.numel(), dtype=torch.float64).reshape(W.shape).sin()).sum())
else:
    res = evaluate([Job("ep", tuple(("ep", k) for k in Ks), W, 0.25, 100, derive_seed(0, "fig2", 0.25))], ps.patterns, cfg)
    check = sum(r["mean"] for r in res.values())
d = [b - a for a, b in zip(t0, usage())]
print(json.dumps({"wall": d[0], "user": d[1], "sys": d[2], "faults": d[3],
                  "check": check, "threads": threads, "allocator": allocator}))
"""


def run(workload: str, setting: str, epochs: int, device: str) -> dict:
    env = {**os.environ, "MEMPROP_ALLOCATOR": setting}
    out = subprocess.run([sys.executable, "-c", CHILD, workload, str(epochs), device], env=env, capture_output=True,
                         text=True)
    if out.returncode:
        sys.exit(f"{workload} ({setting}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs of the train workload")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workloads", nargs="+", choices=("train", "recall"), default=["train", "recall"])
    p.add_argument("--torch-device", default="cpu", help="torch device of the workloads (default cpu)")
    args = p.parse_args(argv)
    from memprop._runtime import torch_device

    torch_device(args.torch_device)  # one line here, not a failure in every child
    print(f"{'workload':8} {'round':>5} {'allocator':9} {'wall s':>7} {'user s':>7} {'sys s':>6} "
          f"{'cpu s':>6} {'faults':>8}  checksum (process CPU time; 1 torch thread; {args.torch_device})")
    for workload in args.workloads:
        for r in range(args.rounds):
            for setting in ("system", "tuned"):
                m = run(workload, setting, args.epochs, args.torch_device)
                print(f"{workload:8} {r:5d} {m['allocator']:9} {m['wall']:7.2f} {m['user']:7.2f} {m['sys']:6.2f} "
                      f"{m['user'] + m['sys']:6.2f} {m['faults']:8d}  {m['check']:.12g}", flush=True)


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
