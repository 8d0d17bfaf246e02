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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._validate import positive_int
from ..errors import ConfigError
from .activations import HardSigmoid
from .base import AbstractEnergyNetwork


class LayeredNetwork(AbstractEnergyNetwork):
    """Layered energy network (any number of hidden layers). Final class.

    Args:
        weights: W_0 ... W_{L-1}, W_k of shape (n_k, n_{k+1}).
        biases: b_1 ... b_L, b_k of shape (n_k,).
    """

    def __init__(self, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]):
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
            if not bool(torch.isfinite(w).all()) or not bool(torch.isfinite(b).all()):
                raise ConfigError(f"weights[{k}] / biases[{k}] contain NaN or Inf")
        self.weights = weights
        self.biases = biases
        self.activation = HardSigmoid()
        self.sizes = (weights[0].shape[0], *(w.shape[1] for w in weights))
        self.n_state = sum(self.sizes[1:])
        self._offsets = [0]
        for n in self.sizes[1:]:
            self._offsets.append(self._offsets[-1] + n)

    @classmethod
    def glorot(cls, sizes: Sequence[int], *, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> LayeredNetwork:
        """Glorot-uniform weights, zero biases (Scellier & Bengio's initialisation)."""
        sizes = [positive_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)]
        if len(sizes) < 2:
            raise ConfigError(f"sizes must list at least an input and an output layer, got {sizes}")
        weights, biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            bound = math.sqrt(6.0 / (n_in + n_out))
            u = torch.rand(n_in, n_out, generator=generator, dtype=torch.float64)
            weights.append(((2 * u - 1) * bound).to(dtype))
            biases.append(torch.zeros(n_out, dtype=dtype))
        return cls(weights, biases)

    @property
    def output_index(self) -> slice:
        return slice(self._offsets[-2], self._offsets[-1])

    @property
    def parameters(self) -> dict[str, torch.Tensor]:
        out = {f"W{k}": w for k, w in enumerate(self.weights)}
        out.update({f"b{k + 1}": b for k, b in enumerate(self.biases)})
        return out

    def with_parameters(self, params: dict[str, torch.Tensor]) -> LayeredNetwork:
        """The same network with other parameter tensors (e.g. autograd leaves); not re-validated."""
        new = object.__new__(LayeredNetwork)
        new.__dict__.update(self.__dict__)
        new.weights = [params[f"W{k}"] for k in range(len(self.weights))]
        new.biases = [params[f"b{k + 1}"] for k in range(len(self.biases))]
        return new

    def free_units(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Units whose input h lies strictly inside (0, 1): the clip is inactive there, and clipped
        units do not move under small perturbations. (Judged on h, not on s, which an
        accelerated solver may leave a rounding error away from the bound.)"""
        h = self.hidden_input(s, d)
        return (h > 0.0) & (h < 1.0)

    def take(self, rows: torch.Tensor) -> LayeredNetwork:
        return self

    def project(self, s: torch.Tensor) -> torch.Tensor:
        return s.clamp(0.0, 1.0)

    def initial_state(self, batch_shape, *, generator=None, dtype=None, device=None) -> torch.Tensor:
        """Zero state (Scellier & Bengio start the free phase from 0 unless states persist)."""
        p = self.weights[0]
        return torch.zeros(*batch_shape, self.n_state, dtype=dtype or p.dtype, device=device or p.device)

    def layers(self, s: torch.Tensor) -> list[torch.Tensor]:
        """Views of the non-input layers s_1 ... s_L of a flat state."""
        return [s[..., a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

    def drive(self, x: torch.Tensor | None, batch_shape: tuple[int, ...]) -> torch.Tensor:
        """[x W_0 + b_1, b_2, ..., b_L]: the constant part of every layer's input, once per x."""
        if x is None:
            raise ConfigError("x (the clamped input layer) is required by a layered network")
        if x.shape[-1] != self.sizes[0]:
            raise ConfigError(f"x must have last dimension {self.sizes[0]}, got shape {tuple(x.shape)}")
        first = torch.matmul(x, self.weights[0]) + self.biases[0]
        rest = [b.expand(*first.shape[:-1], b.shape[0]) for b in self.biases[1:]]
        return torch.cat([first, *rest], dim=-1)

    def hidden_input(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        r"""h = d + W_{k-1}^T rho(s_{k-1}) + W_k rho(s_{k+1}) for every non-input layer k."""
        r = self.layers(self.activation(s))
        parts = []
        for k in range(len(r)):  # loop over layers (a handful), not over units
            h = d[..., self._offsets[k]:self._offsets[k + 1]]
            if k > 0:
                h = h + torch.matmul(r[k - 1], self.weights[k])
            if k + 1 < len(r):
                h = h + torch.matmul(r[k + 1], self.weights[k + 1].T)
            parts.append(h)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def energy(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        r = self.activation(s)
        rl = self.layers(r)
        e = 0.5 * (s * s).sum(-1) - (d * r).sum(-1)
        for k in range(1, len(rl)):
            e = e - (torch.matmul(rl[k - 1], self.weights[k]) * rl[k]).sum(-1)
        return e

    def vector_field(self, s, d, *, beta=0.0, target=None):
        """-dF/ds = -s + rho'(s) h + beta (T - s) on the outputs."""
        f = self.activation.prime(s) * self.hidden_input(s, d) - s
        nudge = self._nudge(s, beta, target)
        return f if nudge is None else f + nudge

    def fixed_point_map(self, s, d, *, beta=0.0, target=None):
        """Phi(s) = rho((h + beta m T) / (1 + beta m))."""
        h = self.hidden_input(s, d)
        if beta != 0.0:
            h = (h + self._nudge(torch.zeros_like(s), beta, target)) / self._output_weight(s, beta)
        return self.activation(h)

    def energy_grads(self, s: torch.Tensor, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """dE/dW_k = -rho(s_k)^T rho(s_{k+1}) and dE/db_k = -rho(s_k), averaged over samples."""
        if x is None:
            raise ConfigError("x (the clamped input layer) is required for a layered network's gradients")
        r = [x] + self.layers(self.activation(s))  # the clamped input enters E as x (Eq. above)
        r = [t.reshape(-1, t.shape[-1]) for t in r]
        m = r[0].shape[0]
        out = {f"W{k}": -(r[k].T @ r[k + 1]) / m for k in range(len(self.weights))}
        out.update({f"b{k}": -r[k].mean(0) for k in range(1, len(r))})
        return out
