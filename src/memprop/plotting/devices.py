"""The device study's figure from its result (or ``devices.json``); never reruns anything."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import PALETTE, figure, load


def plot_devices(result: Mapping[str, Any] | str | os.PathLike):
    """Top: result against the number of states (both roundings, ideal dashed), for
    reconstruction (accuracy, EP and RBP) and classification (test error, EP). Bottom: every
    other point (presets, noise, spread, faults, pairing) as bars beside the ideal."""
    pts = load(result)["points"]
    studies = [("reconstruction", "accuracy"), ("classification", "test error")]
    fig = figure(figsize=(11.0, 7.5), dpi=110)
    axes = fig.subplots(2, 2)
    colours = {"ep": PALETTE[0], "rbp": PALETTE[5]}
    markers = {("ep", "stochastic"): "o", ("ep", "deterministic"): "s", ("rbp", "stochastic"): "^",
               ("rbp", "deterministic"): "v"}
    for col, (study, label) in enumerate(studies):
        ax = axes[0, col]
        for rule in ("ep", "rbp"):
            mine = [p for p in pts if p["study"] == study and p["rule"] == rule]
            if not mine:
                continue
            for rounding, line in (("deterministic", "--"), ("stochastic", "-")):
                row = sorted((p["value"], p["result"]) for p in mine
                             if p["factor"] == "states" and p["rounding"] == rounding)
                if row:
                    ax.plot(*zip(*row), markers[rule, rounding] + line, color=colours[rule], ms=4,
                            label=f"{rule.upper()} {rounding}")
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
    return fig


def plot_fit(sweeps, result):
    """A device fit (:func:`memprop.devices.fit.fit_device`): data (dots) against the fitted
    model (lines), sweeps in file order."""
    from pathlib import Path

    from ..devices.fit import model_curves

    fig = figure(figsize=(7, 4), dpi=120)
    ax = fig.subplots()
    offset = 0.0
    for s, model in zip(sweeps.sweeps, model_curves(result.device, sweeps)):
        x = offset + s.pulses
        color = PALETTE[5] if s.direction > 0 else PALETTE[0]
        ax.plot(x, s.g * 1e6, ".", ms=3, color=color, alpha=0.6)
        ax.plot(x, model * 1e6, "-", lw=1.5, color="black")
        offset = x[-1] + 1
    dev = result.device
    ax.set_xlabel("pulse number (sweeps in file order)")
    ax.set_ylabel("conductance (uS)")
    ax.set_title(f"{Path(sweeps.source).name}: {dev.MODEL} fit, n_states={dev.n_states}, "
                 f"rmse={result.rmse / (dev.g_max - dev.g_min):.1%} of range, c2c={result.c2c:.2%}",
                 fontsize=9)
    ax.plot([], [], ".", color=PALETTE[5], label="potentiation data")
    ax.plot([], [], ".", color=PALETTE[0], label="depression data")
    ax.plot([], [], "-", color="black", label="model")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
