r"""The interface every recurrent network model implements.

A network describes dynamics only; solvers (``memprop.solvers``) find their equilibria and
learning rules (``memprop.learning``) turn equilibria into weight gradients.

Networks are ``torch.nn.Module`` s. Their trainable tensors (the names in ``weight_names``:
``W`` for the recurrent models; ``W0``, ``W1``, ..., ``b1``, ``b2``, ... for the layered one)
are ``nn.Parameter`` s with ``requires_grad=False``: EP and RBP compute their own gradients
(no autograd graph is built while relaxing), and Parameters let ``named_parameters()``,
``state_dict()``, ``.to(device, dtype)`` and optimisers see them. Connectivity masks are
buffers. A weight may instead sit on hardware: :meth:`AbstractNetwork.place` puts an
:class:`~memprop.crossbar.holder.AbstractWeightHolder` (a crossbar) under the same name, and
``network.W`` then reads the holder's current weights, so that a relaxation never knows whether
its weights are exact or on devices. :meth:`AbstractNetwork.trainable` gives the current tensor
of every trainable name either way.

Shapes: a state ``s`` is (*batch, n_state); the drive ``d`` (the constant external current on
each state unit, e.g. the input I, or x W_0 + b_1 for a layered net) has the state's shape; a
target is (*batch, n_out). The nudged dynamics of equilibrium propagation (Eq. 16) add
beta (T - s) on the output units.

Weights may carry a leading "configuration" dimension C (e.g. W of shape (C, n, n)): then states
are (C, b, n) and configuration c uses W[c]. ``take(rows)`` restricts a network, its drive and
its targets to some rows of the leading dimension, which is how solvers stop spending work on
converged elements.

Everything a network allocates follows the device and dtype of its parameters and inputs.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import nn

from .. import _rng
from .._validate import tensor as check_tensor
from ..crossbar import Crossbar
from ..crossbar.holder import AbstractWeightHolder
from ..errors import ConfigError
from .kernel import Kernel, Workspace


class AbstractNetwork(nn.Module, abc.ABC):
    """Dynamics ds/dt = vector_field(s) with fixed points s = fixed_point_map(s)."""

    n_state: int
    """Number of state units (excludes clamped inputs)."""
    weight_names: tuple[str, ...]
    """Names of the trainable tensors (the keys of every learning rule's gradients)."""
    bounded: ClassVar[bool] = False
    """True when states live in a bounded set (``project`` is not the identity)."""

    # ------------------------------------------------------------------- the model
    @abc.abstractmethod
    def drive(self, x: torch.Tensor | None, batch_shape: tuple[int, ...]) -> torch.Tensor:
        """The constant external drive on each state unit for input ``x`` (computed once)."""

    @abc.abstractmethod
    def vector_field(self, s: torch.Tensor, d: torch.Tensor, *, beta: float = 0.0,
                     target: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """ds/dt at state ``s`` under drive ``d`` (nudged by ``beta`` towards ``target``);
        written into ``out`` when given (which must not be ``s``)."""

    @abc.abstractmethod
    def fixed_point_map(self, s: torch.Tensor, d: torch.Tensor, *, beta: float = 0.0,
                        target: torch.Tensor | None = None) -> torch.Tensor:
        """A map Phi whose fixed points s = Phi(s) are the equilibria of ``vector_field``."""

    @property
    @abc.abstractmethod
    def output_index(self) -> slice | torch.Tensor:
        """Which state units are outputs (the cost C acts on them)."""

    def kernel(self, d: torch.Tensor, *, h: float, beta: float = 0.0, target: torch.Tensor | None = None,
               work: Workspace | None = None, tag: str = "k", rows: bool = False) -> Kernel:
        """The projected Euler map s -> P(s + h f(s)) bound to drive ``d`` and this phase (see
        :mod:`memprop.networks.kernel`); models with a fused form override this. ``rows``: the
        caller drops rows as they converge, so the kernel must keep the (*batch, n) layout and
        support ``take``."""
        return Kernel(self, d, h=h, beta=beta, target=target, work=work, tag=tag)

    def field_fn(self, d: torch.Tensor | None, *, beta: float = 0.0, target: torch.Tensor | None = None):
        """``f(s, out) -> out``: the vector field under drive ``d`` (None: none) written into
        ``out``, for one relaxation (the weights may be bound once: they do not change during
        it). Models with a fused in-place form override this."""
        def field(s, out):
            return self.vector_field(s, d, beta=beta, target=target, out=out)

        return field

    # ------------------------------------------------------------ weights and hardware
    def __getattr__(self, name: str):
        value = super().__getattr__(name)
        if not isinstance(value, torch.Tensor) and isinstance(value, AbstractWeightHolder):
            return value.weight  # a weight on hardware reads as the hardware's current weights
        return value

    def get_submodule(self, target: str) -> nn.Module:
        """As ``nn.Module.get_submodule``, with a weight's holder under the weight's name (the
        attribute itself reads the holder's weights)."""
        head, _, rest = target.partition(".")
        if head in self._modules and self._modules[head] is not None:
            module = self._modules[head]
            return module.get_submodule(rest) if rest else module
        return super().get_submodule(target)

    def tensor(self, name: str) -> torch.Tensor:
        """The current tensor of trainable ``name`` (as ``getattr(network, name)``, without the
        attribute machinery: for hot loops)."""
        p = self._parameters.get(name)
        return p if p is not None else self._modules[name].weight

    def trainable(self) -> dict[str, torch.Tensor]:
        """The current tensor of every trainable name (a Parameter, or a holder's weights)."""
        return {name: getattr(self, name) for name in self.weight_names}

    def holder(self, name: str) -> AbstractWeightHolder | None:
        """The hardware holding weight ``name``, or None for exact weights."""
        module = self._modules.get(name)
        return module if module is not None and isinstance(module, AbstractWeightHolder) else None

    def holders(self) -> dict[str, AbstractWeightHolder]:
        """Every weight on hardware, by name."""
        return {n: m for n in self.weight_names if (m := self.holder(n)) is not None}

    def place(self, name: str, holder: AbstractWeightHolder) -> None:
        """Hold weight ``name`` on ``holder`` (e.g. a crossbar built from it) from now on."""
        if name not in self.weight_names:
            raise ConfigError(f"name {name!r} is not a trainable tensor of {type(self).__name__}; "
                              f"it has {list(self.weight_names)}")
        if not isinstance(holder, AbstractWeightHolder):
            raise ConfigError(f"holder must be a weight holder (e.g. a Crossbar), got {type(holder).__name__}")
        current = getattr(self, name)
        if tuple(holder.weight.shape) != tuple(current.shape):
            raise ConfigError(f"holder for {name!r} holds shape {tuple(holder.weight.shape)}, the network's "
                              f"{name} is {tuple(current.shape)}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.add_module(name, holder)
        self._placed(name, holder)

    def on_crossbars(self, config, *, generator: torch.Generator | None = None,
                     names: Sequence[str] | None = None, symmetric: bool | None = None,
                     masks: Mapping[str, torch.Tensor] | None = None) -> dict[str, Crossbar]:
        """Put weights on crossbars of ``config`` (a :class:`~memprop.crossbar.CrossbarConfig`),
        each built from the weight's current value; the network then reads the hardware's
        weights (clipped to w_max, faults, variation, read noise): training starts from them.

        Args:
            generator: the crossbars' one random stream (variation, faults, rounding, noise),
                apart from the learning rule's.
            names: which trainable tensors (default all).
            symmetric: whether square tensors are symmetric matrices (one device per neuron
                pair); default: a square tensor that is exactly symmetric now.
            masks: connectivity per name; default the network's ``mask`` for ``W``.

        Returns:
            The crossbars by name (also reachable as ``network.holder(name)``).
        """
        names = list(self.weight_names) if names is None else list(names)
        unknown = [n for n in names if n not in self.weight_names]
        if unknown:
            raise ConfigError(f"names {unknown} are not trainable tensors of the network; it has "
                              f"{list(self.weight_names)}")
        masks = dict(masks or {})
        if "W" in names and "W" not in masks and isinstance(self._buffers.get("mask"), torch.Tensor):
            masks["W"] = self.mask
        out = {}
        for name in names:
            W = getattr(self, name).detach()
            square = W.ndim >= 2 and W.shape[-1] == W.shape[-2]
            sym = (square and bool(torch.equal(W, W.mT))) if symmetric is None else (symmetric and square)
            out[name] = Crossbar(W, config, mask=masks.get(name), symmetric=sym, generator=generator)
            self.place(name, out[name])
        return out

    def _placed(self, name: str, holder: AbstractWeightHolder) -> None:
        """Hook: a weight went onto ``holder`` (models whose dynamics rely on symmetry note it)."""

    def refresh(self, generator: torch.Generator | None = None) -> None:
        """A fresh read of every weight on hardware (new read noise; drift shows)."""
        for holder in self.holders().values():
            holder.refresh(generator)

    def take(self, rows: torch.Tensor) -> AbstractNetwork:
        """The network restricted to ``rows`` of the configuration dimension (self if shared).

        The result is a light view for one relaxation: it reads the current weights (a crossbar's
        read-out) as plain tensors and holds no hardware.
        """
        if not self.batched:
            return self
        return self._view({n: t.index_select(0, rows) for n, t in self._per_row_tensors().items()})

    def with_parameters(self, params: dict[str, torch.Tensor]) -> AbstractNetwork:
        """The same network with other trainable tensors (e.g. autograd leaves); not re-validated."""
        return self._view(params)

    def _per_row_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors with a leading configuration dimension (restricted by ``take``)."""
        return {}

    def _view(self, tensors: dict[str, torch.Tensor]) -> AbstractNetwork:
        """A shallow copy whose named tensors are replaced (parameters, buffers or attributes)."""
        new = copy.copy(self)
        params = dict(self._parameters)
        buffers = dict(self._buffers)
        modules = {k: v for k, v in self._modules.items() if k not in self.weight_names}
        for name in self.weight_names:  # weights on hardware become plain tensors of the view
            if name in self._modules:
                params[name] = getattr(self, name)
        for name, t in tensors.items():
            if name in buffers:
                buffers[name] = t
            elif name in params or name in self.weight_names:
                params[name] = t
            else:
                object.__setattr__(new, name, t)
        object.__setattr__(new, "_parameters", params)
        object.__setattr__(new, "_buffers", buffers)
        object.__setattr__(new, "_modules", modules)
        return new

    # ------------------------------------------------------------------- properties
    @property
    def batched(self) -> bool:
        """True when the weights carry a leading configuration dimension."""
        return False

    def _reference(self) -> torch.Tensor:
        """A tensor whose device and dtype the network's allocations follow."""
        return getattr(self, self.weight_names[0])

    def free_units(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Units free to move at equilibrium (all, unless states are clipped), bool like s."""
        return torch.ones_like(s, dtype=torch.bool)

    def project(self, s: torch.Tensor) -> torch.Tensor:
        """Project a state onto the admissible set (identity for unbounded states)."""
        return s

    def project_(self, s: torch.Tensor) -> torch.Tensor:
        """In-place :meth:`project`."""
        return s

    def outputs(self, s: torch.Tensor) -> torch.Tensor:
        """The output units of a state, (*batch, n_out)."""
        return s[..., self.output_index]

    def cost(self, s: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """C = 1/2 sum_i (T_i - s_i)^2 over the output units, Eq. (4) and (14); shape (*batch,)."""
        err = target - self.outputs(s)
        return 0.5 * (err * err).sum(-1)

    def _nudge(self, s: torch.Tensor, beta: float, target: torch.Tensor | None) -> torch.Tensor | None:
        """beta (T - s) on the output units and 0 elsewhere, or None when beta = 0."""
        if beta == 0.0:
            return None
        if target is None:
            raise ConfigError("target is required when beta != 0 (the nudged phase pulls towards it)")
        out = torch.zeros_like(s)
        out[..., self.output_index] = beta * (target - self.outputs(s))
        return out

    def _output_weight(self, s: torch.Tensor, beta: float) -> torch.Tensor | float:
        """1 + beta on output units, 1 elsewhere (the nudged fixed point's denominator)."""
        if beta == 0.0:
            return 1.0
        w = torch.ones(s.shape[-1], dtype=s.dtype, device=s.device)
        w[self.output_index] += beta
        return w

    def initial_state(self, batch_shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                      dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """A random initial state, uniform in [-1, 1] (the paper initialises v at random), on the
        network's device and dtype (drawn on the generator's device, so that the numbers do not
        depend on where the network lives)."""
        ref = self._reference()
        u = _rng.uniform((*batch_shape, self.n_state), generator=generator, dtype=dtype or ref.dtype,
                         device=device or ref.device)
        return self.project(2.0 * u - 1.0)

    def check_state(self, s: object, name: str = "s") -> torch.Tensor:
        """Validate a state tensor against this network (dimensions, size, finiteness)."""
        s = check_tensor(name, s, last=self.n_state)
        if self.batched and s.ndim != 3:
            raise ConfigError(
                f"{name} must be (C, b, {self.n_state}) for a network with batched weights, "
                f"got shape {tuple(s.shape)}"
            )
        return s


class AbstractEnergyNetwork(AbstractNetwork):
    """A network whose dynamics descend an energy: ds/dt = -dE/ds (Eq. 13), for EP."""

    @abc.abstractmethod
    def energy(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """E(s) per batch element, shape (*batch,)."""

    @abc.abstractmethod
    def energy_grads(self, s: torch.Tensor, x: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """dE/dtheta at state ``s`` for each parameter, averaged over the sample dimension.

        Symmetric weight matrices use the shared-parameter convention (see
        :func:`memprop.networks.connectivity.symmetric_gradient`).
        """

    def energy_grad_contrast(self, s_a: torch.Tensor, s_b: torch.Tensor, x: torch.Tensor | None, scale: float,
                             work: Workspace | None = None) -> dict:
        """(dE/dtheta(s_a) - dE/dtheta(s_b)) / scale for every parameter: EP's estimate from its two
        states (Eq. 18). Dense here; models whose gradient factors return factored gradients
        (:mod:`memprop.networks.factored`), with buffers from ``work``."""
        ga, gb = self.energy_grads(s_a, x), self.energy_grads(s_b, x)
        return {k: (ga[k] - gb[k]) / scale for k in ga}

    def total_energy(self, s: torch.Tensor, d: torch.Tensor, beta: float, target: torch.Tensor | None) -> torch.Tensor:
        """F = E + beta C, Eq. (15)."""
        e = self.energy(s, d)
        return e if beta == 0.0 else e + beta * self.cost(s, target)


class AbstractRecurrentNetwork(AbstractNetwork):
    """Shared plumbing of the networks on one square weight matrix W (n, n) or (C, n, n).

    Holds W (a Parameter), its connectivity mask (a buffer: (n, n), or (C, n, n) with one mask
    per configuration) and the output index; the dynamics stay abstract. The input x is the
    drive itself (the constant input current I).
    """

    weight_names = ("W",)

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None, symmetric: bool = True,
                 outputs: slice | torch.Tensor = slice(None)):
        from .connectivity import check_weights, full_mask

        super().__init__()
        n = W.shape[-1] if isinstance(W, torch.Tensor) else 0
        mask = full_mask(n, device=W.device) if mask is None and n else mask
        W = check_weights(W, mask, symmetric=symmetric)
        self.W = nn.Parameter(W, requires_grad=False)
        self.register_buffer("mask", mask.to(W.device))
        self.symmetric = symmetric
        """W = W^T (one parameter per neuron pair: gradients use the shared-parameter convention)."""
        self.readout_symmetric = symmetric
        """The matrix the dynamics read is exactly symmetric now (False once a weight sits on
        hardware with separate devices for w_ij and w_ji)."""
        self._outputs = outputs
        self.n_state = W.shape[-1]

    def _placed(self, name, holder):
        self.readout_symmetric = self.readout_symmetric and holder.symmetric_readout

    def _per_row_tensors(self) -> dict[str, torch.Tensor]:
        out = {"W": self.W}
        if self.mask.ndim == 3:
            out["mask"] = self.mask
        return out

    @property
    def batched(self) -> bool:
        return self.W.ndim == 3

    @property
    def output_index(self):
        return self._outputs

    def drive(self, x: torch.Tensor | None, batch_shape: tuple[int, ...]) -> torch.Tensor:
        """The input I itself; zero when ``x`` is None (an expanded scalar: nothing allocated)."""
        if x is None:
            return self.W.new_zeros(()).expand(*batch_shape, self.n_state)
        return x.expand(*batch_shape, self.n_state)

    def _weights_for(self, s: torch.Tensor) -> torch.Tensor:
        """The matrix M with h = s M for states ``s``: W^T (W itself when exactly symmetric);
        batched weights as a transposed view for ``torch.matmul``."""
        W = self.W
        if W.ndim == 3:
            return W.mT
        return W if self.readout_symmetric else W.T

    def extra_repr(self) -> str:
        shape = tuple(self.W.shape)
        return f"W={shape}, symmetric={self.symmetric}"
