r"""The interface every recurrent network model implements.

A network describes dynamics only; solvers (``memprop.solvers``) find their equilibria and
learning rules (``memprop.learning``) turn equilibria into weight gradients.

Shapes: a state ``s`` is (*batch, n_state); the drive ``d`` (the constant external current on
each state unit, e.g. the input I, or x W_0 + b_1 for a layered net) has the state's shape; a
target is (*batch, n_out). The nudged dynamics of equilibrium propagation (Eq. 16) add
beta (T - s) on the output units.

Weights may carry a leading "configuration" dimension C (e.g. W of shape (C, n, n)): then states
are (C, b, n) and configuration c uses W[c]. ``take(rows)`` restricts a network, its drive and
its targets to some rows of the leading dimension, which is how solvers stop spending work on
converged elements.
"""

from __future__ import annotations

import abc

import torch

from .._validate import tensor as check_tensor
from ..errors import ConfigError


class AbstractNetwork(abc.ABC):
    """Dynamics ds/dt = vector_field(s) with fixed points s = fixed_point_map(s)."""

    n_state: int
    """Number of state units (excludes clamped inputs)."""

    @abc.abstractmethod
    def drive(self, x: torch.Tensor | None, batch_shape: tuple[int, ...]) -> torch.Tensor:
        """The constant external drive on each state unit for input ``x`` (computed once)."""

    @abc.abstractmethod
    def vector_field(
        self, s: torch.Tensor, d: torch.Tensor, *, beta: float = 0.0, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ds/dt at state ``s`` under drive ``d`` (nudged by ``beta`` towards ``target``)."""

    @abc.abstractmethod
    def fixed_point_map(
        self, s: torch.Tensor, d: torch.Tensor, *, beta: float = 0.0, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A map Phi whose fixed points s = Phi(s) are the equilibria of ``vector_field``."""

    @abc.abstractmethod
    def take(self, rows: torch.Tensor) -> AbstractNetwork:
        """The network restricted to ``rows`` of the configuration dimension (self if shared)."""

    @property
    @abc.abstractmethod
    def output_index(self) -> slice | torch.Tensor:
        """Which state units are outputs (the cost C acts on them)."""

    @property
    @abc.abstractmethod
    def parameters(self) -> dict[str, torch.Tensor]:
        """The trainable tensors by name (the keys of every learning rule's gradients)."""

    @abc.abstractmethod
    def with_parameters(self, params: dict[str, torch.Tensor]) -> AbstractNetwork:
        """The same network with other parameter tensors (keys as in ``parameters``)."""

    def free_units(self, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Units free to move at equilibrium (all, unless states are clipped), bool like s."""
        return torch.ones_like(s, dtype=torch.bool)

    @property
    def batched(self) -> bool:
        """True when the weights carry a leading configuration dimension."""
        return False

    def project(self, s: torch.Tensor) -> torch.Tensor:
        """Project a state onto the admissible set (identity for unbounded states)."""
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
        """A random initial state, uniform in [-1, 1] (the paper initialises v at random)."""
        p = next(iter(self.parameters.values()))
        dtype = dtype or p.dtype
        device = device or p.device
        u = torch.rand(*batch_shape, self.n_state, generator=generator, dtype=dtype, device="cpu")
        return self.project((2.0 * u - 1.0).to(device))

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

    def total_energy(self, s: torch.Tensor, d: torch.Tensor, beta: float, target: torch.Tensor | None) -> torch.Tensor:
        """F = E + beta C, Eq. (15)."""
        e = self.energy(s, d)
        return e if beta == 0.0 else e + beta * self.cost(s, target)


class AbstractRecurrentNetwork(AbstractNetwork):
    """Shared plumbing of the networks on one square weight matrix W (n, n) or (C, n, n).

    Holds W, its connectivity mask and the output index; the dynamics stay abstract. The input
    x is the drive itself (the constant input current I).
    """

    def __init__(self, W: torch.Tensor, *, mask: torch.Tensor | None = None, symmetric: bool = True,
                 outputs: slice | torch.Tensor = slice(None)):
        from .connectivity import check_weights, full_mask

        n = W.shape[-1] if isinstance(W, torch.Tensor) else 0
        self.mask = full_mask(n, device=W.device) if mask is None and n else mask
        self.W = check_weights(W, self.mask, symmetric=symmetric)
        self.symmetric = symmetric
        self._outputs = outputs
        self.n_state = self.W.shape[-1]

    @property
    def batched(self) -> bool:
        return self.W.ndim == 3

    @property
    def output_index(self):
        return self._outputs

    @property
    def parameters(self) -> dict[str, torch.Tensor]:
        return {"W": self.W}

    def _with_W(self, W: torch.Tensor):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.W = W
        return new

    def with_parameters(self, params: dict[str, torch.Tensor]):
        """The same network with another W (e.g. an autograd leaf); not re-validated."""
        return self._with_W(params["W"])

    def take(self, rows: torch.Tensor):
        return self._with_W(self.W.index_select(0, rows)) if self.batched else self

    def drive(self, x: torch.Tensor | None, batch_shape: tuple[int, ...]) -> torch.Tensor:
        """The input I itself (zero when ``x`` is None)."""
        if x is None:
            return self.W.new_zeros(*batch_shape, self.n_state)
        return x.expand(*batch_shape, self.n_state)
