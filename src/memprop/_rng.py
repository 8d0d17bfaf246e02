"""Seeded draws that follow the device of the tensors they are for.

A ``torch.Generator`` lives on one device; drawing on it and moving the result lets a CPU
generator seed conductances held on a GPU (and keeps a run's stream independent of where the
tensors live).
"""

from __future__ import annotations

import torch


def normal(shape: tuple[int, ...], *, generator: torch.Generator | None, dtype: torch.dtype,
           device: torch.device | str | None) -> torch.Tensor:
    """Standard normal draws xi of ``shape``."""
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, dtype=dtype, device=where).to(device)


def uniform(shape: tuple[int, ...], *, generator: torch.Generator | None, dtype: torch.dtype,
            device: torch.device | str | None) -> torch.Tensor:
    """Uniform draws in [0, 1) of ``shape``."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, dtype=dtype, device=where).to(device)
