r"""A stack of configurations of one weight tensor, each on its own crossbar.

Studies train C configurations of a network together as one tensor program: the weights carry a
leading configuration dimension, W of shape (C, ...). :class:`CrossbarStack` holds such a
tensor with configuration c on a crossbar of ``configs[c]`` (any device, encoding and pulse
scheme, each with its own random generator, so that a configuration's numbers do not depend on
what else shares its stack). Configurations on the ideal device keep their exact weights: an
update adds the request exactly, as without devices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._validate import tensor as check_tensor
from ..errors import ConfigError
from .crossbar import Crossbar, CrossbarConfig, ProgramStats
from .holder import AbstractWeightHolder


class CrossbarStack(AbstractWeightHolder):
    """C configurations of one weight tensor, configuration c on a crossbar of ``configs[c]``.
    Final class.

    Args:
        W: initial weights, (C, ...) with one configuration per row of the leading dimension.
        configs: one :class:`CrossbarConfig` per configuration (or one for all).
        mask: connectivity broadcastable to W (e.g. (C, n, n) or (n, n)); no device where False.
        symmetric: each configuration is a symmetric matrix (one parameter per neuron pair).
        generators: one seeded generator per configuration (device variation, rounding, write
            and read noise), apart from the learning rule's streams.
    """

    def __init__(self, W: torch.Tensor, configs: CrossbarConfig | Sequence[CrossbarConfig], *,
                 mask: torch.Tensor | None = None, symmetric: bool = False,
                 generators: Sequence[torch.Generator | None] | None = None):
        super().__init__()
        W = check_tensor("W", W)
        if W.ndim < 2:
            raise ConfigError(f"W must carry a leading configuration dimension, got shape {tuple(W.shape)}")
        C = W.shape[0]
        configs = [configs] * C if isinstance(configs, CrossbarConfig) else list(configs)
        if len(configs) != C:
            raise ConfigError(f"configs must give one CrossbarConfig per configuration ({C}), got {len(configs)}")
        generators = [None] * C if generators is None else list(generators)
        if len(generators) != C:
            raise ConfigError(f"generators must give one generator per configuration ({C}), got {len(generators)}")
        masks = None if mask is None else mask.to(W.device).expand(W.shape)
        self.register_buffer("weight_", W.detach().clone())
        self.crossbars = nn.ModuleList()
        for c in range(C):  # loop over configurations (one crossbar each)
            xb = Crossbar(W[c].detach(), configs[c], mask=None if masks is None else masks[c],
                          symmetric=symmetric, generator=generators[c])
            self.crossbars.append(xb)
            if not xb.exact:
                self.weight_[c].copy_(xb.weight)
        self.programmed = [c for c, xb in enumerate(self.crossbars) if not xb.exact]
        """Configurations on non-ideal devices (the others are updated exactly)."""

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_

    @property
    def exact(self) -> bool:
        return not self.programmed

    @property
    def symmetric_readout(self) -> bool:
        return all(xb.symmetric_readout for xb in self.crossbars)

    @property
    def generators(self) -> dict[str, torch.Generator]:
        return {f"crossbar{c}": xb.generator for c, xb in enumerate(self.crossbars)
                if xb.generator is not None}

    def program(self, delta_w: torch.Tensor) -> list[ProgramStats | None]:
        """Add ``delta_w`` (C, ...) exactly, then program configuration c's part as pulses on its
        crossbar and read it back, for every configuration on a non-ideal device."""
        if tuple(delta_w.shape) != tuple(self.weight_.shape):
            raise ConfigError(f"delta_w must have shape {tuple(self.weight_.shape)}, got {tuple(delta_w.shape)}")
        self.weight_.add_(delta_w)
        stats: list[ProgramStats | None] = [None] * len(self.crossbars)
        for c in self.programmed:  # loop over the configurations on non-ideal devices
            stats[c] = self.crossbars[c].program(delta_w[c])
            self.weight_[c].copy_(self.crossbars[c].weight)
        return stats

    def refresh(self, generator: torch.Generator | None = None) -> None:
        for c in self.programmed:
            self.crossbars[c].refresh(generator)
            self.weight_[c].copy_(self.crossbars[c].weight)

    def counters(self) -> list[dict[str, float | int]]:
        """Each configuration's crossbar counters (an ideal one counts devices, no pulses)."""
        return [xb.counters() for xb in self.crossbars]
