"""What-if for issue 10: EP training with the relaxation as one native loop (not part of the library).

memprop's layered kernel runs each Euler step of Eq. (21) as five torch operations (two small
matrix products, the drive, the leak, the clip). At minibatch 20 that is dispatch-bound: about
14 us per step for 0.4 MFLOP. This script asks how much a native loop would buy. It builds a
C++ loop with ``torch.utils.cpp_extension`` (GCC/Clang vector extensions, no intrinsics), which
does each step in one pass over the state: both products, the drive, the leak, the nudge and the
clip. It then times ``ep_throughput.py``'s EP epoch (784-500-10, 20 + 4 steps, persistent
states) twice in alternating rounds: as memprop runs it, and with the kernel's fixed-step fast
path (``LayeredKernel.iterate``) replaced by the native loop. It prints seconds per 1000 samples
and the floor/measured ratio of both, with the torch thread count.

The native loop sums each product in its own order, so its numbers differ from memprop's in the
last bits. The script prints how far apart the weights of the two are after one epoch from the
same start.

Needs a C++ compiler; torch caches the build (about 25 s the first time). CPU and float32 only.

    python benchmarks/native_relaxation.py [--batch 20 100 500] [--repeats 5] [--samples 10000] [--torch-device cpu]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _script import add_ep_options

from memprop._runtime import configure_allocator, configure_threads, torch_device
from memprop.errors import ConfigError

SOURCE = r"""
#include <torch/extension.h>
#include <algorithm>
#include <cstring>
#include <vector>

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef float v1 __attribute__((vector_size(4), aligned(4)));
template <typename V> static inline V load(const float* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
template <typename V> static inline void store(float* p, V v) { std::memcpy(p, &v, sizeof(V)); }

struct Term { const float* M; int64_t src, len; };      // eps W (rows of the block x len), source rows
struct Block { int64_t first, rows; std::vector<Term> terms; };

// Rows [r0, r0 + R) of one block, columns [b0, b0 + lanes): the products summed over every term,
// then + c + keep u (+ nudge u on the nudged block), clipped to [0, 1]. State is unit-major (n, B).
template <typename V, int R>
static inline void tile(const float* __restrict u, float* __restrict out, const float* __restrict c, int64_t B,
                        int64_t b0, const Block& blk, int64_t r0, float keep, float nudge, bool nudged) {
  V acc[R];
  for (int i = 0; i < R; ++i) acc[i] = V{};
  for (const Term& t : blk.terms) {
    const float* s = u + t.src * B + b0;
    const float* M = t.M + r0 * t.len;
    for (int64_t k = 0; k < t.len; ++k) {
      const V sk = load<V>(s + k * B);
      for (int i = 0; i < R; ++i) acc[i] += M[i * t.len + k] * sk;
    }
  }
  for (int i = 0; i < R; ++i) {
    const int64_t row = blk.first + r0 + i;
    const V ur = load<V>(u + row * B + b0);
    V v = acc[i] + load<V>(c + row * B + b0);
    v = v + keep * ur;
    if (nudged) v = v + nudge * ur;
    v = v < 0.0f ? V{} : v;
    v = v > 1.0f ? V{} + 1.0f : v;
    store<V>(out + row * B + b0, v);
  }
}

template <typename V>
static void columns(const float* u, float* out, const float* c, int64_t B, int64_t b0, const std::vector<Block>& blocks,
                    float keep, float nudge, int64_t nudged_block) {
  for (size_t j = 0; j < blocks.size(); ++j) {
    const Block& blk = blocks[j];
    const bool nudged = (int64_t)j == nudged_block;
    int64_t r = 0;
    for (; r + 8 <= blk.rows; r += 8) tile<V, 8>(u, out, c, B, b0, blk, r, keep, nudge, nudged);
    for (; r + 4 <= blk.rows; r += 4) tile<V, 4>(u, out, c, B, b0, blk, r, keep, nudge, nudged);
    for (; r < blk.rows; ++r) tile<V, 1>(u, out, c, B, b0, blk, r, keep, nudge, nudged);
  }
}

template <typename V>
static void step(const float* u, float* out, const float* c, int64_t B, const std::vector<Block>& blocks,
                 float keep, float nudge, int64_t nudged_block) {
  constexpr int64_t W = sizeof(V) / sizeof(float);
  int64_t b0 = 0;
  for (; b0 + W <= B; b0 += W) columns<V>(u, out, c, B, b0, blocks, keep, nudge, nudged_block);
  if (b0 < B) columns<V>(u, out, c, B, B - W, blocks, keep, nudge, nudged_block);  // last lanes, overlapping
}

// n steps from u, ping-ponging between a and b (a first); returns the buffer holding the last.
torch::Tensor relax(torch::Tensor u, torch::Tensor a, torch::Tensor b, torch::Tensor c,
                    std::vector<torch::Tensor> mats, std::vector<int64_t> layout, int64_t n,
                    double keep, double nudge, int64_t nudged_block) {
  const int64_t B = u.size(1);
  std::vector<Block> blocks;
  size_t p = 0, m = 0;
  const int64_t n_blocks = layout[p++];
  for (int64_t j = 0; j < n_blocks; ++j) {
    Block blk;
    blk.first = layout[p++];
    blk.rows = layout[p++];
    const int64_t n_terms = layout[p++];
    for (int64_t t = 0; t < n_terms; ++t) {
      Term term;
      term.M = mats[m++].data_ptr<float>();
      term.src = layout[p++];
      term.len = layout[p++];
      blk.terms.push_back(term);
    }
    blocks.push_back(blk);
  }
  torch::Tensor cur = u;
  for (int64_t it = 0; it < n; ++it) {
    torch::Tensor& out = (it % 2 == 0) ? a : b;
    const float* up = cur.data_ptr<float>();
    float* op = out.data_ptr<float>();
    const float* cp = c.data_ptr<float>();
    if (B >= 16) step<v16>(up, op, cp, B, blocks, keep, nudge, nudged_block);
    else if (B >= 8) step<v8>(up, op, cp, B, blocks, keep, nudge, nudged_block);
    else if (B >= 4) step<v4>(up, op, cp, B, blocks, keep, nudge, nudged_block);
    else step<v1>(up, op, cp, B, blocks, keep, nudge, nudged_block);
    cur = out;
  }
  return cur;
}
"""


def build():
    """The native loop, built (or loaded from torch's extension cache)."""
    from torch.utils.cpp_extension import load_inline

    try:
        name = f"memprop_native_relaxation_{torch.backends.cpu.get_cpu_capability().lower()}"  # -march=native
        return load_inline(name, cpp_sources=SOURCE, functions=["relax"],
                           extra_cflags=["-O3", "-march=native"], verbose=False)
    except (RuntimeError, OSError) as e:  # no compiler, or the build failed
        raise ConfigError(f"the native loop could not be built here (a C++ compiler is needed): "
                          f"{str(e).strip().splitlines()[-1]}") from None


def _layout(kernel) -> tuple[list[int], list[torch.Tensor], int]:
    """The kernel's product terms grouped by destination block, as the C++ loop reads them."""
    blocks: dict[tuple[int, int], list] = {}
    for dst, M, src, _first in kernel.terms:
        blocks.setdefault((dst.start, dst.stop), []).append((M, src))
    layout, mats = [len(blocks)], []
    for (a, b), terms in blocks.items():
        layout += [a, b - a, len(terms)]
        for M, src in terms:
            layout += [src.start, src.stop - src.start]
            mats.append(M)
    return layout, mats, len(blocks) - 1


def native_iterate(ext, eager):
    """``LayeredKernel.iterate`` with its fixed-step fast path run by ``ext`` (everything else,
    and any kernel it cannot take, as memprop runs it)."""

    def iterate(self, u, n, residual):
        if (n == 0 or self.general_first or residual or u.dtype != torch.float32 or u.device.type != "cpu"
                or any(M is None for _, M, _, _ in self.terms)):
            return eager(self, u, n, residual)
        plan = self.__dict__.get("_native_plan")
        if plan is None:
            plan = self.__dict__["_native_plan"] = _layout(self)
        layout, mats, last = plan
        a, b = self.bufs["a"], self.bufs["b"]
        if u is a:
            a, b = b, a
        return ext.relax(u, a, b, self.c, mats, layout, n, self.keep, self.nudge,
                         last if self.beta != 0.0 else -1), None

    return iterate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ep_options(p, batch=(20, 100, 500), device_help="torch device: the native loop runs on the CPU only")
    args = p.parse_args(argv)
    if torch_device(args.torch_device).type != "cpu":
        raise ConfigError(f"torch_device {args.torch_device!r}: the native loop runs on the CPU only; use 'cpu'")
    threads = configure_threads(args.threads)
    allocator = configure_allocator()
    import ep_throughput as E

    from memprop.networks.layered import LayeredKernel

    ext = build()
    eager = LayeredKernel.iterate
    patched = native_iterate(ext, eager)

    def epoch(native: bool, setup) -> float:
        LayeredKernel.iterate = patched if native else eager
        try:
            return E.ep_epoch(*setup)[0]
        finally:
            LayeredKernel.iterate = eager

    setups = {(b, native): E.ep_setup(args.samples, b) for b in args.batch for native in (False, True)}
    drift = {}
    for b in args.batch:  # one epoch of each from the same start: how far apart the weights end
        ws = {}
        for native in (False, True):
            state = setups[(b, native)][0]
            epoch(native, setups[(b, native)])
            ws[native] = torch.cat([state.network.W0.flatten(), state.network.W1.flatten()])
        drift[b] = (float((ws[True] - ws[False]).abs().max()), float(ws[False].abs().max()))
    rates, wall = [], {k: [] for k in setups}
    for _ in range(args.repeats):  # alternating rounds: both see the same machine
        rates.append(E.matmul_rate(1024, 1024, 1024, repeats=3))
        for key, setup in setups.items():
            wall[key].append(epoch(key[1], setup))
    floor = E.FLOPS_PER_SAMPLE * 1000 / max(rates)
    print("EP training, 784-500-10, 20 + 4 steps: memprop's kernel against a native relaxation loop")
    print(f"torch {torch.__version__}, threads used: {threads}, allocator: {allocator}, matmul "
          f"{max(rates) / 1e9:.1f} GFLOP/s (1024^3), floor {floor * 1e3:.2f} ms per 1000 samples")
    for b in args.batch:
        m, n = (min(wall[(b, x)]) for x in (False, True))
        med = [statistics.median(wall[(b, x)]) for x in (False, True)]
        print(f"minibatch {b}: memprop {m:.4f} s per 1000 (ratio {floor / m:.3f}; median {med[0]:.4f}), native "
              f"{n:.4f} s (ratio {floor / n:.3f}; median {med[1]:.4f}); {m / n:.2f}x; weights after one "
              f"epoch differ by at most {drift[b][0]:.2g} (largest weight {drift[b][1]:.2g})")
    return 0


if __name__ == "__main__":
    from _script import run_main

    run_main(main)
