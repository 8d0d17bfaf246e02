r"""Choosing RBP's default training on the development collection, by a rule fixed in advance.

The reconstruction study's ``rbp`` variant departs from the paper in one documented place: how RBP
is trained (the paper's literal settings, variant ``rbp_paper``, stay in every result). That
choice is made here, on pattern sets the reported results do not use: the development
collection of :mod:`memprop.data.development` (two hand-drawn alphabets, six generated
correlated sets at N = 100 and 256), never on the shipped ``letters16``.

The rule, in two rounds, each written before its numbers were measured (``docs/claims.md``):

Round 1 (presentation and rate at N = 100), on the N = 100 sets:

1. Candidates, in order of how little they change the paper's protocol and how little they
   cost: :data:`RBP_CANDIDATES`, each pattern shown ``once`` per epoch before
   ``until-memorised`` (which costs up to ``max_presentations`` times more), and a smaller
   learning rate before a larger one (the paper's eta = 0.01 first).
2. Each candidate trains RBP at full connectivity on every set with :data:`SEEDS` training
   seeds (everything else as the study's defaults: 300 epochs, symmetric W(0) uniform in
   [-0.1, 0.1], random v(0), side state reset to 0.5), and is tested as Table 1: p = 0.1,
   protocol ``initial``, :data:`SAMPLES` corrupted patterns per class.
3. The default is the first candidate whose accuracy reaches :data:`TARGET` with every seed on
   every set. If none does, the candidate with the largest worst case (minimum over sets and
   seeds) is taken, and the report says that the target was missed.

Round 2 (how the rate scales with N), on the sets with N != 100: round 1's choice trains at
eta(N) = eta * (100 / N) ** a for each exponent a of :data:`RATE_EXPONENTS` (in that order),
tested as in round 1; the exponent is chosen by the same rule (first to reach the target with
every seed on every such set, else the best worst case).

EP and ``rbp_paper`` train beside them with the study's defaults (they are not being chosen),
so the table shows every rule on every set.

Round 3 (``cfg.round3``, :mod:`memprop.experiments.reconstruction.round3`) asks how both rules
present the patterns, on the alphabets that rounds 1-2 missed; no candidate reached the target,
so both defaults stayed (``docs/claims.md``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..._parallel import Workers, map_workers
from ..._validate import flag, positive_int
from ...data import DEVELOPMENT_SETS
from ...errors import ConfigError, DataError
from ...progress import Progress
from .config import (
    RATE_REFERENCE_N,
    ReconstructionConfig,
    TrainConfig,
    derive_seed,
    load_pattern_set,
    rbp_rate,
)
from .recall import nearest_pattern
from .run import Job, Row, evaluate, test_set, train_stack

TITLE = "RBP's default, chosen on the development collection (not on the reported letters)"

RBP_CANDIDATES: tuple[tuple[str, float], ...] = (
    ("once", 0.01), ("once", 0.02), ("once", 0.04),
    ("until-memorised", 0.01), ("until-memorised", 0.02), ("until-memorised", 0.04),
)
"""(presentation, eta) of RBP, in the rule's order (the first is the paper's eta)."""
RATE_EXPONENTS: tuple[float, ...] = (1.0, 1.5, 2.0)
"""Round 2's candidates a of eta(N) = eta * (100 / N) ** a, in the rule's order (1: the rate
normalised by the fan-in)."""
TARGET = 0.95
"""Table 1 accuracy (p = 0.1) each seed must reach on each set."""
SEEDS = 2
SAMPLES = 200
"""Corrupted test patterns per class (sampling error of a set's accuracy below 0.005)."""
QUICK_SETS = ("corr30_n100",)
QUICK_EPOCHS = 60


@dataclass(frozen=True, kw_only=True, slots=True)
class DevelopmentConfig:
    """The selection run: which sets, seeds and test sizes (the rule itself is fixed above)."""

    sets: tuple[str, ...] = DEVELOPMENT_SETS
    check: tuple[str, ...] = ()
    """Pattern sets outside the collection (files, or ``builtin:`` names) on which the shipped
    defaults are checked beside the rule's run: EP, ``rbp_paper`` and the ``rbp`` default (its
    rate at the set's N), tested as the collection. They never enter the rule."""
    seeds: int = SEEDS
    samples: int = SAMPLES
    p: float = 0.1
    epochs: int = 300
    seed: int = 0
    quick: bool = False
    torch_device: str = "cpu"
    dtype: str | None = None
    round3: bool = False
    """Run round 3 (:mod:`memprop.experiments.reconstruction.round3`: how both rules present the
    patterns) instead of rounds 1-2, whose outcome is the shipped default."""

    def __post_init__(self):
        if not self.sets and not self.check:
            raise ConfigError("sets must name at least one development set (or give check files), got ()")
        for i, f in enumerate(self.check):
            if not isinstance(f, str) or not f:
                raise ConfigError(f"check[{i}] must be a pattern file path or 'builtin:NAME', got {f!r}")
        for s in self.sets:
            if s not in DEVELOPMENT_SETS:
                raise ConfigError(f"sets: unknown development set {s!r}; allowed: {', '.join(DEVELOPMENT_SETS)}")
        positive_int("seeds", self.seeds)
        positive_int("samples", self.samples)
        positive_int("epochs", self.epochs)
        flag("round3", self.round3)
        if self.round3 and self.check:
            raise ConfigError("check: round 3 runs on the development sets only; run --check on its own")

    def study(self, name: str, presentation: str, training_input: str = "clean") -> ReconstructionConfig:
        """The reconstruction config that trains and tests on set ``name``."""
        return ReconstructionConfig(patterns=_spec(name), seed=self.seed, p=self.p,
                                    samples_table1=self.samples, rbp_etas=(), fig3_epochs=(self.epochs,),
                                    training=TrainConfig(epochs=self.epochs, presentation=presentation,
                                                         training_input=training_input),
                                    torch_device=self.torch_device, dtype=self.dtype)


def quick_development(**overrides: Any) -> DevelopmentConfig:
    """``--quick``: one N = 100 set, one seed, 60 epochs, 50 test patterns per class: a smoke run of
    the machinery (the rule needs the full collection and 300 epochs)."""
    sets = ("lower16",) if overrides.get("round3") else QUICK_SETS  # round 3 screens on an alphabet
    return DevelopmentConfig(**{"sets": sets, "seeds": 1, "samples": 50, "epochs": QUICK_EPOCHS,
                                "quick": True, **overrides})


def _piece(name: str, rule: str, presentation: str, etas: tuple[float, ...], cfg: DevelopmentConfig,
           training_input: str = "clean") -> dict:
    """Train one stack (one rule, presentation and training input; every eta x seed) on set
    ``name`` and test it."""
    rc = cfg.study(name, presentation, training_input)
    ps = load_pattern_set(rc.patterns, rc.recall_dtype())
    variant = "ep" if rule == "ep" else "rbp_sweep"
    rows = [Row(variant, eta, 0, s) for eta in etas for s in range(cfg.seeds)]
    t0 = time.perf_counter()
    tr = train_stack(rule, rows, ps.patterns, rc)
    job = Job(rule, tuple(r.key for r in rows), tr["W"], cfg.p, cfg.samples, derive_seed(cfg.seed, "table1", cfg.p))
    res = evaluate([job], ps.patterns, rc)
    return {"set": name, "rule": rule, "presentation": presentation, "training_input": training_input,
            "N": ps.n, "P": len(ps),
            "correlation": _mean_correlation(ps.correlation()),
            "points": [{"eta": r.eta, "seed": r.seed, "accuracy": res[r.key]["mean"],
                        "presentations": sum(tr["history"]["presentations"][i].tolist()),
                        "capped": sum(tr["history"]["capped"][i].tolist()),
                        "diverged": bool(tr["history"]["diverged"][i, -1])} for i, r in enumerate(rows)],
            "seconds": time.perf_counter() - t0}


def _mean_correlation(c: torch.Tensor) -> float:
    off = c[~torch.eye(c.shape[0], dtype=torch.bool)]
    return float(off.double().mean())


def choose(table: dict[tuple[str, float], list[float]]) -> tuple[tuple[str, float], bool]:
    """Round 1's rule: the first candidate whose every accuracy (sets x seeds) reaches TARGET; else
    the one with the largest minimum. Returns (candidate, whether it reached the target)."""
    return choose_first([(c, table[c]) for c in RBP_CANDIDATES if c in table])


def _spec(name: str) -> str:
    """The pattern spec of a development set's name; a check set's own spec (a path or builtin)."""
    return f"builtin:dev/{name}" if name in DEVELOPMENT_SETS else name


@functools.cache
def set_size(name: str) -> int:
    """N of development set (or check set) ``name``."""
    return load_pattern_set(_spec(name)).n


def check(cfg: DevelopmentConfig) -> None:
    """Load every check set before anything runs (a bad file fails at once, naming itself)."""
    for i, f in enumerate(cfg.check):
        try:
            set_size(f)
        except DataError as e:
            raise DataError(f"check[{i}]: {e} (a pattern file: .txt, .npy, .npz, .png or a folder of PNGs, "
                            f"or builtin:NAME)") from None


def _nearest_reference(name: str, cfg: DevelopmentConfig) -> float:
    """Accuracy of the nearest-pattern decoder on set ``name``'s Table 1 test set (the one every
    rule is tested on): what any recall ending on a stored pattern can reach at most."""
    xi = load_pattern_set(_spec(name), torch.float64).patterns
    x, t = test_set(xi, cfg.p, cfg.samples, derive_seed(cfg.seed, "table1", cfg.p))
    return float(nearest_pattern(x, xi, t).double().mean())


def _round1_pieces(name: str, cfg: DevelopmentConfig) -> list[tuple]:
    return [(name, "rbp", pres, tuple(e for p, e in RBP_CANDIDATES if p == pres), cfg)
            for pres in ("once", "until-memorised")]


def _round2_piece(name: str, n: int, base: tuple[str, float], cfg: DevelopmentConfig) -> tuple:
    etas = tuple(dict.fromkeys(rbp_rate(base[1], a, n) for a in RATE_EXPONENTS))
    return (name, "rbp", base[0], etas, cfg)


def _check_pieces(name: str, cfg: DevelopmentConfig) -> list[tuple]:
    """EP, rbp_paper and the shipped ``rbp`` default on check set ``name``."""
    d, n = ReconstructionConfig(), set_size(name)
    return [(name, "ep", "once", (d.eta,), cfg), (name, "rbp", "once", (d.eta,), cfg),
            (name, "rbp", d.presentation_of("rbp"), (d.eta_of("rbp", n),), cfg)]


def _run_pieces(pieces: list[tuple], workers, progress, stage: str) -> list[dict]:
    pieces = sorted(pieces, key=lambda a: (-set_size(a[0]), a[2] == "once"))  # the longest first
    return map_workers(_piece, pieces, workers=workers, progress=progress, stage=stage)


def run(cfg: DevelopmentConfig, *, progress: Progress | None = None, workers: int | Workers = 1) -> dict[str, Any]:
    """Train and test every candidate (and EP, rbp_paper) on every set; apply both rounds (with
    ``cfg.round3``, round 3 instead)."""
    if cfg.round3:
        from . import round3

        return round3.run(cfg, progress=progress, workers=workers)
    t0 = time.perf_counter()
    sets1 = [s for s in cfg.sets if set_size(s) == RATE_REFERENCE_N]
    sets2 = [s for s in cfg.sets if set_size(s) != RATE_REFERENCE_N]
    default = ReconstructionConfig()
    base = (default.rbp_presentation or default.training.presentation, default.eta_rbp)
    fixed = [(s, "ep", "once", (default.eta,), cfg) for s in cfg.sets]
    fixed += [(s, "rbp", "once", (default.eta,), cfg) for s in sets2]  # rbp_paper (in round 1's stacks at N = 100)
    first = fixed + [q for s in sets1 for q in _round1_pieces(s, cfg)]
    if not sets1:  # round 1 is not run: its outcome is the shipped default, and round 2 needs nothing else
        first += [_round2_piece(s, set_size(s), base, cfg) for s in sets2]
    first += [q for f in cfg.check for q in _check_pieces(f, cfg)]
    results = _run_pieces(first, workers, progress, "development: train and test")
    checked = [r for r in results if r["set"] in cfg.check]
    results = [r for r in results if r["set"] not in cfg.check]
    rows = _rows(results, base=None)
    table1 = _table(rows, lambda q: q["rule"] == "rbp" and q["set"] in sets1,
                    lambda q: (q["presentation"], q["eta"]))
    round1 = None
    if table1:
        chosen1, reached1 = choose(table1)
        base = chosen1
        round1 = {"presentation": chosen1[0], "eta": chosen1[1], "reached_target": reached1,
                  "worst": {f"{p}|{e:g}": min(v) for (p, e), v in table1.items()}}
        if sets2:
            more = _run_pieces([_round2_piece(s, set_size(s), base, cfg) for s in sets2], workers, progress,
                               "development: round 2")
            results += more
    rows = _rows(results, base=base)
    round2 = None
    table2 = _table(rows, lambda q: q["exponent"] is not None and q["set"] in sets2, lambda q: q["exponent"])
    if table2:
        for a in RATE_EXPONENTS:
            table2.setdefault(a, [])
        chosen2, reached2 = choose_first([(a, table2[a]) for a in RATE_EXPONENTS])
        round2 = {"exponent": chosen2, "reached_target": reached2,
                  "worst": {f"{a:g}": min(table2[a]) for a in RATE_EXPONENTS if table2[a]}}
    rows = _sorted(rows, cfg.sets)
    chosen = {"presentation": base[0], "eta": base[1],
              "exponent": None if round2 is None else round2["exponent"],
              "round1_run": round1 is not None, "reached_target": all(
                  r["reached_target"] for r in (round1, round2) if r is not None)}
    reference = {s: _nearest_reference(s, cfg) for s in (*cfg.sets, *cfg.check)}
    check_rows = _sorted(_rows(checked, base=None), cfg.check)
    for q in check_rows:
        q["variant"] = "ep" if q["rule"] == "ep" else "rbp_paper" if (
            q["presentation"], q["eta"]) == ("once", default.eta) else "rbp"
    return {"config": asdict(cfg), "candidates": [list(c) for c in RBP_CANDIDATES],
            "exponents": list(RATE_EXPONENTS), "target": TARGET, "rows": rows, "check_rows": check_rows,
            "shipped": {"eta_rbp": default.eta_rbp, "rbp_rate_exponent": default.rbp_rate_exponent,
                        "presentation": default.presentation_of("rbp"), "eta": default.eta},
            "round1": round1, "round2": round2, "chosen": chosen, "nearest_pattern": reference,
            "seconds": time.perf_counter() - t0, "threads": torch.get_num_threads()}


def _rows(results: list[dict], *, base: tuple[str, float] | None) -> list[dict]:
    """One row per (set, rule, presentation, training input, eta, seed); a round-2 row (N != 100,
    round 1's presentation, a rate of round 2) names its exponent."""
    rows = []
    for r in results:
        for q in r["points"]:
            exps = [] if base is None or r["rule"] != "rbp" or r["N"] == RATE_REFERENCE_N or \
                r["presentation"] != base[0] else [a for a in RATE_EXPONENTS if rbp_rate(base[1], a, r["N"]) == q["eta"]]
            for a in exps or [None]:
                rows.append({"set": r["set"], "N": r["N"], "P": r["P"], "correlation": r["correlation"],
                             "rule": r["rule"], "presentation": r["presentation"],
                             "training_input": r["training_input"], "exponent": a, **q})
    return rows


def _sorted(rows: list[dict], names) -> list[dict]:
    """``rows`` in the order of ``names``, EP first, then by presentation, eta and seed."""
    order = {s: i for i, s in enumerate(names)}
    return sorted(rows, key=lambda q: (order[q["set"]], q["rule"] != "ep", q["presentation"], q["eta"], q["seed"]))


def _table(rows: list[dict], keep, key) -> dict:
    out: dict = {}
    for q in rows:
        if keep(q):
            out.setdefault(key(q), []).append(q["accuracy"])
    return out


def choose_first(candidates: list[tuple[Any, list[float]]]) -> tuple[Any, bool]:
    """The rule on an ordered list of (candidate, accuracies): the first whose every accuracy
    reaches TARGET; else the largest minimum. Returns (candidate, whether it reached it)."""
    have = [(c, v) for c, v in candidates if v]
    for c, v in have:
        if min(v) >= TARGET:
            return c, True
    return max(have, key=lambda cv: min(cv[1]))[0], False


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule's rows (role ``rule``), then the check sets' (role ``check``, with their variant)."""
    if result.get("round3"):
        from . import round3

        return round3.csv_rows(result)
    return ([{"role": "rule", **q} for q in result["rows"]]
            + [{"role": "check", **q} for q in result.get("check_rows", [])])


def _default_rows(result: dict[str, Any]) -> list[dict]:
    """The rows of the chosen default: round 1's choice at N = 100, the chosen exponent elsewhere."""
    ch = result["chosen"]
    return [q for q in result["rows"] if q["rule"] == "rbp" and q["presentation"] == ch["presentation"] and (
        (q["N"] == RATE_REFERENCE_N and q["eta"] == ch["eta"])
        or (q["N"] != RATE_REFERENCE_N and q["exponent"] is not None and q["exponent"] == ch["exponent"]))]


def section(result: dict[str, Any], *, command: str):
    """The selection's report section: the rules, every set's accuracies, the choice."""
    from ..report import Claim, Section

    if result.get("round3"):
        from . import round3

        return round3.section(result, command=command)
    rows, chosen = result["rows"], result["chosen"]
    if not rows:  # only check sets
        return Section(study="development", title=TITLE, claims=_check_claims(result, command),
                       text=_check_text(result).strip())
    sets = list(dict.fromkeys(q["set"] for q in rows))
    default = ReconstructionConfig()

    def cell(sel) -> str:
        return _span([q for q in rows if sel(q)])

    cols = [("EP", lambda q: q["rule"] == "ep"),
            ("rbp_paper (once 0.01)", lambda q: q["rule"] == "rbp" and q["presentation"] == "once"
             and q["eta"] == default.eta and q["exponent"] is None)]
    cols += [(f"R1 {p} {e:g}", lambda q, p=p, e=e: q["rule"] == "rbp" and q["N"] == RATE_REFERENCE_N
              and (q["presentation"], q["eta"]) == (p, e)) for p, e in RBP_CANDIDATES]
    cols += [(f"R2 a = {a:g}", lambda q, a=a: q["exponent"] == a) for a in RATE_EXPONENTS]
    default_keys = {id(q) for q in _default_rows(result)}
    cols.append(("**default**", lambda q: id(q) in default_keys))
    ref = result.get("nearest_pattern", {})
    lines = ["| set | N | P | corr | nearest pattern | " + " | ".join(c for c, _ in cols) + " |",
             "|" + "---|" * (5 + len(cols))]
    for s in sets:
        q0 = next(q for q in rows if q["set"] == s)
        cells = [cell(lambda q, f=f, s=s: q["set"] == s and f(q)) for _, f in cols]
        lines.append(f"| {s} | {q0['N']} | {q0['P']} | {q0['correlation']:.2f} | {_ref(ref, s)} | "
                     + " | ".join(cells) + " |")
    cfg = result["config"]
    r1, r2 = result["round1"], result["round2"]
    if r1 is not None:
        t1 = (f"Round 1 chose presentation `{r1['presentation']}`, eta {r1['eta']:g} at N = 100 "
              f"({'reached' if r1['reached_target'] else 'did NOT reach'} the target on every N = 100 set).")
    else:
        t1 = (f"Round 1 was not run (no N = 100 set): its shipped outcome, presentation `{chosen['presentation']}`, "
              f"eta {chosen['eta']:g} at N = 100, is round 2's base.")
    if r2 is not None:
        t2 = (f"Round 2 chose the exponent a = {r2['exponent']:g} ({'reached' if r2['reached_target'] else 'did NOT reach'} "
              f"the target on every N != 100 set; worst case per exponent: "
              + ", ".join(f"a = {k}: {v:.3f}" for k, v in r2["worst"].items()) + ").")
    else:
        t2 = "Round 2 was not run (no set with N != 100): the exponent is not chosen here."
    text = "\n".join([
        f"Rules (fixed before these numbers; docs/claims.md): round 1 (R1 columns, N = 100 sets) takes the first "
        f"candidate, in column order, whose Table 1 accuracy (p = {cfg['p']}, protocol initial, {cfg['samples']} test "
        f"patterns per class) reaches {result['target']} with every one of {cfg['seeds']} training seed(s) on every "
        f"set, else the largest worst case; round 2 (R2 columns, N != 100 sets) does the same for the exponent a of "
        f"eta(N) = eta * (100 / N) ** a with round 1's choice. Cells: accuracy, lowest-highest over seeds. EP and "
        f"rbp_paper: the study's defaults. Nearest pattern: the accuracy of the nearest-stored-pattern decoder on the "
        f"same test set, the most any recall that ends on a stored pattern can reach.", "", *lines, "", t1, t2,
        f"Time {result['seconds']:.0f} s, {result['threads']} torch thread(s) per process."])
    text += _check_text(result)
    claims = _check_claims(result, command) if result.get("check_rows") else []
    ep_min = min(q["accuracy"] for q in rows if q["rule"] == "ep")
    rb = [q["accuracy"] for q in _default_rows(result)]
    what = f"RBP ({chosen['presentation']}, eta {chosen['eta']:g}" + (
        "" if chosen["exponent"] is None else f" * (100 / N) ** {chosen['exponent']:g}") + ")"
    claims = [*claims, Claim(study="development",
                    claim=f"(ours) EP and the chosen RBP default reach {result['target']} on every development set",
                    measured=(f"lowest over sets and seeds: EP {ep_min:.3f}, {what} "
                              + (f"{min(rb):.3f}" if rb else "n/a") + f" on {len(sets)} set(s)"),
                    holds=bool(rb) and min(ep_min, min(rb)) >= result["target"], command=command)]
    return Section(study="development", title=TITLE, claims=claims, text=text)


def _check_text(result: dict[str, Any]) -> str:
    """The check sets' table: EP, rbp_paper and the shipped rbp default (its rate at each N)."""
    rows = result.get("check_rows") or []
    if not rows:
        return ""
    sh = result["shipped"]
    lines = ["", "", f"Check sets (outside the collection; never used by the rule): Table 1 accuracy, lowest-highest "
             f"over seeds, of EP, rbp_paper (once, eta {sh['eta']:g}) and the shipped default `rbp` "
             f"({sh['presentation']}, eta {sh['eta_rbp']:g} * (100 / N) ** {sh['rbp_rate_exponent']:g}).", "",
             "| set | N | P | corr | nearest pattern | EP | rbp_paper | rbp (eta at N) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in dict.fromkeys(q["set"] for q in rows):
        qs = [q for q in rows if q["set"] == s]

        def cell(v, qs=qs):
            return _span([q for q in qs if q["variant"] == v])

        eta = next((q["eta"] for q in qs if q["variant"] == "rbp"), None)
        lines.append(f"| {s} | {qs[0]['N']} | {qs[0]['P']} | {qs[0]['correlation']:.2f} | "
                     f"{_ref(result.get('nearest_pattern', {}), s)} | {cell('ep')} | "
                     f"{cell('rbp_paper')} | {cell('rbp')} ({eta:.4g}) |")
    return "\n".join(lines)


def _check_claims(result: dict[str, Any], command: str) -> list:
    from ..report import Claim

    rows = result["check_rows"]
    low = {v: min((q["accuracy"] for q in rows if q["variant"] == v), default=float("nan")) for v in ("ep", "rbp")}
    return [Claim(study="development",
                  claim=f"(ours) EP and the shipped RBP default reach {result['target']} on the check sets",
                  measured=(f"lowest over {len({q['set'] for q in rows})} check set(s) and seeds: EP {low['ep']:.3f}, "
                            f"RBP default {low['rbp']:.3f}"),
                  holds=min(low.values()) >= result["target"], command=command)]


def _span(points: list[dict]) -> str:
    """A cell: accuracy lowest-highest over the points, and how many of them diverged (training
    froze them with non-finite or overflowing weights; they score 0)."""
    a = [q["accuracy"] for q in points]
    if not a:
        return "n/a"
    out = f"{min(a):.3f}" + (f"-{max(a):.3f}" if len(a) > 1 else "")
    bad = sum(bool(q.get("diverged")) for q in points)
    return out + (f" ({bad} diverged)" if bad else "")


def _ref(reference: dict[str, float], name: str) -> str:
    return f"{reference[name]:.3f}" if name in reference else "n/a"
