r"""The layered energy network of Scellier & Bengio (2017), used by Eq. (20)-(21).

Layers x = s_0 (clamped input), s_1, ..., s_L (output); weights W_k (n_k, n_{k+1}) connect layer
k to k + 1 in both directions (symmetric connections, no skip or lateral links); biases b_k on
layers k >= 1; rho is the hard sigmoid clip(s, 0, 1).

.. math::
    E(s) = \tfrac12 \sum_{k \ge 1} \|s_k\|^2 - \sum_{k=0}^{L-1} \rho(s_k)^\top W_k \rho(s_{k+1})
           - \sum_{k \ge 1} b_k^\top \rho(s_k)

The discrete relaxation of Eq. (21) is s <- rho(s - epsilon dF/ds) with F = E + beta C; its
fixed points satisfy s_k = rho(h_k) with h_k = W_{k-1}^T rho(s_{k-1}) + W_k rho(s_{k+1}) + b_k
(and, on the outputs, (h_L + beta T) / (1 + beta)).

The state tensor concatenates the non-input layers: (*batch, n_1 + ... + n_L). The input's
projection x W_0 + b_1 is computed once per input (``drive``), not at every relaxation step.

The fused kernel (:class:`LayeredKernel`). Once every unit lies in [0, 1] (after the first step,
or from the start for zero or stored states) rho(s) = s and rho'(s) = 1, so one step of layer k is

.. math::
    s_k \leftarrow \mathrm{clip}\big((1 - \epsilon - \epsilon\beta m_k)\, s_k
        + \epsilon (d_k + \beta m_k T) + \epsilon\, W_{k-1}^\top s_{k-1} + \epsilon\, W_k s_{k+1},\ 0, 1\big)

with d_k the constant drive and m_k = 1 on the output layer only; all layers update
synchronously. The kernel keeps the state *unit-major*, one column per example, (n_state, B), so
that each layer is a contiguous block of rows: a step of a one-hidden-layer net is then five
tensor operations on preallocated buffers (two small products eps W s into the layers' row
blocks, + eps d and + (1 - eps) s on the whole state, one clip; one more on the output block
when nudged), whatever the batch size. (The same products on the example-major (B, n_state)
layout measured about 1.2x slower per step with MKL.) The scaled weights eps W_k and the scaled
drive are computed once per relaxation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from .._validate import all_finite, positive_int
from ..errors import ConfigError
from .activations import HardSigmoid
from .base import AbstractEnergyNetwork
from .factored import OuterProducts, Scaled
from .kernel import Kernel, Workspace


class LayeredNetwork(AbstractEnergyNetwork):
    """Layered energy network (any number of hidden layers). Final class.

    Parameters ``W0 ... W{L-1}`` and ``b1 ... bL`` (``nn.Parameter``, no autograd); the lists
    ``weights`` and ``biases`` give them in order.

    Args:
        weights: W_0 ... W_{L-1}, W_k of shape (n_k, n_{k+1}).
        biases: b_1 ... b_L, b_k of shape (n_k,).
    """

    bounded: ClassVar[bool] = True
    input_weight = "W0"
    """The parameter through which the clamped input enters the drive, x W_0 (trainers may
    batch its products over several minibatches; see :func:`memprop.learning.train_epoch`)."""

    def __init__(self, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]):
        super().__init__()
        weights, biases = list(weights), list(biases)
        if len(weights) < 1 or len(weights) != len(biases):
            raise ConfigError(
                f"weights and biases must be non-empty lists of equal length, got {len(weights)} weights "
                f"and {len(biases)} biases"
            )
        for k, (w, b) in enumerate(zip(weights, biases)):
            if not isinstance(w, torch.Tensor) or w.ndim != 2:
                raise ConfigError(f"weights[{k}] must be a 2-D tensor, got {getattr(w, 'shape', type(w))}")
            if not isinstance(b, torch.Tensor) or tuple(b.shape) != (w.shape[1],):
                raise ConfigError(f"biases[{k}] must have shape ({w.shape[1]},), got {getattr(b, 'shape', b)}")
            if k and w.shape[0] != weights[k - 1].shape[1]:
                raise ConfigError(
                    f"weights[{k}] has {w.shape[0]} rows but layer {k} has {weights[k - 1].shape[1]} units"
                )
            if not all_finite(w) or not all_finite(b):
                raise ConfigError(f"weights[{k}] / biases[{k}] contain NaN or Inf")
        L = len(weights)
        self.weight_names = (*(f"W{k}" for k in range(L)), *(f"b{k + 1}" for k in range(L)))
        for k in range(L):
            setattr(self, f"W{k}", nn.Parameter(weights[k], requires_grad=False))
            setattr(self, f"b{k + 1}", nn.Parameter(biases[k], requires_grad=False))
        self.activation = HardSigmoid()
        self.sizes = (weights[0].shape[0], *(w.shape[1] for w in weights))
        self.n_state = sum(self.sizes[1:])
        self._offsets = [0]
        for n in self.sizes[1:]:
            self._offsets.append(self._offsets[-1] + n)
        self._blocks = [slice(a, b) for a, b in zip(self._offsets[:-1], self._offsets[1:])]
        self._grad_names = [(f"W{k}", f"b{k + 1}") for k in range(L)]

    @classmethod
    def glorot(cls, sizes: Sequence[int], *, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> LayeredNetwork:
        """Glorot-uniform weights, zero biases (Scellier & Bengio's initialisation); drawn in
        float64 on the CPU, so that the numbers are the same on every device."""
        sizes = [positive_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)]
        if len(sizes) < 2:
            raise ConfigError(f"sizes must list at least an input and an output layer, got {sizes}")
        weights, biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            bound = math.sqrt(6.0 / (n_in + n_out))
            u = torch.rand(n_in, n_out, generator=generator, dtype=torch.float64)
            weights.append(((2 * u - 1) * bound).to(device=device, dtype=dtype))
            biases.append(torch.zeros(n_out, dtype=dtype, device=device))
        return cls(weights, biases)

    @property
    def weights(self) -> list[torch.Tensor]:
        """W_0 ... W_{L-1} (current tensors; on hardware, the read-out)."""
        return [getattr(self, f"W{k}") for k in range(len(self.sizes) - 1)]

    @property
    def biases(self) -> list[torch.Tensor]:
        """b_1 ... b_L."""
        return [getattr(self, f"b{k + 1}") for k in range(len(self.sizes) - 1)]

    @property
    def output_index(self) -> slice:
        return slice(self._offsets[-2], self._offsets[-1])

    def blocks(self) -> list[slice]:
        """Index ranges of the layers s_1 ... s_L in a state's last dimension."""
        return list(self._blocks)

    def free_units(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Units whose input h lies strictly inside (0, 1): the clip is inactive there, and clipped
        units do not move under small perturbations. (Judged on h, not on s, which an
        accelerated solver may leave a rounding error away from the bound.)"""
        h = self.hidden_input(s, d)
        return (h > 0.0) & (h < 1.0)

    def project(self, s: torch.Tensor) -> torch.Tensor:
        return s.clamp(0.0, 1.0)

    def project_(self, s: torch.Tensor) -> torch.Tensor:
        return s.clamp_(0.0, 1.0)

    def initial_state(self, batch_shape, *, generator=None, dtype=None, device=None) -> torch.Tensor:
        """Zero state (Scellier & Bengio start the free phase from 0 unless states persist)."""
        p = self.W0
        return torch.zeros(*batch_shape, self.n_state, dtype=dtype or p.dtype, device=device or p.device)

    def layers(self, s: torch.Tensor) -> list[torch.Tensor]:
        """Views of the non-input layers s_1 ... s_L of a flat state."""
        return [s[..., a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

    def drive(self, x: torch.Tensor | None, batch_shape: tuple[int, ...] | None = None, *,
              projection: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """[x W_0 + b_1, b_2, ..., b_L]: the constant part of every layer's input, once per x.

        ``projection``: x W_0 when the caller has it (then only b_1 is added here); ``out``: a
        (B, n_state) buffer to write into (a training loop allocates nothing per minibatch)."""
        if x is None:
            raise ConfigError("x (the clamped input layer) is required by a layered network")
        if x.shape[-1] != self.sizes[0]:
            raise ConfigError(f"x must have last dimension {self.sizes[0]}, got shape {tuple(x.shape)}")
        b = [self.tensor(names[1]) for names in self._grad_names]
        if out is not None and x.ndim == 2:
            first = out[:, self._blocks[0]]
            if projection is not None:
                torch.add(projection, b[0], out=first)
            else:
                torch.addmm(b[0], x, self.tensor("W0"), out=first)
            for blk, bk in zip(self._blocks[1:], b[1:]):  # loop over layers
                out[:, blk].copy_(bk.expand(x.shape[0], bk.shape[0]))
            return out
        if projection is not None:
            first = projection + b[0]
        elif x.ndim == 2:
            first = torch.addmm(b[0], x, self.W0)  # (B, n_1)
        else:
            first = torch.matmul(x, self.W0) + b[0]
        if len(b) == 1:
            return first
        rest = [bk.expand(*first.shape[:-1], bk.shape[0]) for bk in b[1:]]
        return torch.cat([first, *rest], dim=-1)

    def hidden_input(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        r"""h = d + W_{k-1}^T rho(s_{k-1}) + W_k rho(s_{k+1}) for every non-input layer k."""
        r = self.layers(self.activation(s))
        W = self.weights
        parts = []
        for k in range(len(r)):  # loop over layers (a handful), not over units
            h = d[..., self._offsets[k]:self._offsets[k + 1]]
            if k > 0:
                h = h + torch.matmul(r[k - 1], W[k])
            if k + 1 < len(r):
                h = h + torch.matmul(r[k + 1], W[k + 1].T)
            parts.append(h)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def energy(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        r = self.activation(s)
        rl = self.layers(r)
        W = self.weights
        e = 0.5 * (s * s).sum(-1) - (d * r).sum(-1)
        for k in range(1, len(rl)):
            e = e - (torch.matmul(rl[k - 1], W[k]) * rl[k]).sum(-1)
        return e

    def vector_field(self, s, d, *, beta=0.0, target=None, out=None):
        """-dF/ds = -s + rho'(s) h + beta (T - s) on the outputs."""
        f = self.activation.prime(s) * self.hidden_input(s, d) - s
        nudge = self._nudge(s, beta, target)
        f = f if nudge is None else f + nudge
        return f if out is None else out.copy_(f)

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        """Phi(s) = rho((h + beta m T) / (1 + beta m))."""
        h = self.hidden_input(s, d)
        if beta != 0.0:
            h = (h + self._nudge(torch.zeros_like(s), beta, target)) / self._output_weight(s, beta)
        return self.activation(h)

    def kernel(self, d, *, h, beta=0.0, target=None, work=None, tag="k", rows=False):
        if rows:  # dropping rows needs the (*batch, n) layout
            return Kernel(self, d, h=h, beta=beta, target=target, work=work, tag=tag)
        work = Workspace() if work is None else work
        B = d.shape[0] if d.ndim == 2 else d.reshape(-1, d.shape[-1]).shape[0]
        key = ("layered-kernel", tag, id(self), B, d.dtype, d.device)
        kernel = work.plans.get(key)
        if kernel is None or kernel.network is not self:
            kernel = work.plans[key] = LayeredKernel(self, B, d, work, tag)
        return kernel.bind(d, h=h, beta=beta, target=target)

    def energy_grads(self, s: torch.Tensor, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """dE/dW_k = -rho(s_k)^T rho(s_{k+1}) and dE/db_k = -rho(s_k), averaged over samples."""
        if x is None:
            raise ConfigError("x (the clamped input layer) is required for a layered network's gradients")
        r = [x] + self.layers(self.activation(s))  # the clamped input enters E as x (Eq. above)
        r = [t.reshape(-1, t.shape[-1]) for t in r]
        m = r[0].shape[0]
        out = {f"W{k}": -(r[k].T @ r[k + 1]) / m for k in range(len(self.sizes) - 1)}
        out.update({f"b{k}": -r[k].mean(0) for k in range(1, len(r))})
        return out

    def energy_grad_contrast(self, s_a, s_b, x, scale, work=None):
        """(dE/dtheta(s_a) - dE/dtheta(s_b)) / scale as factors, for minibatch states (m, n_state)
        with rho(s) = s (states of Eq. 21 lie in [0, 1]): for W_k (k >= 1) the two outer products
        -s_k^T s_{k+1} / m of each state; for W_0 one product, x^T (s_a - s_b)_1, the input being
        clamped in both; for the biases the summed difference. The difference and its sum are
        taken once over the whole state (in the states' memory layout, unit-major for the
        kernel's), with buffers from ``work``."""
        if s_a.ndim != 2 or x is None:
            return super().energy_grad_contrast(s_a, s_b, x, scale, work)
        m = s_a.shape[0]
        div = m * scale  # dE/dtheta = -a^T b / m
        if work is None:
            delta = (s_a.mT - s_b.mT).mT
            bsum = delta.mT.sum(1)
        else:
            dbuf = work.get("ep.delta", tuple(s_a.mT.shape), s_a)
            torch.sub(s_a.mT, s_b.mT, out=dbuf)
            delta = dbuf.mT
            bsum = torch.sum(dbuf, 1, out=work.get("ep.bsum", (self.n_state,), s_a))
        va, vb, vd, vs = self._layer_views(s_a), self._layer_views(s_b), self._layer_views(delta), self._layer_views(bsum)
        out: dict = {"W0": OuterProducts(((x, vd[0], -1.0),), div)}
        for k in range(1, len(va)):  # loop over layers
            out[self._grad_names[k][0]] = OuterProducts(((va[k - 1], va[k], -1.0), (vb[k - 1], vb[k], 1.0)), div)
        for k, names in enumerate(self._grad_names):
            out[names[1]] = Scaled(vs[k], -1.0, div)
        return out

    def _layer_views(self, t: torch.Tensor) -> list[torch.Tensor]:
        """The layers of a state (or of a per-unit vector), as views; cached per memory layout,
        since the kernels' states live in a few fixed buffers (slicing costs more than the
        arithmetic on minibatch-sized tensors)."""
        key = (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype)
        cache = self.__dict__.setdefault("_view_cache", {})
        views = cache.get(key)
        if views is None or views[0] is not t and views[1][0].data_ptr() != t.data_ptr():
            if len(cache) > 32:
                cache.clear()
            views = cache[key] = (t, [t[..., blk] for blk in self._blocks])
        return views[1]

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def _version(t: torch.Tensor) -> object:
    """``t._version``, or a fresh object (never equal to a stamp) for an inference tensor, which
    tracks no version: then nothing is reused."""
    if t.is_inference():
        return object()
    return t._version


class _Shared:
    """What every kernel of one network in one workspace shares: eps W_k and eps W_k^T, and the
    scaled drive of the last drive seen (the free and nudged phases of a minibatch share both).
    Each is refreshed only when its source changed: a stamp keeps the source tensor itself
    (alive, so that no other tensor can take its address) with its address and version."""

    def __init__(self, network: LayeredNetwork, like: torch.Tensor, work):
        self.network, self.like, self.work = network, like, work
        self.mats: dict[tuple[int, bool], torch.Tensor] = {}
        self.stamp: dict[tuple[int, bool], tuple] = {}
        self.names = [f"W{k}" for k in range(len(network.sizes) - 1)]
        self.drive_stamp: tuple | None = None
        self.drive_scaled: torch.Tensor | None = None

    def matrix(self, w: int, transpose: bool) -> torch.Tensor:
        key = (w, transpose)
        if key not in self.mats:
            W = self.network.tensor(self.names[w])
            shape = tuple(W.T.shape if transpose else W.shape)
            self.mats[key] = self.work.get(f"layered.M{w}{'t' if transpose else ''}", shape, self.like)
        return self.mats[key]

    def refresh(self, eps: float) -> None:
        net = self.network
        for key, M in self.mats.items():
            W = net.tensor(self.names[key[0]])
            old = self.stamp.get(key)
            version = object() if W.is_inference() else W._version
            if old is None or old[0] is not W or old[1] != W.data_ptr() or old[2] != version or old[3] != eps:
                torch.mul(W.T if key[1] else W, eps, out=M)
                self.stamp[key] = (W, W.data_ptr(), version, eps)

    def scaled_drive(self, d2: torch.Tensor, eps: float) -> torch.Tensor:
        """eps d, unit-major (n_state, B)."""
        old = self.drive_stamp
        stamp = (d2, d2.data_ptr(), d2.stride(), _version(d2), eps)
        if old is None or old[0] is not d2 or old[1:] != stamp[1:]:
            cd = self.work.get("layered.cd", (d2.shape[1], d2.shape[0]), d2)
            torch.mul(d2.T, eps, out=cd)
            self.drive_scaled, self.drive_stamp = cd, stamp
        return self.drive_scaled


class LayeredKernel(Kernel):
    """Eq. (21) on a :class:`LayeredNetwork`, fused and unit-major (see the module docstring).

    One kernel per (workspace, tag, network, batch size, dtype, device) is kept in the workspace
    (:meth:`LayeredNetwork.kernel`) with its buffers (the start buffer, the two ping-pong
    buffers, the scaled drive) and the views of every step's in-place products, built once;
    :meth:`bind` readies it for one relaxation."""

    def __init__(self, network: LayeredNetwork, B: int, like: torch.Tensor, work, tag: str):
        self.network, self.work, self.tag = network, work, tag
        self.bounded = True
        n = network.n_state
        blocks = network.blocks()
        self.out_block = blocks[-1]
        skey = ("layered-shared", id(network), like.dtype, like.device)
        shared = work.plans.get(skey)
        if shared is None or shared.network is not network:
            shared = work.plans[skey] = _Shared(network, like, work)
        self.shared = shared
        self.bufs = {name: work.get(f"{tag}.{name}", (n, B), like) for name in ("u0", "a", "b")}
        work.admissible.update(self.bufs[k].data_ptr() for k in ("a", "b"))  # clipped outputs
        self.cbuf = work.get(f"{tag}.c", (n, B), like)
        # The coupling products of each layer j as (eps-scaled matrix, source layer): h_j^T gets
        # W_{j-1}^T s_{j-1}^T from below and W_j s_{j+1}^T from above.
        self.terms = []  # (destination block, matrix buffer, source block, first)
        for j in range(len(blocks)):  # loop over layers
            first = True
            for src, w, transpose in ((j - 1, j, True), (j + 1, j + 1, False)):
                if 0 <= src < len(blocks):
                    self.terms.append((blocks[j], shared.matrix(w, transpose), blocks[src], first))
                    first = False
            if first:  # no neighbour (a net without hidden layers): the products give 0
                self.terms.append((blocks[j], None, None, True))
        a, b = self.bufs["a"], self.bufs["b"]
        self.ab, self.ba = self._views(a, b), self._views(b, a)
        self.from_u0 = self._views(self.bufs["u0"], a)
        self.extra: dict[int, tuple] = {}
        self.transposed: dict[int, tuple] = {}

    def _views(self, u: torch.Tensor, out: torch.Tensor) -> tuple:
        products = tuple((out[dst], M, None if src is None else u[src], first) for dst, M, src, first in self.terms)
        return products, out[self.out_block], u[self.out_block]

    def bind(self, d, *, h, beta=0.0, target=None) -> LayeredKernel:
        """Ready the kernel for one relaxation under drive ``d`` (*batch, n_state) and this phase."""
        n = self.network.n_state
        self.d, self.h, self.beta, self.target = d, float(h), float(beta), target
        self.batch = tuple(d.shape[:-1])
        d2 = d if d.ndim == 2 else d.reshape(-1, n)
        eps = self.h
        self.shared.refresh(eps)
        base = self.shared.scaled_drive(d2, eps)
        if self.beta != 0.0:
            c = self.cbuf
            c.copy_(base)
            t2 = target if target.ndim == 2 else target.reshape(-1, target.shape[-1])
            c[self.out_block].add_(t2.T, alpha=eps * self.beta)  # + eps beta T
            self.c = c
        else:
            self.c = base
        self.keep = 1.0 - eps  # coefficient of s_k itself; the nudged output's is keep - eps beta
        self.nudge = -eps * self.beta
        self.general_first = False
        return self

    def start(self, s0):
        n = self.network.n_state
        s2 = s0 if s0.ndim == 2 else s0.reshape(-1, n)
        t = s2.T
        bufs = self.bufs
        ptr = t.data_ptr()
        if t.is_contiguous() and ptr != bufs["a"].data_ptr() and ptr != bufs["b"].data_ptr():
            u = t  # already unit-major (e.g. another phase's result): read in place, never written
            if ptr in self.work.admissible:  # a kernel's output: clipped already
                self.general_first = False
                return u
        else:
            u = bufs["u0"]
            u.copy_(t)
        # Outside [0, 1] rho(s) != s: the first step then takes the model's own field.
        lo, hi = s2.aminmax()
        self.general_first = not (float(lo) >= 0.0 and float(hi) <= 1.0)
        return u

    def state(self, u):
        if len(self.batch) != 1:
            return u.T.reshape(*self.batch, self.network.n_state)
        t = self.transposed.get(u.data_ptr())  # the buffers' transposed views, made once
        if t is None or t[0] is not u:
            t = (u, u.T)
            if u is self.bufs["a"] or u is self.bufs["b"]:
                self.transposed[u.data_ptr()] = t
        return t[1]

    def buffer(self, name, like):
        buf = self.bufs.get(name)
        return buf if buf is not None else super().buffer(name, like)

    def take(self, rows):
        raise NotImplementedError("the unit-major kernel relaxes whole batches (ask for rows=True)")

    def _first_views(self, u: torch.Tensor) -> tuple:
        if u is self.bufs["u0"]:
            return self.from_u0
        ptr = u.data_ptr()
        v = self.extra.get(ptr)
        if v is None or v[2].data_ptr() != u[self.out_block].data_ptr():
            if len(self.extra) > 8:
                self.extra.clear()
            v = self.extra[ptr] = self._views(u, self.bufs["a"])
        return v

    def iterate(self, u, n, residual):
        """The fused loop over prebuilt views."""
        if n == 0:
            return u, None
        if self.general_first or residual:
            return super().iterate(u, n, residual)
        a, b = self.bufs["a"], self.bufs["b"]
        c, keep, nudge, nudged = self.c, self.keep, self.nudge, self.beta != 0.0
        views = self._first_views(u)
        cur = u
        for it in range(n):  # loop over steps, each vectorised over the batch
            out = a if it % 2 == 0 else b
            products, out_last, u_last = views
            for dst, M, src, first in products:  # loop over layers
                if M is None:
                    dst.zero_()
                elif first:
                    torch.mm(M, src, out=dst)
                else:
                    dst.addmm_(M, src)
            out.add_(c)
            out.add_(cur, alpha=keep)
            if nudged:
                out_last.add_(u_last, alpha=nudge)
            out.clamp_(0.0, 1.0)
            cur = out
            views = self.ab if it % 2 == 0 else self.ba
        return cur, None

    def advance(self, u, out, residual):
        if self.general_first:
            self.general_first = False
            net, eps = self.network, self.h
            s = u.T
            d = (self.c / eps).T
            target = None
            if self.beta != 0.0:  # recover the drive without the nudge: c_L / eps - beta T
                target = self.target.reshape(-1, self.target.shape[-1])
                d = d.clone()
                d[:, self.out_block] -= self.beta * target
            f = net.vector_field(s, d, beta=self.beta, target=target)
            out.copy_((s + eps * f).clamp(0.0, 1.0).T)
        else:
            products, out_last, u_last = self._views(u, out)
            for dst, M, src, first in products:
                if M is None:
                    dst.zero_()
                elif first:
                    torch.mm(M, src, out=dst)  # eps W s_neighbour into the layer's rows
                else:
                    dst.addmm_(M, src)  # a middle layer's second neighbour
            out.add_(self.c)
            out.add_(u, alpha=self.keep)  # + eps d + (1 - eps) s, all layers at once
            if self.beta != 0.0:
                out_last.add_(u_last, alpha=self.nudge)
            out.clamp_(0.0, 1.0)
        if not residual:
            return None
        return (out - u).abs().amax(0) / self.h
