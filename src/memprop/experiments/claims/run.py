"""The claims map: every cell x seed as a resumable sweep, then every claim under every reading.

:func:`run` builds the sweep spec (:func:`spec`: the cells as a grid, the seeds), runs it on the
sweep engine into an SQLite store (``cfg.store``; a rerun skips the finished tasks, so a crashed
or interrupted map resumes), reads the store back and judges every claim under every reading
(:mod:`memprop.experiments.claims.judge`). The same spec runs on a cluster with
``memprop sweep run examples/claims_sweep.toml --scheduler tcp://HOST:PORT``; ``memprop reproduce
claims --out DIR`` then judges the store it finds in ``DIR``.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError
from ...progress import Progress
from ..report import Claim, Section
from . import judge
from .config import (
    CLAIMS,
    FAIL,
    FIG3_EP_BY,
    FIG3_RBP_BY,
    FIG3_RBP_NOT_BY,
    GOOD,
    SCHEDULE,
    SPARSE,
    TITLE,
    ClaimsConfig,
    readings,
)

CLAIM_TEXT = {
    "table1": "Table 1: RBP and EP reconstruct the correlated patterns, Hebbian and Storkey fail",
    "fig2": "Figure 2: with few connections EP does better than RBP",
    "fig3": "Figure 3: EP is good within 50 epochs, RBP needs about 300",
    "fig5": "Figure 5: EP trains the 784-500-5 classifier to a low error",
}

CRITERIA = {
    "table1": (f"the paper: RBP and EP \"are able to reconstruct\" the patterns while Hebbian and Storkey "
               f"\"fail\". Criterion: per seed, the lower of EP's and RBP's Table 1 accuracy (p = 0.1) is above "
               f"{GOOD}, and the higher of Hebbian's and Storkey's is below {FAIL}."),
    "fig2": (f"the paper: EP \"performs better\" than RBP when the connections are few. Criterion: the "
             f"difference EP - RBP in accuracy (mean over p), averaged over the sparse working range - the K "
             f"that keep at most {SPARSE:.0%} of the N^2 synapses and where either rule's mean accuracy is above "
             f"{FAIL} - is above 0."),
    "fig3": (f"the paper: EP reaches a good accuracy within {FIG3_EP_BY} epochs, RBP needs about {FIG3_RBP_BY}. "
             f"Criterion: EP's accuracy at epoch {FIG3_EP_BY} is above {GOOD}; RBP's is below {GOOD} at epoch "
             f"{FIG3_RBP_NOT_BY} and above it at epoch {FIG3_RBP_BY}."),
    "fig5": ("the paper: EP trains the layered network to a low error (its figure shows a few percent). "
             "Criterion: the held-out error after training is below the classification study's bound."),
}


def spec(cfg: ClaimsConfig) -> dict[str, Any]:
    """The map's sweep spec, TOML-shaped (what ``examples/claims_sweep.toml`` holds): every cell,
    seeds ``cfg.seed .. cfg.seed + cfg.seeds - 1``."""
    return {"study": "claims", "name": "claims" + ("-quick" if cfg.quick else ""), "fixed": cfg.settings(),
            "grid": {"cell": list(SCHEDULE)}, "seeds": list(range(cfg.seed, cfg.seed + cfg.seeds))}


Sweep = Callable[..., tuple[list[tuple[dict[str, Any], int, dict[str, Any]]], dict[str, Any]]]
"""``sweep(spec, store, *, workers, progress, fresh) -> (rows, summary)``: runs a TOML-shaped spec
into a store, resuming, and returns every finished task's (settings, seed, metrics) (the sweep
engine's :func:`memprop.sweeps.run_collect`, a layer above the studies)."""


def judge_all(metrics: dict[tuple[str, int], dict[str, Any]]) -> list[dict[str, Any]]:
    """Every reading x claim: verdict, estimate and interval, in words."""
    out = []
    for r in readings():
        for claim in CLAIMS:
            j = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in judge.judge(metrics, claim, r).items()}
            out.append({"reading": r.key, "presentation": r.presentation, "beta": r.beta,
                        "estimator": r.estimator, "protocol": r.protocol, "rbp_rate": r.rbp_rate,
                        "claim": claim, **j})
    return out


def run(cfg: ClaimsConfig, *, progress: Progress | None = None, workers: int = 1,
        sweep: Sweep | None = None) -> dict[str, Any]:
    """Run (or resume) the map's sweep with ``sweep`` (the sweep engine: ``memprop reproduce
    claims`` passes :func:`memprop.sweeps.run_collect`) and judge every claim under every reading."""
    if sweep is None:
        raise ConfigError("sweep: the claims map runs on the sweep engine; pass sweep=memprop.sweeps.run_collect")
    t0 = time.perf_counter()
    tmp = None
    store = cfg.store
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="memprop-claims-")
        store = str(Path(tmp.name) / "claims.db")
    try:
        rows, summary = sweep(spec(cfg), store, workers=workers, progress=progress, fresh=cfg.fresh)
    finally:
        if tmp is not None:
            tmp.cleanup()
    metrics = {(settings["cell"], seed): m for settings, seed, m in rows}
    verdicts = judge_all(metrics)
    curves = {r.key: judge.fig2_curve(metrics, r) for r in readings()}
    seconds = [m.get("seconds", 0.0) for m in metrics.values()]
    return {"config": cfg.to_json(), "verdicts": verdicts, "fig2_curves": curves,
            "criteria": CRITERIA, "claims": CLAIM_TEXT,
            "tasks": {"total": summary["total"], "ran": summary["submitted"], "skipped": summary["skipped"],
                      "task_seconds": sum(seconds)},
            "seconds": time.perf_counter() - t0, "threads": torch.get_num_threads(), "workers": workers}


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in q.items()} for q in result["verdicts"]]


def _by_claim(result: dict[str, Any], claim: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {judge.HOLDS: [], judge.FAILS: [], judge.UNDECIDED: [], judge.NA: []}
    for q in result["verdicts"]:
        if q["claim"] == claim:
            out[q["verdict"]].append(q["reading"])
    return out


def _summarise(keys: list[str], dont_care: list[str] = ()) -> str:
    """Readings in words, as few partial readings as cover them: each names only the choices
    that matter ("presentation until-memorised, protocol initial" stands for every reading with
    those two values), joined by " or ". Readings in ``dont_care`` (not applicable ones) may be
    covered or not, whichever gives the shorter description. A greedy cover over every partial
    reading (3 x 4 x 3 x 3 x 3 = 324 of them): always the one that covers most of what is left,
    the most general on a tie."""
    if not keys:
        return "none"
    every = [tuple(q.key.split("|")) for q in readings()]
    want, free = {tuple(k.split("|")) for k in keys}, {tuple(k.split("|")) for k in dont_care}
    if want | free >= set(every):
        return "every reading"
    names = ("presentation", "beta", "estimator", "protocol", "RBP rate")
    options = [list(dict.fromkeys(t[d] for t in every)) for d in range(5)]
    cubes = []
    for cube in itertools.product(*[(None, *o) for o in options]):
        pts = {t for t in every if all(c is None or c == v for c, v in zip(cube, t))}
        if pts <= want | free and pts & want:
            cubes.append((cube, pts))
    left, chosen = set(want), []
    while left:
        cube, pts = max(cubes, key=lambda c: (len(c[1] & left), sum(v is None for v in c[0])))
        chosen.append(cube)
        left -= pts

    def words(cube):
        return ", ".join(f"{names[d]} {v.split('=')[-1]}" for d, v in enumerate(cube) if v is not None)

    return " or ".join(f"({words(c)})" if len(chosen) > 1 else words(c) for c in chosen)


def section(result: dict[str, Any], *, command: str) -> Section:
    """The claims map's report section: the criteria first, then where each claim holds and fails."""
    cfg = result["config"]
    lines = [
        f"Readings: presentation (once / until-memorised) x EP beta (0.1, 0.5, 1) x estimator (one-sided, centred) "
        f"x test protocol (initial / input) x RBP rate (paper / default) = {len(readings())}. {cfg['seeds']} training "
        f"seed(s) per cell; verdicts from 95 % Student-t intervals over seeds (holds / fails / not decided where the "
        f"interval straddles the criterion). Patterns {cfg['patterns']}, {cfg['epochs']} epochs, Figure 2's K "
        f"{list(cfg['K'])} and p {list(cfg['p_fig2'])}, test patterns per class: Table 1 {cfg['samples_table1']}, "
        f"Figure 2 {cfg['samples_fig2']}, Figure 3 {cfg['samples_fig3']}." + (" **--quick: a smoke run**: 8 "
                                                                              "epochs, 2 seeds, tiny test sets." if cfg["quick"] else ""),
        "",
        "**Criteria (written from the paper's words before the map's numbers):**",
        *[f"- {CLAIM_TEXT[c]}: {CRITERIA[c]}" for c in CLAIMS],
        "",
        "**Where each claim holds:**",
    ]
    claims = []
    for c in CLAIMS:
        by = _by_claim(result, c)
        lines.append(f"- {CLAIM_TEXT[c]}: holds under {_summarise(by[judge.HOLDS], by[judge.NA])}; fails under "
                     f"{_summarise(by[judge.FAILS], by[judge.NA])}; not decided under "
                     f"{_summarise(by[judge.UNDECIDED], by[judge.NA])}"
                     + (f"; not applicable under {_summarise(by[judge.NA])}" if by[judge.NA] else "") + ".")
        n = {k: len(v) for k, v in by.items()}
        claims.append(Claim(study="claims", claim=CLAIM_TEXT[c],
                            measured=f"holds under {n[judge.HOLDS]}, fails under {n[judge.FAILS]}, not decided under "
                                     f"{n[judge.UNDECIDED]}, not applicable under {n[judge.NA]} of "
                                     f"{len(readings())} readings (claims.csv)",
                            holds=(True if n[judge.HOLDS] == len(readings()) else
                                   False if n[judge.FAILS] == len(readings()) else None),
                            command=command, plots=("claims.png",)))
    t = result["tasks"]
    lines += ["", f"Time: {result['seconds']:.0f} s for {t['ran']} task(s) run ({t['skipped']} already in the store; "
                  f"{t['task_seconds']:.0f} s of task time), {result['workers']} worker(s), {result['threads']} torch "
                  f"thread(s) per process."]
    return Section(study="claims", title=TITLE, claims=claims, text="\n".join(lines))
