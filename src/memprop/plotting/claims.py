"""The claims map's figure from its result (or ``claims.json``); never reruns anything."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from matplotlib.patches import Rectangle

from . import PALETTE, figure, load

_COLOUR = {"holds": "#2e7d32", "fails": "#c62828", "not decided": "#bdbdbd", "not applicable": "#ffffff"}


def plot_claims(result: Mapping[str, Any] | str | os.PathLike):
    """Left: the readings x claims grid, coloured by verdict. Right: Figure 2's EP - RBP accuracy
    against the fraction of synapses kept, with its 95 % interval over seeds, for each
    presentation and RBP rate (EP beta 1, one-sided; protocol initial), the sparse working range
    marked."""
    r = load(result)
    verdicts = r["verdicts"]
    claims = list(r["claims"])
    keys = list(dict.fromkeys(q["reading"] for q in verdicts))
    fig = figure(figsize=(13.0, max(6.0, 0.16 * len(keys) + 1.5)), dpi=110)
    grid = fig.add_axes((0.30, 0.08, 0.22, 0.86))
    for i, k in enumerate(keys):
        for j, c in enumerate(claims):
            q = next(q for q in verdicts if q["reading"] == k and q["claim"] == c)
            grid.add_patch(Rectangle((j, i), 1, 1, fc=_COLOUR[q["verdict"]], ec="white", lw=0.5))
    grid.set_xlim(0, len(claims))
    grid.set_ylim(len(keys), 0)
    grid.set_xticks([j + 0.5 for j in range(len(claims))], claims)
    grid.set_yticks([i + 0.5 for i in range(len(keys))], keys, fontsize=6)
    grid.set_title("green holds, red fails, grey not decided, white n/a", fontsize=8)
    ax = fig.add_axes((0.62, 0.12, 0.35, 0.78))
    n = 0
    for pres in ("once", "until-memorised"):
        for rate, style in (("paper", "--"), ("default", "-")):
            key = f"{pres}|beta=1|one_sided|initial|rbp={rate}"
            curve = r["fig2_curves"].get(key)
            if not curve or not curve["points"]:
                continue
            pts = sorted(curve["points"], key=lambda p: p["fraction"])
            x = [p["fraction"] for p in pts]
            colour = PALETTE[n % len(PALETTE)]
            ax.plot(x, [p["difference"] for p in pts], style, marker="o", ms=3, color=colour,
                    label=f"{pres}, RBP rate {rate}")
            lo = [p["low"] if p["low"] is not None and math.isfinite(p["low"]) else p["difference"] for p in pts]
            hi = [p["high"] if p["high"] is not None and math.isfinite(p["high"]) else p["difference"] for p in pts]
            ax.fill_between(x, lo, hi, color=colour, alpha=0.15)
            for p in pts:
                if p["in_range"]:
                    ax.plot(p["fraction"], p["difference"], "o", ms=6, mfc="none", color=colour)
            n += 1
    ax.axhline(0.0, color="black", lw=0.8)
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("fraction of the N^2 synapses kept")
    ax.set_ylabel("EP - RBP accuracy (mean over p)")
    ax.set_title("Figure 2 as a difference (circled: sparse working range)", fontsize=9)
    if n:
        ax.legend(fontsize=7)
    return fig
