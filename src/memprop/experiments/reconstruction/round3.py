r"""Round 3 of the development rule: how both rules present patterns, on the sets rounds 1-2 miss.

After rounds 1 and 2 (:mod:`memprop.experiments.reconstruction.development`) the two hand-drawn
alphabets are the sets where a default misses the target: the networks store the letters, but
with basins narrower than Table 1's noise. Round 3 (written before its run, ``docs/claims.md``)
may change how each rule is *trained* (EP's as well), never its rate, beta, estimator, initial
weights or epochs:

1. Candidates (presentation, training input), one list for both rules, in :data:`CANDIDATES`
   order: ``until-memorised`` with the clean pattern as input (the paper's words); ``once`` with
   a corrupted input (``TrainConfig.training_p`` of the pixels flipped afresh every epoch, the
   target still the clean pattern); both.
2. Screening on :data:`SCREEN` (the alphabets): every candidate, every rule, the development
   run's seeds, tested as Table 1. EP's current default (``once``, clean) trains beside them as
   the reference.
3. Confirmation on the other sets: for each rule, the candidates that reached the target on
   every screened set and seed, in order, until one reaches it on every other set and seed too.
4. A rule none of whose candidates passes both stages keeps its default; the report says so.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import torch

from ..._parallel import Workers, pool
from ...errors import ConfigError
from ...progress import Progress
from .config import ReconstructionConfig
from .development import TARGET, DevelopmentConfig, _rows, _run_pieces, _span, set_size

CANDIDATES: tuple[tuple[str, str], ...] = (
    ("until-memorised", "clean"), ("once", "corrupted"), ("until-memorised", "corrupted"),
)
"""(presentation, training input) of round 3, in the rule's order (least departure first)."""
REFERENCE = ("once", "clean")
"""EP's default before round 3, trained beside the candidates (RBP's is candidate 1)."""
SCREEN = ("alphabet26", "lower16")
"""The sets that rounds 1-2 missed: round 3's screening stage."""
RULES = ("ep", "rbp")
TITLE = "Round 3 of the development rule: how EP and RBP present the patterns"


def _eta(rule: str, name: str) -> float:
    """Each rule's current rate on set ``name``: EP the paper's, RBP round 2's law at the set's N."""
    d = ReconstructionConfig()
    return d.eta if rule == "ep" else d.eta_of("rbp", set_size(name))


def _pieces(sets: list[str], rule: str, cands, cfg: DevelopmentConfig) -> list[tuple]:
    return [(s, rule, pres, (_eta(rule, s),), cfg, inp) for s in sets for pres, inp in cands]


def _accuracies(results: list[dict], rule: str, cand: tuple[str, str], sets) -> list[float]:
    return [q["accuracy"] for r in results if r["rule"] == rule and r["set"] in sets
            and (r["presentation"], r["training_input"]) == cand for q in r["points"]]


def _passes(acc: list[float], expected: int) -> bool:
    return len(acc) == expected and min(acc) >= TARGET


def run(cfg: DevelopmentConfig, *, progress: Progress | None = None, workers: int | Workers = 1) -> dict[str, Any]:
    """Screen every candidate on the alphabets, confirm the passing ones on the other sets, choose."""
    t0 = time.perf_counter()
    screen = [s for s in cfg.sets if s in SCREEN]
    confirm = [s for s in cfg.sets if s not in SCREEN]
    if not screen:
        raise ConfigError(f"sets: round 3 screens on {', '.join(SCREEN)}; name at least one of them, "
                          f"got {', '.join(cfg.sets) or 'none'}")
    with pool(workers) as w:
        first = [q for rule in RULES for q in _pieces(screen, rule, CANDIDATES, cfg)]
        first += _pieces(screen, "ep", (REFERENCE,), cfg)
        results = _run_pieces(first, w, progress, "round 3: screening")
        queue = {rule: [c for c in CANDIDATES
                        if _passes(_accuracies(results, rule, c, screen), len(screen) * cfg.seeds)]
                 for rule in RULES}
        screened = {rule: list(queue[rule]) for rule in RULES}
        chosen: dict[str, tuple[str, str] | None] = {rule: None for rule in RULES}
        while confirm and any(queue.values()):  # one candidate per rule at a time, in order
            todo = [(rule, queue[rule][0]) for rule in RULES if queue[rule]]
            results += _run_pieces([q for rule, c in todo for q in _pieces(confirm, rule, (c,), cfg)], w, progress,
                                   "round 3: confirmation")
            for rule, c in todo:
                if _passes(_accuracies(results, rule, c, confirm), len(confirm) * cfg.seeds):
                    chosen[rule], queue[rule] = c, []
                else:
                    queue[rule].pop(0)
        if not confirm:  # nothing to confirm on: the first candidate that passed the screening
            chosen = {rule: (screened[rule] or [None])[0] for rule in RULES}
    return {"round3": True, "config": asdict(cfg), "candidates": [list(c) for c in CANDIDATES],
            "reference": list(REFERENCE), "screen": screen, "confirm": confirm, "target": TARGET,
            "screened": {rule: [list(c) for c in screened[rule]] for rule in RULES},
            "chosen": {rule: None if c is None else list(c) for rule, c in chosen.items()},
            "rows": _rows(results, base=None), "seconds": time.perf_counter() - t0, "threads": torch.get_num_threads()}


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "round3", **q} for q in result["rows"]]


def _name(c) -> str:
    return f"{c[0]}, {c[1]}"


def section(result: dict[str, Any], *, command: str):
    """Round 3's report section: every (set, rule, candidate) cell, the stages and the choice."""
    from ..report import Claim, Section

    rows = result["rows"]
    cols = [("EP now (" + _name(REFERENCE) + ")", "ep", tuple(REFERENCE))]
    cols += [(f"{rule.upper()} {i + 1} ({_name(c)})", rule, c) for rule in RULES for i, c in enumerate(CANDIDATES)]
    lines = ["| set | N | P | " + " | ".join(c for c, _, _ in cols) + " |", "|" + "---|" * (3 + len(cols))]
    for s in dict.fromkeys(q["set"] for q in rows):
        q0 = next(q for q in rows if q["set"] == s)
        cells = [_span([q for q in rows if q["set"] == s and q["rule"] == rule
                        and (q["presentation"], q["training_input"]) == tuple(c)]) for _, rule, c in cols]
        lines.append(f"| {s} | {q0['N']} | {q0['P']} | " + " | ".join(cells) + " |")
    cfg = result["config"]
    words = []
    for rule in RULES:
        passed = result["screened"][rule]
        c = result["chosen"][rule]
        words.append(f"{rule.upper()}: " + (f"passed the screening: {'; '.join(_name(x) for x in passed)}. "
                                            if passed else "no candidate passed the screening. ")
                     + (f"Chosen: {_name(c)}." if c else "Default unchanged (target missed)."))
    text = "\n".join([
        f"Rule (fixed before these numbers; docs/claims.md): screen every candidate on {', '.join(result['screen'])}; "
        f"confirm, in order, those that reach {result['target']} with every one of {cfg['seeds']} seed(s) on every "
        f"screened set on the other sets ({', '.join(result['confirm']) or 'none'}); the first to pass both becomes "
        f"the rule's default, else the default stays. Table 1 accuracy (p = {cfg['p']}, protocol initial, "
        f"{cfg['samples']} test patterns per class), lowest-highest over seeds; n/a: not trained (a candidate is "
        f"confirmed only if it passed the screening).", "", *lines, "", *words,
        f"Time {result['seconds']:.0f} s, {result['threads']} torch thread(s) per process."])
    claims = [Claim(study="development", claim=f"(ours) round 3 finds how to train {rule.upper()} so that it "
                    f"reaches {result['target']} on every set run", measured=(_name(result["chosen"][rule])
                                                                  if result["chosen"][rule] else "none"),
                    holds=result["chosen"][rule] is not None, command=command) for rule in RULES]
    return Section(study="development", title=TITLE, claims=claims, text=text)
