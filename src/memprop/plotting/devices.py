"""The device study's figure from a saved ``devices.json`` (never reruns anything).

matplotlib is imported lazily, with the non-interactive Agg backend.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..experiments.io import atomic_write_bytes, read_json


def plot_devices(result_json: str | os.PathLike, png: str | os.PathLike) -> Path:
    """Top: result against the number of states (both roundings, ideal dashed), for
    reconstruction (accuracy, EP and RBP) and classification (test error, EP). Bottom: every
    other point (presets, noise, spread, faults, pairing) as bars beside the ideal. Writes
    ``png`` atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = read_json(result_json)["points"]
    studies = [("reconstruction", "accuracy"), ("classification", "test error")]
    fig, axes = plt.subplots(2, 2, figsize=(11.0, 7.5), dpi=110)
    colours = {"ep": "tab:blue", "rbp": "tab:red"}
    for col, (study, label) in enumerate(studies):
        ax = axes[0, col]
        for rule in ("ep", "rbp"):
            mine = [p for p in pts if p["study"] == study and p["rule"] == rule]
            if not mine:
                continue
            for rounding, style in (("deterministic", "s--"), ("stochastic", "o-")):
                row = sorted((p["value"], p["result"]) for p in mine
                             if p["factor"] == "states" and p["rounding"] == rounding)
                if row:
                    ax.plot(*zip(*row), style, color=colours[rule], ms=4, label=f"{rule.upper()} {rounding}")
            ideal = [p["result"] for p in mine if p["factor"] == "reference"]
            if ideal:
                ax.axhline(ideal[0], color=colours[rule], lw=0.8, ls=":", label=f"{rule.upper()} ideal")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("conductance states")
        ax.set_ylabel(label)
        ax.set_title(f"{study}: states and rounding")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        other = [p for p in pts if p["study"] == study and p["factor"] not in ("states", "rounding")]
        names = [f"{p['rule']} {p['factor']}={p['value']}" for p in other]
        ax.barh(range(len(other)), [p["result"] for p in other],
                color=[colours.get(p["rule"], "0.5") for p in other])
        ax.set_yticks(range(len(other)), names, fontsize=6)
        ax.set_xlabel(label)
        ax.set_title(f"{study}: presets, noise, spread, faults, pairing")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write_bytes(Path(png), buf.getvalue())
