r"""From a requested change to pulses (docs/devices.md, "Pulse schemes").

The request is a real number r of nominal pulses per device (r = Delta G / dG, signed):

- ``deterministic``: n = round(r) identical pulses (duration modulation); ties go to even;
- ``stochastic``: n = sign(r) (floor(|r|) + b) with b ~ Bernoulli(|r| - floor(|r|)), so E[n] = r
  (unbiased): small updates, typical of EP, still move a device with few states on average;
- ``amplitude``: one pulse whose amplitude sets the step, n = r itself (a fraction of a nominal
  pulse along the device's curve).

Counts are capped at +/- ``max_pulses`` per device and update.
"""

from __future__ import annotations

import torch

from .. import _rng

SCHEMES = ("deterministic", "stochastic", "amplitude")
"""Pulse schemes."""


def pulse_counts(r: torch.Tensor, scheme: str, *, generator: torch.Generator | None = None,
                 max_pulses: float | torch.Tensor | None = None,
                 draws: torch.Tensor | None = None) -> torch.Tensor:
    """Signed pulse counts (real-valued for ``amplitude``) for requested amounts ``r``.

    ``max_pulses`` may be a tensor broadcasting against ``r`` (one cap per stacked
    configuration); ``draws``: the ``stochastic`` scheme's uniform draws, shaped like ``r``,
    instead of drawing them from ``generator``. The sign of :func:`pulse_sizes`, r's (a zero
    request may come out as -0, which equals 0 wherever a count is used)."""
    return torch.copysign(pulse_sizes(r, scheme, generator=generator, max_pulses=max_pulses, draws=draws), r)


def pulse_sizes(r: torch.Tensor, scheme: str, *, generator: torch.Generator | None = None,
                max_pulses: float | torch.Tensor | None = None,
                draws: torch.Tensor | None = None) -> torch.Tensor:
    """|:func:`pulse_counts`|: how many pulses each device receives (their sign is r's), so that
    a programming step finds the devices that move before it signs their counts.

    The scheme acts on |r| capped at ``max_pulses``: rounding to nearest even and the capping are
    symmetric, and the stochastic scheme rounds |r|, so ``copysign(pulse_sizes(r), r)`` is the
    count of the module docstring, bit for bit."""
    m = r.abs()
    if max_pulses is not None:
        m = m.clamp_max_(max_pulses)
    if scheme == "amplitude":
        return m
    if scheme == "deterministic":
        return m.round_()
    whole = torch.floor(m)
    if draws is None:
        draws = _rng.uniform(tuple(r.shape), generator=generator, dtype=r.dtype, device=r.device)
    frac = m.sub_(whole)
    extra = torch.lt(draws, frac, out=frac)  # b as 1.0 or 0.0 (a bool result takes a scalar loop)
    return whole.add_(extra)
