r"""The ideal synapse the paper assumes: the requested change, exactly.

.. math:: g \leftarrow g + \Delta g

No bounds, no states, no noise. In a :class:`~memprop.crossbar.Crossbar` an ideal device is not
mapped to conductances at all: the crossbar keeps the weights themselves and applies
W <- W - lr grad with the same floating-point operation as :func:`memprop.learning.sgd_step`,
so training through it is bit-identical to the device-free path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AbstractDevice


@dataclass(frozen=True, kw_only=True, slots=True)
class IdealDevice(AbstractDevice):
    r"""Ideal device: g <- g + n, where the "pulse count" n is the requested change itself.

    Final class; it has no parameters.
    """

    MODEL: ClassVar[str] = "ideal"

    def update(self, g, n_pulses, *, generator=None, params=None):
        """g + n_pulses: the requested change, exactly and without bounds."""
        return g + n_pulses

    def read(self, g, *, generator=None):
        """g itself: an ideal read is noise-free."""
        return g
