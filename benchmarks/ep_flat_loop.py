"""What the engine's layers cost EP training: memprop's trainer against the same operations as one flat loop.

``ep_throughput.py`` trains 784-500-10 by EP through the engine: ``train_epoch`` asks the rule
for an estimate, the rule relaxes the network twice through the solver and the layered kernel,
and ``apply_update`` applies the factored gradient. This script writes the same torch operations,
in the same order, as one flat loop over minibatches, with every buffer made once: the deferred
W_0 window (``memprop.learning.deferral_window``), the drive, the 20 free and 4 nudged steps of
Eq. (21) in the kernel's unit-major layout, the contrast, the updates and the persistent states.

It checks that both give bit-identical weights and states after one epoch from the same start,
then times both in alternating rounds. If the flat loop were much faster, the engine's layers
would be the cost to cut; if it is not, what remains is the cost of torch's operations on
minibatch-sized tensors.

    python benchmarks/ep_flat_loop.py [--batch 20 100 500] [--repeats 5] [--samples 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _script import add_ep_options

from memprop._runtime import configure_allocator, configure_threads, synchronize, torch_device
from memprop.errors import ConfigError
from memprop.experiments.classification.training import W0_WINDOW
from memprop.learning import deferral_window


class FlatLoop:
    """One EP epoch of the benchmark's network as a flat loop over minibatches (CPU or any device)."""

    def __init__(self, state, cfg, x, y):
        net = state.network
        self.W0, self.W1 = net.W0.detach().clone(), net.W1.detach().clone()
        self.b1, self.b2 = net.b1.detach().clone(), net.b2.detach().clone()
        self.S = state.persistent.clone()
        self.x, self.t = x.to(self.W0), torch.nn.functional.one_hot(y, 10).to(self.W0)
        self.eps, self.beta, (self.lr0, self.lr1) = cfg.epsilon, cfg.beta, cfg.alphas
        self.B = B = cfg.batch_size
        self.K = deferral_window(B, 784, 500, W0_WINDOW)
        n1, n_out, n = 500, 10, 510
        new = lambda *shape: torch.empty(*shape, dtype=self.W0.dtype, device=self.W0.device)  # noqa: E731
        self.xo, self.to, self.so = new(*self.x.shape), new(*self.t.shape), new(*self.S.shape)
        self.proj, self.pending = new(self.K * B, n1), new(self.K * B, n1)
        self.gram, self.pj, self.drive = new(B, self.K * B), new(B, n1), new(B, n)
        self.M, self.Mt = new(n1, n_out), new(n_out, n1)
        self.c, self.cn, self.u0 = new(n, B), new(n, B), new(n, B)
        self.free, self.nudged = (new(n, B), new(n, B)), (new(n, B), new(n, B))
        self.delta, self.bsum = new(n, B), new(n)

    def _relax(self, u, bufs, c, steps, nudged):
        """Eq. (21), unit-major: out = clip(eps W-products + eps d + (1 - eps) s [- eps beta s_out])."""
        keep, nudge, cur = 1.0 - self.eps, -self.eps * self.beta, u
        for it in range(steps):  # loop over steps
            out = bufs[it % 2]
            torch.mm(self.M, cur[500:], out=out[:500])  # eps W_1 s_out into the hidden rows
            torch.mm(self.Mt, cur[:500], out=out[500:])  # eps W_1^T s_hidden into the output rows
            out.add_(c)
            out.add_(cur, alpha=keep)
            if nudged:
                out[500:].add_(cur[500:], alpha=nudge)
            out.clamp_(0.0, 1.0)
            cur = out
        return cur

    @torch.no_grad()
    def epoch(self, order: torch.Tensor) -> None:
        B, K, eps, beta = self.B, self.K, self.eps, self.beta
        torch.index_select(self.x, 0, order, out=self.xo)
        torch.index_select(self.t, 0, order, out=self.to)
        torch.index_select(self.S, 0, order, out=self.so)
        div = B * beta
        xw = None
        for i in range(self.x.shape[0] // B):  # loop over minibatches
            r0, a = i * B, (i % K) * B
            if a == 0:  # a window starts: apply the last one's W_0 updates, project its inputs
                if xw is not None:
                    self.W0.addmm_(xw.T, self.pending)
                xw = self.xo[r0:r0 + K * B]
                torch.mm(xw, self.W0, out=self.proj)
            xb, sb = self.xo[r0:r0 + B], self.so[r0:r0 + B]
            if a:  # the window's earlier updates, applied to this minibatch's projection
                torch.mm(xb, xw[:a].T, out=self.gram[:, :a])
                p = torch.addmm(self.proj[a:a + B], self.gram[:, :a], self.pending[:a], out=self.pj)
            else:
                p = self.proj[:B]
            torch.add(p, self.b1, out=self.drive[:, :500])
            self.drive[:, 500:].copy_(self.b2.expand(B, 10))
            torch.mul(self.W1, eps, out=self.M)
            torch.mul(self.W1.T, eps, out=self.Mt)
            torch.mul(self.drive.T, eps, out=self.c)
            self.u0.copy_(sb.T)
            lo, hi = sb.aminmax()
            if not (float(lo) >= 0.0 and float(hi) <= 1.0):
                raise ConfigError("the flat loop needs stored states in [0, 1]")
            f = self._relax(self.u0, self.free, self.c, 20, False)
            self.cn.copy_(self.c)
            self.cn[500:].add_(self.to[r0:r0 + B].T, alpha=eps * beta)
            pl = self._relax(f, self.nudged, self.cn, 4, True)
            torch.sub(pl, f, out=self.delta)
            torch.sum(self.delta, 1, out=self.bsum)
            torch.mul(self.delta.T[:, :500], self.lr0 / div, out=self.pending[a:a + B])
            pT, fT = pl.T, f.T
            self.W1.addmm_(pT[:, :500].T, pT[:, 500:], alpha=self.lr1 / div)
            self.W1.addmm_(fT[:, :500].T, fT[:, 500:], alpha=-self.lr1 / div)
            self.b1.add_(self.bsum[:500], alpha=self.lr0 / div)
            self.b2.add_(self.bsum[500:], alpha=self.lr1 / div)
            sb.copy_(fT)
        self.W0.addmm_(xw.T, self.pending)
        self.S.index_copy_(0, order, self.so)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ep_options(p, batch=(20, 100, 500))
    args = p.parse_args(argv)
    device = torch_device(args.torch_device)
    for b in args.batch:
        if b < 1 or args.samples % b:
            raise ConfigError(f"--batch {b}: the flat loop needs minibatches that divide --samples {args.samples}")
    threads = configure_threads(args.threads)
    allocator = configure_allocator()
    import ep_throughput as E

    setups, flats, same = {}, {}, {}
    for b in args.batch:  # one epoch of each from the same start and order: bit-identical?
        setups[b] = state, cfg, x, y = E.ep_setup(args.samples, b, args.torch_device)
        flats[b] = flat = FlatLoop(state, cfg, x, y)
        g = state.generator.get_state()
        order = torch.randperm(args.samples, generator=state.generator).to(device)
        state.generator.set_state(g)  # the engine's epoch draws the same order
        E.ep_epoch(state, cfg, x, y)
        flat.epoch(order)
        net = state.network
        same[b] = all(torch.equal(u, v) for u, v in ((flat.W0, net.W0), (flat.W1, net.W1), (flat.b1, net.b1),
                                                      (flat.b2, net.b2), (flat.S, state.persistent)))
    order_gen = torch.Generator().manual_seed(1)
    rates, engine, flat_s = [], {b: [] for b in args.batch}, {b: [] for b in args.batch}
    for _ in range(args.repeats):  # alternating rounds: both see the same machine
        rates.append(E.matmul_rate(1024, 1024, 1024, repeats=3, device=device))
        for b in args.batch:
            engine[b].append(E.ep_epoch(*setups[b])[0])
            order = torch.randperm(args.samples, generator=order_gen).to(device)
            synchronize(device)
            t = time.perf_counter()
            flats[b].epoch(order)
            synchronize(device)
            flat_s[b].append((time.perf_counter() - t) * 1000 / args.samples)
    floor = E.FLOPS_PER_SAMPLE * 1000 / max(rates)
    print("EP training, 784-500-10, 20 + 4 steps: memprop's trainer against the same operations as one flat loop")
    print(f"torch {torch.__version__}, threads used: {threads}, allocator: {allocator}, torch device: {device}, "
          f"matmul {max(rates) / 1e9:.1f} GFLOP/s (1024^3), floor {floor * 1e3:.2f} ms per 1000 samples")
    for b in args.batch:
        e, f = min(engine[b]), min(flat_s[b])
        print(f"minibatch {b} (W_0 window {flats[b].K}): engine {e:.4f} s per 1000 (ratio {floor / e:.3f}; median "
              f"{statistics.median(engine[b]):.4f}), flat loop {f:.4f} s (ratio {floor / f:.3f}; median "
              f"{statistics.median(flat_s[b]):.4f}); engine / flat {e / f:.2f}; one epoch from the same start "
              f"{'bit-identical' if same[b] else 'NOT bit-identical'}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
