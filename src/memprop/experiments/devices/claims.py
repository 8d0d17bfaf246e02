"""The device study's claims, judged from the measured points, and its report text."""

from __future__ import annotations

from typing import Any

from ..report import Claim, Section
from .config import (
    BASE_STATES,
    BREAKDOWN,
    CLAIM_STATES,
    CLAIM_TOLERANCE,
    TITLE,
    W_MAX_CLASSIFICATION,
    W_MAX_RECONSTRUCTION,
)


def _find(points, study, rule, factor, value=None, rounding=None):
    for p in points:
        if (p["study"], p["rule"], p["factor"]) == (study, rule, factor) and (value is None or p["value"] == value) \
                and (rounding is None or p["rounding"] == rounding):
            return p
    return None


def breakdown(points: list[dict], rule: str, rounding: str) -> int | None:
    """The largest number of states at which the reconstruction accuracy of ``rule`` is more than
    BREAKDOWN below the ideal weights' (None: nowhere)."""
    ideal = _find(points, "reconstruction", rule, "reference")
    if ideal is None:
        return None
    bad = [p["value"] for p in points if p["study"] == "reconstruction" and p["rule"] == rule
           and p["factor"] == "states" and p["rounding"] == rounding
           and p["result"] < ideal["result"] - BREAKDOWN]
    return max(bad) if bad else None


def claims(result: dict[str, Any], *, command: str, plots: tuple[str, ...]) -> list[Claim]:
    pts = result["points"]
    ideal = _find(pts, "reconstruction", "ep", "reference")
    big = [p for p in pts if p["study"] == "reconstruction" and p["rule"] == "ep" and p["factor"] == "states"
           and p["rounding"] == "stochastic" and p["value"] >= CLAIM_STATES]
    out = []
    if ideal is not None and big:
        worst = min(big, key=lambda p: p["result"])
        holds = all(abs(p["result"] - ideal["result"]) <= CLAIM_TOLERANCE for p in big)
        out.append(Claim(
            study="devices",
            claim=f"(ours) with >= {CLAIM_STATES} states and stochastic rounding, EP's reconstruction "
                  f"accuracy (Table 1 setting) is within {CLAIM_TOLERANCE} of the ideal weights'",
            measured="ideal {:.3f}; ".format(ideal["result"]) + ", ".join(
                f"{p['value']} states {p['result']:.3f}" for p in big) + f" (worst {worst['result']:.3f})",
            holds=holds, command=command, plots=plots))
    for rule in ("ep", "rbp"):
        det, sto = breakdown(pts, rule, "deterministic"), breakdown(pts, rule, "stochastic")
        row = [p for p in pts if p["study"] == "reconstruction" and p["rule"] == rule and p["factor"] == "states"]
        if not row:
            continue
        table = "; ".join(f"{r}: " + ", ".join(f"{p['value']}:{p['result']:.2f}" for p in row if p["rounding"] == r)
                          for r in ("deterministic", "stochastic"))
        out.append(Claim(
            study="devices",
            claim=f"(ours) {rule.upper()} reconstruction breaks down (accuracy more than {BREAKDOWN} "
                  f"below ideal) as the states fall; stochastic rounding moves the breakdown to fewer states",
            measured=(f"largest state count that breaks down: deterministic {det}, stochastic {sto} "
                      f"(accuracy by states, {table}; ideal "
                      f"{_find(pts, 'reconstruction', rule, 'reference')['result']:.3f})"),
            holds=None if det is None else (sto is None or sto < det), command=command, plots=plots))
    return out


def section(result: dict[str, Any], *, command: str, plots: tuple[str, ...] = ("devices.png",)) -> Section:
    """The study's report section."""
    cfg = result["config"]
    text = (
        f"Every weight matrix is held on a crossbar (differential pairs, w_max "
        f"{W_MAX_RECONSTRUCTION} for reconstruction and {W_MAX_CLASSIFICATION} for classification) "
        f"and every update is programmed as pulses. Reconstruction: Table 1's setting, "
        f"{cfg['reconstruction']['epochs']} online epochs, {cfg['reconstruction']['test_samples_per_class']} "
        f"test patterns per letter at p = 0.1. Classification: EP on "
        f"784-{'-'.join(map(str, cfg['classification']['hidden']))}-5, digits 0-4, "
        f"{cfg['classification']['per_class']} training digits per class, {cfg['classification']['epochs']} "
        f"epochs (biases digital). Base device: constant step, {BASE_STATES} states, stochastic "
        f"rounding, one device pair per neuron pair. Run time {result['seconds']:.1f} s."
    )
    return Section(study="devices", title=TITLE, claims=claims(result, command=command, plots=plots), text=text)
