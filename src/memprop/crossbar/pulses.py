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
    instead of drawing them from ``generator``."""
    if max_pulses is not None:
        r = r.clamp(-max_pulses, max_pulses)
    if scheme == "amplitude":
        return r
    if scheme == "deterministic":
        return torch.round(r)
    m = r.abs()
    whole = torch.floor(m)
    if draws is None:
        draws = _rng.uniform(tuple(r.shape), generator=generator, dtype=r.dtype, device=r.device)
    extra = draws < (m - whole)
    # sign(r) (floor(|r|) + b): copysign gives the same number in one operation (a zero request
    # may come out as -0, which equals 0 wherever a count is used)
    return torch.copysign(whole.add_(extra), r)
