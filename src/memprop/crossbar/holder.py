r"""The interface between a network and the hardware that holds one of its weight tensors.

A network keeps each trainable tensor either as an ``nn.Parameter`` (the exact weights) or on a
*weight holder*: an ``nn.Module`` placed under the same attribute name. The network's dynamics
read ``network.W`` either way (the holder's :attr:`AbstractWeightHolder.weight` buffer), so a
relaxation never knows whether its weights are exact or on devices. Updates reach a holder only
through :meth:`AbstractWeightHolder.program` (requested change -> pulses -> devices -> one
read-out into ``weight``), or, for an :attr:`~AbstractWeightHolder.exact` holder (the ideal
device), as in-place arithmetic on ``weight`` itself, bit-identical to the device-free update.
"""

from __future__ import annotations

import abc

import torch
from torch import nn


class AbstractWeightHolder(nn.Module, abc.ABC):
    """A module holding one weight tensor of a network (see the module docstring)."""

    @property
    @abc.abstractmethod
    def weight(self) -> torch.Tensor:
        """The tensor the network reads now: the last read-out (a buffer, the weight's shape)."""

    @property
    @abc.abstractmethod
    def exact(self) -> bool:
        """True when updates are exact in-place arithmetic on :attr:`weight` (no devices)."""

    @property
    def symmetric_readout(self) -> bool:
        """True when the read-out of a symmetric matrix is exactly symmetric (one device per
        neuron pair); False when w_ij and w_ji sit on separate devices."""
        return True

    @abc.abstractmethod
    def program(self, delta_w: torch.Tensor):
        """Request the change ``delta_w`` (the weight's shape); :attr:`weight` then holds one
        read-out of the hardware. Returns what the programming cost (implementation-defined)."""

    @abc.abstractmethod
    def refresh(self, generator: torch.Generator | None = None) -> None:
        """Read the hardware again into :attr:`weight` (a fresh read-noise draw, drift shown)."""

    @abc.abstractmethod
    def counters(self):
        """Programming totals since construction (pulses, energy, ...)."""

    @property
    @abc.abstractmethod
    def generators(self) -> dict[str, torch.Generator]:
        """The random generators this holder draws from, by name (their states belong in a
        checkpoint beside :meth:`state_dict`)."""
