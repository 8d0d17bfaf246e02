r"""Verdicts of the claims map: each claim under each reading, with a 95 % interval over seeds.

Every claim is reduced to one number per training seed (its *statistic*), compared with the
criterion's threshold. The interval is Student's t over the seeds,
:math:`\bar s \pm t_{0.975, n-1}\, \mathrm{sd}(s) / \sqrt n`; the verdict is **holds** when the
whole interval is on the claim's side of the threshold, **fails** when it is wholly on the other
side, and **not decided** when it straddles it (or with fewer than 2 seeds). A claim with several
conditions holds when all hold and fails when any fails. The test-set sampling error (below 0.01
per point) is part of the spread: every seed draws its own test set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..classification.config import FIG5_ERROR_BOUND
from .config import (
    CELLS,
    FAIL,
    FIG3_EP_BY,
    FIG3_RBP_BY,
    FIG3_RBP_NOT_BY,
    GOOD,
    RBP_VARIANT,
    SPARSE,
    Reading,
)

_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
"""Student's t quantile 0.975 for 1..30 degrees of freedom."""

HOLDS, FAILS, UNDECIDED, NA = "holds", "fails", "not decided", "not applicable"

Metrics = Mapping[tuple[str, int], Mapping[str, Any]]
"""(cell, seed) -> the task's metrics."""


def t975(df: int) -> float:
    """Student's t quantile 0.975 (df >= 1; the normal 1.96 beyond 30, within 2 %)."""
    return _T975[df - 1] if df <= len(_T975) else 1.96


def interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95 % t interval of the mean; (mean, -inf, inf) for one value."""
    n = len(values)
    if n == 0:
        return math.nan, -math.inf, math.inf
    m = sum(values) / n
    if n < 2:
        return m, -math.inf, math.inf
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h


def side(values: Sequence[float], threshold: float, above: bool = True) -> tuple[str, dict[str, float]]:
    """Verdict of "mean > threshold" (``above``) or "mean < threshold", from the interval."""
    m, lo, hi = interval(values)
    if above:
        v = HOLDS if lo > threshold else FAILS if hi < threshold else UNDECIDED
    else:
        v = HOLDS if hi < threshold else FAILS if lo > threshold else UNDECIDED
    return v, {"estimate": m, "low": lo, "high": hi, "seeds": len(values)}


def combine(verdicts: Sequence[str]) -> str:
    if any(v == FAILS for v in verdicts):
        return FAILS
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else UNDECIDED


def _seeds(metrics: Metrics, *cells: str) -> list[int]:
    """Seeds every one of ``cells`` has."""
    sets = [{s for (c, s) in metrics if c == cell} for cell in cells]
    return sorted(set.intersection(*sets)) if sets else []


def cells_of(r: Reading) -> dict[str, str]:
    b = f"{r.beta:g}"
    return {"ep": f"ep/{r.estimator}/{b}/{r.presentation}", "rbp": f"rbp/{r.presentation}", "stored": "stored",
            "fig5": f"fig5/{r.estimator}/{b}"}


def _fmt(d: dict[str, float]) -> str:
    if not math.isfinite(d["low"]):
        return f"{d['estimate']:.3f} (n = {d['seeds']}, no interval)"
    return f"{d['estimate']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def table1(metrics: Metrics, r: Reading) -> dict[str, Any]:
    """EP and RBP reconstruct (min of the two >= GOOD, per seed), Hebbian and Storkey fail
    (max of the two <= FAIL, per seed)."""
    c = cells_of(r)
    v = RBP_VARIANT[r.rbp_rate]
    q = r.protocol
    seeds = _seeds(metrics, c["ep"], c["rbp"])
    both = [min(metrics[(c["ep"], s)][f"ep|{q}|t1"], metrics[(c["rbp"], s)][f"{v}|{q}|t1"]) for s in seeds]
    stored_seeds = _seeds(metrics, "stored")
    stored = [max(metrics[("stored", s)][f"hebbian|{q}|t1"], metrics[("stored", s)][f"storkey|{q}|t1"])
              for s in stored_seeds]
    a, da = side(both, GOOD)
    b, db = side(stored, FAIL, above=False)
    ep = interval([metrics[(c["ep"], s)][f"ep|{q}|t1"] for s in seeds])
    rb = interval([metrics[(c["rbp"], s)][f"{v}|{q}|t1"] for s in seeds])
    return {"verdict": combine([a, b]), **da,
            "detail": (f"min(EP, RBP) {_fmt(da)} vs {GOOD}; EP {ep[0]:.3f}, RBP {rb[0]:.3f}; "
                       f"max(Hebbian, Storkey) {_fmt(db)} vs {FAIL}")}


def fig2_curve(metrics: Metrics, r: Reading) -> dict[str, Any]:
    """EP minus RBP accuracy against the fraction of synapses kept: per K, the mean over p, with
    its interval over seeds; and the sparse working range (fraction <= SPARSE, and either rule's
    mean accuracy > FAIL there)."""
    c = cells_of(r)
    v = RBP_VARIANT[r.rbp_rate]
    q = r.protocol
    seeds = _seeds(metrics, c["ep"], c["rbp"])
    if not seeds:
        return {"points": [], "seeds": 0}
    m0 = metrics[(c["ep"], seeds[0])]
    n = int(m0["N"])
    keys = sorted({tuple(k.split("|")[3:5]) for k in m0 if k.startswith(f"ep|{q}|f2|")},
                  key=lambda t: (int(t[0]), float(t[1])))
    Ks = sorted({int(k) for k, _ in keys})
    points = []
    for K in Ks:
        ps = [p for k, p in keys if int(k) == K]
        ep = {s: [metrics[(c["ep"], s)][f"ep|{q}|f2|{K}|{p}"] for p in ps] for s in seeds}
        rb = {s: [metrics[(c["rbp"], s)][f"{v}|{q}|f2|{K}|{p}"] for p in ps] for s in seeds}
        diff = [sum(ep[s]) / len(ps) - sum(rb[s]) / len(ps) for s in seeds]
        m, lo, hi = interval(diff)
        best = max(sum(sum(ep[s]) for s in seeds), sum(sum(rb[s]) for s in seeds)) / (len(seeds) * len(ps))
        frac = (n * n - K * (K + 1)) / (n * n)
        points.append({"K": K, "fraction": frac, "difference": m, "low": lo if math.isfinite(lo) else None,
                       "high": hi if math.isfinite(hi) else None, "best": best,
                       "ep": sum(sum(ep[s]) for s in seeds) / (len(seeds) * len(ps)),
                       "rbp": sum(sum(rb[s]) for s in seeds) / (len(seeds) * len(ps)),
                       "in_range": frac <= SPARSE and best > FAIL, "per_seed": diff})
    return {"points": points, "seeds": len(seeds)}


def fig2(metrics: Metrics, r: Reading) -> dict[str, Any]:
    """With few connections EP does better than RBP: over the sparse working range, the mean of
    EP - RBP (per seed) is above 0."""
    curve = fig2_curve(metrics, r)
    rng = [p for p in curve["points"] if p["in_range"]]
    if not rng:
        return {"verdict": UNDECIDED, "estimate": math.nan, "low": -math.inf, "high": math.inf,
                "seeds": curve["seeds"], "detail": "no K leaves <= 50 % of the synapses with either rule above 0.5"}
    per_seed = [sum(p["per_seed"][i] for p in rng) / len(rng) for i in range(curve["seeds"])]
    v, d = side(per_seed, 0.0)
    return {"verdict": v, **d, "detail": (f"EP - RBP over K in {[p['K'] for p in rng]} "
                                          f"(fraction {min(p['fraction'] for p in rng):.2f}-"
                                          f"{max(p['fraction'] for p in rng):.2f}): {_fmt(d)} vs 0")}


def fig3(metrics: Metrics, r: Reading) -> dict[str, Any]:
    """EP is good by epoch 50; RBP is not yet good at epoch 150 and good by 300."""
    c = cells_of(r)
    v = RBP_VARIANT[r.rbp_rate]
    q = r.protocol
    seeds = _seeds(metrics, c["ep"], c["rbp"])
    need = {FIG3_EP_BY, FIG3_RBP_NOT_BY, FIG3_RBP_BY}
    have = {int(k.split("|")[3]) for k in metrics[(c["ep"], seeds[0])] if k.startswith(f"ep|{q}|f3|")} if seeds else set()
    if not need <= have:
        return {"verdict": UNDECIDED, "estimate": math.nan, "low": -math.inf, "high": math.inf, "seeds": len(seeds),
                "detail": f"needs the accuracy at epochs {sorted(need)}; measured {sorted(have)}"}
    ep50 = [metrics[(c["ep"], s)][f"ep|{q}|f3|{FIG3_EP_BY}"] for s in seeds]
    rb150 = [metrics[(c["rbp"], s)][f"{v}|{q}|f3|{FIG3_RBP_NOT_BY}"] for s in seeds]
    rb300 = [metrics[(c["rbp"], s)][f"{v}|{q}|f3|{FIG3_RBP_BY}"] for s in seeds]
    a, da = side(ep50, GOOD)
    b, db = side(rb150, GOOD, above=False)
    e, de = side(rb300, GOOD)
    upd = [metrics[(c["rbp"], s)].get(f"{v}|updates|{FIG3_RBP_BY}") for s in seeds]
    upd_ep = [metrics[(c["ep"], s)].get(f"ep|updates|{FIG3_EP_BY}") for s in seeds]
    detail = (f"EP at epoch {FIG3_EP_BY} {_fmt(da)} (> {GOOD}); RBP at {FIG3_RBP_NOT_BY} {_fmt(db)} (< {GOOD}); "
              f"RBP at {FIG3_RBP_BY} {_fmt(de)} (> {GOOD})")
    if all(u is not None for u in upd + upd_ep):
        detail += (f"; updates: EP {sum(upd_ep) / len(upd_ep):.0f} by epoch {FIG3_EP_BY}, RBP "
                   f"{sum(upd) / len(upd):.0f} by epoch {FIG3_RBP_BY}")
    return {"verdict": combine([a, b, e]), **da, "detail": detail}


def fig5(metrics: Metrics, r: Reading) -> dict[str, Any]:
    """EP trains the classifier to a low error: held-out error below the study's bound."""
    cell = cells_of(r)["fig5"]
    err = [metrics[(cell, s)]["fig5|test_error"] for s in _seeds(metrics, cell)]
    v, d = side(err, FIG5_ERROR_BOUND, above=False)
    return {"verdict": v, **d, "detail": f"held-out error {_fmt(d)} vs {FIG5_ERROR_BOUND}"}


def not_applicable(claim: str, r: Reading) -> dict[str, Any] | None:
    """The verdict of a reading under which the claim cannot be measured (its EP cell is
    ill-posed), else None."""
    if claim != "fig5" and cells_of(r)["ep"] not in CELLS:
        return {"verdict": NA, "estimate": math.nan, "low": -math.inf, "high": math.inf, "seeds": 0,
                "detail": f"EP's {r.estimator} estimator with beta = {r.beta:g} has no nudged fixed point here"}
    return None


NEEDS = {"table1": ("ep", "rbp", "stored"), "fig2": ("ep", "rbp"), "fig3": ("ep", "rbp"), "fig5": ("fig5",)}
"""The cells each claim is judged from (keys of :func:`cells_of`)."""


def judge(metrics: Metrics, claim: str, r: Reading) -> dict[str, Any]:
    """The verdict of ``claim`` under reading ``r``: not applicable, not decided for lack of
    results (a cell that has not run yet), or the claim's judge."""
    na = not_applicable(claim, r)
    if na is not None:
        return na
    c = cells_of(r)
    missing = [c[k] for k in NEEDS[claim] if not _seeds(metrics, c[k])]
    if missing:
        return {"verdict": UNDECIDED, "estimate": math.nan, "low": -math.inf, "high": math.inf, "seeds": 0,
                "detail": f"missing results of cell(s) {', '.join(missing)}"}
    return JUDGES[claim](metrics, r)


JUDGES = {"table1": table1, "fig2": fig2, "fig3": fig3, "fig5": fig5}
