r"""Signed weights on non-negative conductances, and back (docs/devices.md, "Signed weights").

Two encodings of a weight w with |w| <= w_max, both centred on G_mid = (G_min + G_max) / 2:

- ``differential``: a pair w = (G_+ - G_-) / G_scale with G_scale = (G_max - G_min) / w_max and
  G_+/- = G_mid +/- w G_scale / 2 (the common mode G_mid leaves each device room to move both
  ways, so an update can be split evenly between the two);
- ``reference``: one device against a fixed reference, w = (G - G_ref) / G_scale with
  G_ref = G_mid and G_scale = (G_max - G_min) / (2 w_max).

Either way w = +/- w_max uses the full range [G_min, G_max]; larger weights are clipped.
Conductances carry a leading device axis: (2, *w.shape) = [G_+, G_-], or (1, *w.shape).
"""

from __future__ import annotations

import torch

SIGNED = ("differential", "reference")
"""Signed-weight encodings."""


def g_scale(signed: str, g_min: float, g_max: float, w_max: float) -> float:
    """G_scale: conductance per unit weight, in siemens."""
    return (g_max - g_min) / (w_max if signed == "differential" else 2.0 * w_max)


def weights_to_conductances(w: torch.Tensor, *, signed: str, g_min: float, g_max: float,
                            w_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Conductances encoding ``w`` (clipped to +/- w_max), and which entries were clipped.

    Returns:
        g: (2, *w.shape) [G_+, G_-] for ``differential``, (1, *w.shape) for ``reference``.
        clipped: bool, w.shape, True where |w| > w_max.
    """
    clipped = w.abs() > w_max
    wc = w.clamp(-w_max, w_max)
    scale = g_scale(signed, g_min, g_max, w_max)
    g_mid = 0.5 * (g_min + g_max)
    if signed == "differential":
        half = 0.5 * scale * wc
        return torch.stack([g_mid + half, g_mid - half]), clipped
    return (g_mid + scale * wc).unsqueeze(0), clipped


def conductances_to_weights(g: torch.Tensor, *, signed: str, g_min: float, g_max: float,
                            w_max: float) -> torch.Tensor:
    """The weights that conductances ``g`` (leading device axis) encode. ``g_min``, ``g_max`` and
    ``w_max`` may also be tensors broadcasting against the weights (one per stacked configuration)."""
    scale = g_scale(signed, g_min, g_max, w_max)
    if signed == "differential":
        return (g[0] - g[1]) / scale
    return (g[0] - 0.5 * (g_min + g_max)) / scale
