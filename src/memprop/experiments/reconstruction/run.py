r"""The reconstruction study's experiments: Table 1, Figures 1-4 and the RBP diagnosis, as
functions of a :class:`~memprop.experiments.reconstruction.config.ReconstructionConfig`
returning JSON-serialisable results, and :func:`run`, which trains once and runs them all.

Speed: every configuration of a rule (connectivity K, seed, learning rate) trains in one
stacked (C, N, N) weight tensor (:func:`~memprop.experiments.reconstruction.training.train`),
and every test relaxation of a configuration runs as one batch whose converged rows drop out
(:func:`~memprop.experiments.reconstruction.recall.recall`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..._parallel import Workers, map_workers, parallel, pool
from ..._runtime import torch_device
from ...crossbar import CrossbarConfig
from ...data import PatternSet, corrupt
from ...networks import (
    AdditiveNetwork,
    AdjointNetwork,
    EnergyNetwork,
    band_mask,
    band_synapses,
    init_symmetric,
)
from ...progress import Progress
from ...solvers import EulerSolver, relax
from .config import (
    RBP_TARGET,
    RULE_OF,
    TABLE1_RULES,
    VARIANTS,
    RecallConfig,
    ReconstructionConfig,
    check,
    derive_seed,
    load_pattern_set,
)
from .recall import recall
from .training import DEVICE_SEED_OFFSET, program_stored, store, train

_seed = derive_seed

# --------------------------------------------------------------------------------------------
# Training plan


@dataclass(frozen=True, slots=True)
class Row:
    """One trained configuration."""

    variant: str
    eta: float
    K: int
    seed: int

    @property
    def rule(self) -> str:
        return RULE_OF[self.variant]

    @property
    def key(self) -> str:
        return f"{self.variant}|eta={self.eta:g}|K={self.K}|seed={self.seed}"


@dataclass(kw_only=True, slots=True)
class Trained:
    """Trained weights by configuration: final W, Figure 3 snapshots, per-epoch history."""

    W: dict[Row, torch.Tensor]
    snapshots: dict[Row, dict[int, torch.Tensor]]
    history: dict[Row, dict[str, list[float]]]
    seconds: dict[str, float]
    crossbar: CrossbarConfig | None = None
    """In situ: the device config every configuration trained on (None: exact weights)."""
    counters: dict[Row, dict] = field(default_factory=dict)
    """In situ: each configuration's crossbar counters (pulses, energy_j, ...)."""

    def rows(self, variant: str | None = None, *, K: int | None = None, seed: int | None = None) -> list[Row]:
        return [r for r in self.W if (variant is None or r.variant == variant)
                and (K is None or r.K == K) and (seed is None or r.seed == seed)]

    def one(self, variant: str, K: int = 0, seed: int = 0) -> Row:
        rows = self.rows(variant, K=K, seed=seed)
        if len(rows) != 1:
            raise KeyError(f"no single trained row for {variant}, K={K}, seed={seed}")
        return rows[0]


def plan_rows(cfg: ReconstructionConfig, n: int, *, fig2: bool, k0_seeds: bool, sweep: bool,
              variants: Sequence[str] = VARIANTS) -> list[Row]:
    """The configurations to train: Figure 2's K grid (first seed), full connectivity for
    every seed, and the RBP learning-rate sweep."""
    rows: list[Row] = []

    def add(r: Row) -> None:
        if all((q.variant, q.eta, q.K, q.seed) != (r.variant, r.eta, r.K, r.seed) for q in rows):
            rows.append(r)

    for v in variants:
        add(Row(v, cfg.eta_of(v, n), 0, 0))
        if fig2 and v in cfg.fig2_rules:
            for k in cfg.k_grid(n):
                add(Row(v, cfg.eta_of(v, n), k, 0))
        if k0_seeds:
            for s in range(cfg.seeds):
                add(Row(v, cfg.eta_of(v, n), 0, s))
    if sweep:
        have = {(r.eta, r.seed) for r in rows if r.rule == "rbp" and r.K == 0}
        for e in sweep_etas(cfg, n):
            for s in range(cfg.sweep_seeds if cfg.rbp_etas else 1):
                if (e, s) not in have:
                    add(Row("rbp_sweep", e, 0, s))
    return rows


def sweep_etas(cfg: ReconstructionConfig, n: int) -> tuple[float, ...]:
    """The RBP learning rates of the diagnosis sweep on ``n`` units: ``rbp_etas`` with eta and
    the ``rbp`` variant's rate."""
    return tuple(sorted({*cfg.rbp_etas, cfg.eta, cfg.eta_of("rbp", n)}))


def initial_weights(cfg: ReconstructionConfig, n: int, seed: int) -> torch.Tensor:
    """W(0) of training seed ``seed``: symmetric uniform in [-init_scale, init_scale], shared by
    every rule and K (each K masks it), so rules and connectivities start from the same W."""
    g = torch.Generator().manual_seed(_seed(cfg.seed, "W0", seed))
    return init_symmetric(n, scale=cfg.training.init_scale, generator=g, dtype=torch.float64)


def _device_seed(cfg: ReconstructionConfig, *tags: object) -> int:
    """Seed of one crossbar's generator: from seed + DEVICE_SEED_OFFSET, apart from every stream
    of the device-free run, so that ``--device ideal`` leaves them as they are."""
    return _seed(cfg.seed + DEVICE_SEED_OFFSET, "device", *tags)


def train_stack(rule: str, rows: list[Row], patterns: torch.Tensor, cfg: ReconstructionConfig,
                progress: Progress | None = None) -> dict[str, Any]:
    """Train one stack of configurations of one rule; with ``cfg.device``, in situ, one crossbar
    per configuration (see :func:`~memprop.experiments.reconstruction.training.train`)."""
    n = patterns.shape[1]
    patterns = patterns.to(torch_device(cfg.torch_device))
    W0 = torch.stack([initial_weights(cfg, n, r.seed) for r in rows])
    masks = torch.stack([band_mask(n, r.K) for r in rows])
    etas = torch.tensor([r.eta for r in rows], dtype=torch.float64)
    snap_rows = [i for i, r in enumerate(rows) if r.K == 0]
    g = torch.Generator().manual_seed(_seed(cfg.seed, "train", rule, tuple(r.key for r in rows)))
    row_seeds = [_seed(cfg.seed, "v0", r.key) for r in rows]
    tr = train(patterns, W0, masks, rule=rule, etas=etas, cfg=cfg.training, generator=g,
               dtype=cfg.train_dtype(), snapshot_dtype=cfg.recall_dtype(),
               snapshot_epochs=cfg.snapshot_epochs(), snapshot_rows=snap_rows, progress=progress,
               stage=f"train {rule} ({len(rows)} configurations)", row_seeds=row_seeds,
               crossbar=cfg.device, device_seeds=[_device_seed(cfg, r.key) for r in rows],
               presentations=[cfg.presentation_of(r.variant) for r in rows])
    W = tr.W.to(cfg.recall_dtype())
    history = dict(tr.history)
    # weights that outgrew the recall dtype (finite in training precision, too large for float32)
    # diverged as surely as non-finite ones: flag them (recall scores them 0)
    history["diverged"] = torch.maximum(history["diverged"],
                                        (~torch.isfinite(W).flatten(1).all(1)).to(torch.float64)[:, None])
    return {"W": W, "snapshots": tr.snapshots, "snap_rows": snap_rows, "history": history,
            "seconds": tr.seconds, "counters": tr.counters}


def train_all(cfg: ReconstructionConfig, patterns: PatternSet, rows: list[Row], *,
              progress: Progress | None = None, workers: int | Workers = 1,
              on_stack: Callable[[str, list[Row], dict[str, Any]], None] | None = None) -> Trained:
    """Train every row: one stacked (C, N, N) run per rule (EP; every RBP variant and learning
    rate together); with ``cfg.device``, in situ, every row on its own crossbar of that config
    (the ideal device: the device-free numbers). The rules' stacks are independent pieces: with
    ``workers`` > 1 they train on worker processes at once (same numbers). ``on_stack(rule,
    rows, result)`` runs as each rule's stack finishes (:func:`run` starts that rule's recall
    then, while the other stacks still train)."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.rule, []).append(r)
    names = list(groups)
    x = patterns.patterns
    hook = None if on_stack is None else (lambda i, res: on_stack(names[i], groups[names[i]], res))
    if parallel(workers) and len(names) > 1:
        results = map_workers(train_stack, [(g, groups[g], x, cfg) for g in names], workers=workers,
                              progress=progress, stage=f"training {' and '.join(names)}", on_result=hook)
    else:
        results = []
        for i, g in enumerate(names):
            results.append(train_stack(g, groups[g], x, cfg, progress))
            if hook is not None:
                hook(i, results[-1])
    out = Trained(W={}, snapshots={}, history={}, seconds={}, crossbar=cfg.device)
    for g, res in zip(names, results):
        out.seconds[g] = res["seconds"]
        for i, r in enumerate(groups[g]):
            out.W[r] = res["W"][i]
            if res["counters"] is not None:
                out.counters[r] = res["counters"][i]
            out.history[r] = {k: v[i].tolist() for k, v in res["history"].items()}
        for j, i in enumerate(res["snap_rows"]):
            out.snapshots[groups[g][i]] = {e: w[j] for e, w in res["snapshots"].items()}
    return out


# --------------------------------------------------------------------------------------------
# Evaluation


def test_set(patterns: torch.Tensor, p: float, samples: int, seed: int,
             dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(P * samples, N) corrupted patterns (class-major) and their originals, as ``dtype``
    (default the patterns'); the draws do not depend on ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    x = corrupt(patterns, p, generator=g, samples=samples)  # (P, S, N)
    P, S, N = x.shape
    dtype = dtype or patterns.dtype
    x = x.reshape(P * S, N).to(dtype)
    return x, patterns.to(dtype)[:, None, :].expand(P, S, N).reshape(P * S, N)


def _recall_on(kind: str, W: torch.Tensor, x: torch.Tensor, t: torch.Tensor, P: int, samples: int,
               seed: int, cfg: ReconstructionConfig) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 1)
    W = W.to(device=torch_device(cfg.torch_device))
    r = recall(kind, W, x, t, cfg=cfg.recall, generator=g, dtype=cfg.recall_dtype())
    return {
        "accuracy": r["correct"].reshape(W.shape[0], P, samples).double().mean(-1),  # (C, P)
        "converged": r["converged"].double().mean(-1),  # (C,)
        "steps": r["steps"].double().mean(-1),  # (C,)
        "finite": r["finite"],  # (C,)
    }


@dataclass(frozen=True, slots=True)
class Job:
    """One evaluation: C weight matrices of one recall kind on one test set."""

    kind: str
    labels: tuple[Any, ...]
    W: torch.Tensor
    p: float
    samples: int
    seed: int


def _recall_task(kind: str, W: torch.Tensor, p: float, samples: int, seed: int, patterns: torch.Tensor,
                 cfg: ReconstructionConfig) -> dict[str, torch.Tensor]:
    """One evaluation task on a worker: draw its test set (from its seed, as in this process)
    and recall."""
    x, t = test_set(patterns, p, samples, seed, cfg.recall_dtype())
    return _recall_on(kind, W, x, t, patterns.shape[0], samples, seed, cfg)


def _tasks(jobs: list[Job]) -> list[tuple[tuple, Any]]:
    """Each job's (configuration, test set) recall tasks with their labels: (task, label)."""
    return [((j.kind, j.W[c:c + 1].contiguous(), j.p, j.samples, j.seed), lab)
            for j in jobs for c, lab in enumerate(j.labels)]


def _task_key(task: tuple) -> tuple:
    """A recall task's identity: its rule, test set and the bytes of its weights."""
    kind, W, p, samples, seed = task
    digest = hashlib.blake2b(W.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    return kind, p, samples, seed, str(W.dtype), tuple(W.shape), digest


def _ahead(pool: Workers, jobs: list[Job], patterns: torch.Tensor, cfg: ReconstructionConfig) -> None:
    """Start the recall tasks of ``jobs`` on ``pool`` now; :func:`evaluate` claims their results."""
    for t, _ in _tasks(jobs):
        pool.ahead(_task_key(t), _recall_task, *t, patterns, cfg)


def evaluate(jobs: list[Job], patterns: torch.Tensor, cfg: ReconstructionConfig,
             progress: Progress | None = None, stage: str = "recall", *,
             workers: int | Workers = 1) -> dict[Any, dict[str, Any]]:
    """Run evaluation jobs, one configuration at a time (each test set drawn once), and return
    {label: {"accuracy": [per class], "mean": x, "converged": x, "steps": x}}.

    With ``workers`` > 1 the (configuration, test set) tasks are independent pieces on worker
    processes (each draws its test set from the same seed): the same numbers."""
    pairs = _tasks(jobs)
    tasks, labels = [t for t, _ in pairs], [lab for _, lab in pairs]
    # tasks a run started ahead (a rule's recall while other stacks trained): claimed, not rerun
    early = {} if not isinstance(workers, Workers) else \
        {i: f for i, t in enumerate(tasks) if (f := workers.claim(_task_key(t))) is not None}
    if early or (parallel(workers) and len(tasks) > 1):
        rest = [i for i in range(len(tasks)) if i not in early]
        got = iter(map_workers(_recall_task, [(*tasks[i], patterns, cfg) for i in rest], workers=workers,
                               progress=progress, stage=stage))
        results = [early[i].result() if i in early else next(got) for i in range(len(tasks))]
    else:
        sets: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        results = []
        if progress is not None:
            progress.start(stage, len(tasks))
        for kind, W, p, samples, seed in tasks:  # loop over configurations x test sets
            if (p, samples, seed) not in sets:
                sets[(p, samples, seed)] = test_set(patterns, p, samples, seed, cfg.recall_dtype())
            results.append(_recall_on(kind, W, *sets[(p, samples, seed)], patterns.shape[0], samples, seed, cfg))
            if progress is not None:
                progress.update(1)
        if progress is not None:
            progress.finish()
    out = {}
    for lab, r in zip(labels, results):
        acc = r["accuracy"][0]
        out[lab] = {"accuracy": acc.tolist(), "mean": float(acc.mean()),
                    "converged": float(r["converged"][0]), "steps": float(r["steps"][0]),
                    "finite": bool(r["finite"][0])}
    return out


def stored_weights(patterns: torch.Tensor, Ks: Sequence[int], *, crossbar: CrossbarConfig | None = None,
                   seed: int = 0, counters: dict[str, list[dict]] | None = None,
                   dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Hebbian and Storkey weights (C = len(Ks), N, N); with ``crossbar``, written into crossbars
    (:func:`~memprop.experiments.reconstruction.training.program_stored`, generators seeded from
    ``seed`` apart from the run's streams), each rule's counters then in ``counters[rule]``."""
    n = patterns.shape[1]
    masks = torch.stack([band_mask(n, k) for k in Ks])
    out = {rule: store(patterns, masks, rule=rule, dtype=dtype) for rule in ("hebbian", "storkey")}
    if crossbar is None:
        return out
    for rule, W in out.items():
        seeds = [_seed(seed + DEVICE_SEED_OFFSET, "device", rule, k) for k in Ks]
        out[rule], c = program_stored(W, masks, crossbar, device_seeds=seeds)
        if counters is not None:
            counters[rule] = c
    return out


def _sum_counters(counters: Sequence[dict]) -> dict[str, Any]:
    """Totals over crossbars (as :func:`memprop.crossbar.run_counters`)."""
    out: dict[str, Any] = {"updates": 0, "pulses": 0, "events": 0, "energy_j": 0.0, "devices": 0}
    for c in counters:
        out["updates"] = max(out["updates"], int(c["updates"]))
        for key in ("pulses", "events", "devices"):
            out[key] += int(c[key])
        out["energy_j"] += float(c["energy_j"])
    return out


def device_entry(trained: Trained, stored: dict[str, list[dict]], rows: dict[str, list[Row]]) -> dict[str, Any]:
    """JSON-ready description of an in situ run: the device, the encoding, the programming
    counters of the whole run's training (``training``) and of each rule's networks here
    (``rules``: trained variants and stored rules)."""
    from ...devices.toml import device_to_dict

    xc = trained.crossbar
    assert xc is not None
    per_rule = {rule: _sum_counters(c) for rule, c in stored.items()}
    for v, rs in rows.items():
        per_rule[v] = _sum_counters([trained.counters[r] for r in rs if r in trained.counters])
    total = _sum_counters(list(trained.counters.values()))
    return {"model": device_to_dict(xc.device), "ideal": xc.ideal, "w_max": xc.w_max, "signed": xc.signed,
            "pairing": xc.pairing, "scheme": xc.scheme, "pulses": total["pulses"], "energy_j": total["energy_j"],
            "training": total, "rules": per_rule}


def _summary(rcfg: RecallConfig) -> dict[str, Any]:
    return {"protocol": rcfg.protocol,
            "protocol_meaning": ("corrupted pattern as v(0), I = 0" if rcfg.protocol == "initial"
                                 else "corrupted pattern as the constant input I, v(0) uniform in [-1, 1]")}


def _context(cfg: ReconstructionConfig, ps: PatternSet) -> tuple[PatternSet, dict[str, Any]]:
    config = cfg.to_json()
    config.update(_summary(cfg.recall))
    config["patterns_source"] = ps.source
    config["N"] = ps.n
    config["rbp_eta_at_n"] = cfg.eta_of("rbp", ps.n)
    config["classes"] = list(ps.names)
    return ps, config


def _need_patterns(cfg: ReconstructionConfig, patterns: PatternSet | None) -> PatternSet:
    return patterns if patterns is not None else load_pattern_set(cfg.patterns, cfg.recall_dtype())


def _need_trained(cfg, ps, trained, *, fig2=False, k0_seeds=True, sweep=False, progress=None) -> Trained:
    if trained is not None:
        return trained
    rows = plan_rows(cfg, ps.n, fig2=fig2, k0_seeds=k0_seeds, sweep=sweep)
    return train_all(cfg, ps, rows, progress=progress)


# --------------------------------------------------------------------------------------------
# Experiments


def table1(cfg: ReconstructionConfig, *, patterns: PatternSet | None = None, trained: Trained | None = None,
           progress: Progress | None = None, workers: int | Workers = 1) -> dict[str, Any]:
    """Table 1: accuracy per class of hebbian, storkey, rbp, rbp_paper and ep at p = cfg.p, full
    connectivity, ``samples_table1`` corrupted patterns per class (mean over ``seeds``).

    In situ (``cfg.device``, or ``trained.crossbar`` when given trained weights): every network on
    crossbars (stored rules written into them), and the result gains ``"device"``
    (:func:`device_entry`: the device, pulses and energy)."""
    t0 = time.perf_counter()
    ps, config = _context(cfg, _need_patterns(cfg, patterns))
    trained = _need_trained(cfg, ps, trained, progress=progress)
    x = ps.patterns
    stored_counters: dict[str, list[dict]] = {}
    stored = stored_weights(x, [0], crossbar=trained.crossbar, seed=cfg.seed, counters=stored_counters,
                            dtype=cfg.recall_dtype())
    jobs = _table1_stored_jobs(cfg, stored)
    jobs += _table1_trained_jobs(cfg, VARIANTS, lambda v, s: trained.W[trained.one(v, 0, s)])
    res = evaluate(jobs, x, cfg, progress, "table 1: recall", workers=workers)
    accuracy, per_seed, conv = {}, {}, {}
    for rule in ("hebbian", "storkey"):
        accuracy[rule] = res[rule]["accuracy"]
        conv[rule] = res[rule]["converged"]
    for v in VARIANTS:
        seeds = [res[(v, s)] for s in range(cfg.seeds)]
        accuracy[v] = torch.tensor([r["accuracy"] for r in seeds], dtype=torch.float64).mean(0).tolist()
        per_seed[v] = [r["mean"] for r in seeds]
        conv[v] = sum(r["converged"] for r in seeds) / len(seeds)
    order = [*TABLE1_RULES, "rbp_paper"]
    out = {
        "config": config,
        "classes": list(ps.names),
        "accuracy": {k: accuracy[k] for k in order},
        "mean": {k: sum(accuracy[k]) / len(accuracy[k]) for k in order},
        "mean_per_seed": per_seed,
        "converged_fraction": {k: conv[k] for k in order},
        "samples_per_class": cfg.samples_table1,
        "p": cfg.p,
        "seconds": time.perf_counter() - t0,
    }
    if trained.crossbar is not None:
        rows = {v: [trained.one(v, 0, s) for s in range(cfg.seeds)] for v in VARIANTS}
        out["device"] = device_entry(trained, stored_counters, rows)
        out["config"]["device"] = {k: v for k, v in out["device"].items()
                                   if k not in ("training", "rules", "pulses", "energy_j")}
    return out


def _table1_stored_jobs(cfg: ReconstructionConfig, stored: dict[str, torch.Tensor]) -> list[Job]:
    """Table 1's recall jobs of the stored rules (``stored``: rule -> (1, N, N) at full connectivity)."""
    seed = _seed(cfg.seed, "table1", cfg.p)
    return [Job(rule, (rule,), W, cfg.p, cfg.samples_table1, seed) for rule, W in stored.items()]


def _table1_trained_jobs(cfg: ReconstructionConfig, variants: Sequence[str],
                         weight: Callable[[str, int], torch.Tensor]) -> list[Job]:
    """Table 1's recall jobs of trained ``variants`` (full connectivity, every seed): ``weight(v, seed)``."""
    seed = _seed(cfg.seed, "table1", cfg.p)
    return [Job(RULE_OF[v], tuple((v, s) for s in range(cfg.seeds)),
                torch.stack([weight(v, s) for s in range(cfg.seeds)]), cfg.p, cfg.samples_table1, seed)
            for v in variants]


def _fig2_stored_jobs(cfg: ReconstructionConfig, Ks: Sequence[int], stored: dict[str, torch.Tensor]) -> list[Job]:
    """Figure 2's recall jobs of the stored rules at every p (``stored``: rule -> (len(Ks), N, N))."""
    return [Job(rule, tuple((rule, p, k) for k in Ks), W, p, cfg.samples_fig2, _seed(cfg.seed, "fig2", p))
            for p in cfg.p_fig2 for rule, W in stored.items()]


def _fig3_jobs(cfg: ReconstructionConfig, variants: Sequence[str],
               snapshots: Callable[[str, int], dict[int, torch.Tensor]]) -> list[Job]:
    """Figure 3's recall jobs of ``variants`` (every seed, every snapshot epoch): ``snapshots(v, seed)``."""
    seed = _seed(cfg.seed, "fig3", cfg.p)
    epochs = cfg.snapshot_epochs()
    jobs = []
    for v in variants:
        for s in range(cfg.seeds):
            snaps = snapshots(v, s)
            jobs.append(Job(RULE_OF[v], tuple((v, s, e) for e in epochs), torch.stack([snaps[e] for e in epochs]),
                            cfg.p, cfg.samples_fig3, seed))
    return jobs


def _fig2_trained_jobs(cfg: ReconstructionConfig, Ks: Sequence[int], p: float, variants: Sequence[str],
                       weight: Callable[[str, int], torch.Tensor]) -> list[Job]:
    """Figure 2's recall jobs at p for trained ``variants`` (first seed, every K): ``weight(v, K)``."""
    return [Job(RULE_OF[v], tuple((v, p, k) for k in Ks), torch.stack([weight(v, k) for k in Ks]), p,
                cfg.samples_fig2, _seed(cfg.seed, "fig2", p)) for v in variants]


def fig2(cfg: ReconstructionConfig, *, patterns: PatternSet | None = None, trained: Trained | None = None,
         progress: Progress | None = None, workers: int | Workers = 1) -> dict[str, Any]:
    """Figure 2: accuracy against connectivity K for every p of ``p_fig2``: the variants
    ``fig2_rules`` (ep and rbp by default) trained per K (first seed), hebbian and storkey
    stored per K."""
    t0 = time.perf_counter()
    ps, config = _context(cfg, _need_patterns(cfg, patterns))
    trained = _need_trained(cfg, ps, trained, fig2=True, k0_seeds=False, progress=progress)
    x, n = ps.patterns, ps.n
    Ks = cfg.k_grid(n)
    stored = stored_weights(x, Ks, crossbar=trained.crossbar, seed=cfg.seed, dtype=cfg.recall_dtype())
    jobs = _fig2_stored_jobs(cfg, Ks, stored)
    for p in cfg.p_fig2:
        jobs += _fig2_trained_jobs(cfg, Ks, p, cfg.fig2_rules, lambda v, k: trained.W[trained.one(v, k, 0)])
    res = evaluate(jobs, x, cfg, progress, "figure 2: recall", workers=workers)
    points = []
    for (rule, p, k), r in res.items():
        syn = band_synapses(n, k)
        points.append({"rule": rule, "p": p, "K": k, "synapses": syn,
                       "synapse_fraction": syn / (n * n), "weights": syn - n,
                       "accuracy": r["mean"], "accuracy_per_class": r["accuracy"],
                       "converged_fraction": r["converged"], "mean_steps": r["steps"]})
    order = {v: i for i, v in enumerate(("hebbian", "storkey", *VARIANTS))}
    points.sort(key=lambda q: (order[q["rule"]], q["p"], q["K"]))
    return {"config": config, "K": list(Ks), "synapses": [band_synapses(n, k) for k in Ks],
            "points": points, "samples_per_class": cfg.samples_fig2, "seconds": time.perf_counter() - t0}


def fig3(cfg: ReconstructionConfig, *, patterns: PatternSet | None = None, trained: Trained | None = None,
         progress: Progress | None = None, workers: int | Workers = 1) -> dict[str, Any]:
    """Figure 3: accuracy against training epoch for ep, rbp and rbp_paper (full connectivity,
    p = cfg.p, ``samples_fig3`` per class; mean over ``seeds``)."""
    t0 = time.perf_counter()
    ps, config = _context(cfg, _need_patterns(cfg, patterns))
    trained = _need_trained(cfg, ps, trained, progress=progress)
    x = ps.patterns
    epochs = cfg.snapshot_epochs()
    jobs = _fig3_jobs(cfg, VARIANTS, lambda v, s: trained.snapshots[trained.one(v, 0, s)])
    res = evaluate(jobs, x, cfg, progress, "figure 3: recall", workers=workers)
    points = []
    for v in VARIANTS:
        for e in epochs:
            accs = [res[(v, s, e)]["mean"] for s in range(cfg.seeds)]
            points.append({"rule": v, "epoch": e, "accuracy": sum(accs) / len(accs), "per_seed": accs})
    history = {v: {k: trained.history[trained.one(v, 0, 0)][k]
                   for k in ("loss", "update", "steps", "fixed_point_ok")} for v in VARIANTS}
    return {"config": config, "points": points, "epochs": list(epochs), "training_history": history,
            "samples_per_class": cfg.samples_fig3, "seconds": time.perf_counter() - t0}


def fig4(cfg: ReconstructionConfig, *, patterns: PatternSet | None = None, trained: Trained | None = None,
         progress: Progress | None = None) -> dict[str, Any]:
    """Figure 4: ``fig4_examples`` corrupted patterns (p = cfg.p, evenly spread over the
    classes) and their reconstructions by hebbian, storkey, rbp, ep (and rbp_paper)."""
    t0 = time.perf_counter()
    ps, config = _context(cfg, _need_patterns(cfg, patterns))
    trained = _need_trained(cfg, ps, trained, k0_seeds=False, progress=progress)
    x = ps.patterns
    P = x.shape[0]
    m = cfg.fig4_examples
    classes = [round(i * (P - 1) / max(m - 1, 1)) if m > 1 else 0 for i in range(m)]
    g = torch.Generator().manual_seed(_seed(cfg.seed, "fig4", cfg.p))
    orig = x[classes]
    corrupted = corrupt(orig, cfg.p, generator=g).to(cfg.recall_dtype())
    orig = orig.to(cfg.recall_dtype())
    rows: dict[str, Any] = {"corrupted": corrupted}
    correct: dict[str, list[bool]] = {}
    stored = stored_weights(x, [0], crossbar=trained.crossbar, seed=cfg.seed, dtype=cfg.recall_dtype())
    kinds = [("hebbian", "hebbian", stored["hebbian"]), ("storkey", "storkey", stored["storkey"])]
    kinds += [(v, RULE_OF[v], trained.W[trained.one(v, 0, 0)][None]) for v in ("rbp", "ep", "rbp_paper")]
    for name, kind, W in kinds:
        r = recall(kind, W.to(torch_device(cfg.torch_device)), corrupted, orig, cfg=cfg.recall,
                   generator=torch.Generator().manual_seed(1), dtype=cfg.recall_dtype(), keep_states=True)
        rows[name] = torch.sign(r["states"][0])
        correct[name] = r["correct"][0].tolist()
    rows["target"] = orig
    return {"config": config, "shape": list(ps.shape), "classes": [ps.names[c] for c in classes],
            "row_order": ["corrupted", "hebbian", "storkey", "rbp", "ep", "target", "rbp_paper"],
            "images": {k: v.tolist() for k, v in rows.items()}, "correct": correct,
            "seconds": time.perf_counter() - t0}


def fig1(cfg: ReconstructionConfig, *, patterns: PatternSet | None = None) -> dict[str, Any]:
    """Figure 1: the pattern set and its Pearson correlation matrix."""
    t0 = time.perf_counter()
    ps, config = _context(cfg, _need_patterns(cfg, patterns))
    c = ps.correlation().double()
    off = c[~torch.eye(len(ps), dtype=torch.bool)]
    return {"config": config, "classes": list(ps.names), "shape": list(ps.shape),
            "patterns": ps.patterns.tolist(), "correlation": c.tolist(),
            "correlation_offdiag": {"mean": float(off.mean()), "min": float(off.min()), "max": float(off.max())},
            "seconds": time.perf_counter() - t0}


def rbp_diagnosis(cfg: ReconstructionConfig, *, patterns: PatternSet | None = None,
                  trained: Trained | None = None, progress: Progress | None = None,
                  workers: int | Workers = 1) -> dict[str, Any]:
    r"""Why RBP learns more slowly than EP under the paper's settings, measured.

    At the Figure 3 snapshots of the full-connectivity networks (first seed), for every
    pattern: the free fixed point v* with the pattern as input (from a random state), and

    - RBP: the error J = T - v*, the slope g'(h) at the fixed point, the side network's
      relaxation from y(0) = 0.5 (steps, final residual) and its fixed point y, whose size sets
      the update eta (y v^T + v y^T); the gain |y| / |J| is the update per unit of error;
    - EP: the error T - v^0, rho'(v^0), and (rho(v^beta) - rho(v^0)) / beta, EP's counterpart
      of y (the update is eta times its outer product with rho(v)), and its gain;
    - both: the pattern margins min_i xi_i (W xi)_i (how strongly W alone, without the input,
      holds each pattern) and the largest eigenvalue of W.

    With the per-epoch training history (loss, update size, fixed points) and the learning-rate
    sweep ``rbp_etas`` x ``sweep_seeds`` (accuracy after training, tested as Table 1), this
    answers which quantity makes RBP slow, and which smallest eta reaches the target accuracy
    with every seed.
    """
    t0 = time.perf_counter()
    ps, config = _context(cfg, _need_patterns(cfg, patterns))
    trained = _need_trained(cfg, ps, trained, k0_seeds=False, sweep=True, progress=progress)
    dev = torch_device(cfg.torch_device)
    x = ps.patterns.to(device=dev, dtype=torch.float64)  # the diagnosis measures in float64
    P, n = x.shape
    tc = cfg.training
    snaps: dict[str, list[dict[str, Any]]] = {}
    for v in VARIANTS:
        snaps[v] = []
        for e, W32 in sorted(trained.snapshots[trained.one(v, 0, 0)].items()):
            W = W32.to(device=dev, dtype=torch.float64)
            g = torch.Generator().manual_seed(_seed(cfg.seed, "diagnosis", v, e))
            rec: dict[str, Any] = {"epoch": e}
            if RULE_OF[v] == "rbp":
                net = AdditiveNetwork(W)
                solver = EulerSolver(dt=tc.dt_rbp, tol=tc.tol, max_steps=tc.max_steps)
                free = relax(net, solver, None, x, generator=g, throw=False)
                vs = free.state
                h = net.preactivation(vs, x)
                gp = net.activation.prime(h)
                J = x - vs
                side = relax(AdjointNetwork(W, gp), solver, torch.full_like(vs, tc.y0), drive=J, throw=False)
                y = side.state
                rec.update(error=float(J.abs().mean()), slope=float(gp.mean()), signal=float(y.abs().mean()),
                           side_steps_mean=float(side.steps.double().mean()), side_steps_max=int(side.steps.max()),
                           side_converged=bool(side.converged.all()), side_residual_max=float(side.residual.max()))
            else:
                net = EnergyNetwork(W)
                solver = EulerSolver(dt=tc.dt_ep, tol=tc.tol, max_steps=tc.max_steps)
                free = relax(net, solver, None, x, generator=g, throw=False)
                vs = free.state
                nudged = relax(net, solver, vs, x, beta=tc.beta, target=x, throw=False)
                drho = (net.activation(nudged.state) - net.activation(vs)) / tc.beta
                rec.update(error=float((x - vs).abs().mean()), slope=float(net.activation.prime(vs).mean()),
                           signal=float(drho.abs().mean()),
                           nudged_steps_mean=float(nudged.steps.double().mean()),
                           nudged_converged=bool(nudged.converged.all()))
            rec["gain"] = rec["signal"] / rec["error"] if rec["error"] > 0 else None
            rec["free_steps_mean"] = float(free.steps.double().mean())
            rec["fixed_points_right_sign"] = float((torch.sign(vs) == x).all(-1).double().mean())
            margins = (x * (x @ W)).min(-1).values
            rec.update(margin_min=float(margins.min()), margin_mean=float(margins.mean()),
                       eig_max=float(torch.linalg.eigvalsh(W)[-1]), W_norm=float(W.norm()))
            snaps[v].append(rec)
    # The learning-rate sweep: RBP at full connectivity, every sweep seed, tested as Table 1.
    n_seeds = cfg.sweep_seeds if cfg.rbp_etas else 1
    sweep_rows = sorted([r for r in trained.W if r.rule == "rbp" and r.K == 0 and r.seed < n_seeds
                         and r.eta in sweep_etas(cfg, ps.n)], key=lambda r: (r.eta, r.seed))
    seed = _seed(cfg.seed, "table1", cfg.p)
    res = evaluate([Job("rbp", tuple(r.key for r in sweep_rows), torch.stack([trained.W[r] for r in sweep_rows]),
                          cfg.p, cfg.samples_table1, seed)], ps.patterns, cfg, progress, "RBP eta sweep: recall",
                   workers=workers)
    sweep = []
    for eta in sorted({r.eta for r in sweep_rows}):
        rs = [r for r in sweep_rows if r.eta == eta]
        accs = [res[r.key]["mean"] for r in rs]
        sweep.append({"eta": eta, "accuracy": sum(accs) / len(accs), "accuracy_min": min(accs),
                      "per_seed": accs, "seeds": [r.seed for r in rs],
                      "final_loss": [trained.history[r]["loss"][-1] for r in rs],
                      "diverged": [bool(trained.history[r]["diverged"][-1]) for r in rs]})
    reaching = [q["eta"] for q in sweep if q["accuracy_min"] >= RBP_TARGET]
    history = {v: {k: trained.history[trained.one(v, 0, 0)][k] for k in ("loss", "update", "steps", "fixed_point_ok")}
               for v in VARIANTS}
    return {"config": config, "snapshots": snaps, "history": history, "eta_sweep": sweep,
            "target_accuracy": RBP_TARGET, "smallest_eta_reaching_target": min(reaching) if reaching else None,
            "samples_per_class": cfg.samples_table1, "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------------------------
# CSV rows


def table1_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"class": c, **{k: r["accuracy"][k][i] for k in r["accuracy"]}} for i, c in enumerate(r["classes"])]
    rows.append({"class": "mean", **r["mean"]})
    return rows


def fig2_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in q.items() if k != "accuracy_per_class"} for q in r["points"]]


def fig3_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in q.items() if k != "per_seed"} for q in r["points"]]


def fig4_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, imgs in r["images"].items():
        for i, img in enumerate(imgs):
            rows.append({"row": name, "example": i, "class": r["classes"][i],
                         "correct": r["correct"].get(name, [None] * len(imgs))[i],
                         "pixels": "".join("#" if v > 0 else "." for v in img)})
    return rows


def fig1_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"class": a, **{b: r["correlation"][i][j] for j, b in enumerate(r["classes"])}}
            for i, a in enumerate(r["classes"])]


def rbp_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"rule": v, **s} for v, snaps in r["snapshots"].items() for s in snaps]
    rows += [{"rule": "rbp_sweep", "epoch": r["config"]["training"]["epochs"], "eta": q["eta"], "seed": seed,
              "accuracy": a, "final_loss": loss}
             for q in r["eta_sweep"] for seed, a, loss in zip(q["seeds"], q["per_seed"], q["final_loss"])]
    return rows



# --------------------------------------------------------------------------------------------
# The whole study

CSV_ROWS = {"fig1": fig1_rows, "table1": table1_rows, "fig2": fig2_rows, "fig3": fig3_rows,
            "fig4": fig4_rows, "rbp": rbp_rows}
"""Each result's flat CSV rows, by result name."""


def run(cfg: ReconstructionConfig, *, progress: Progress | None = None,
        workers: int | Workers = 1) -> dict[str, dict[str, Any]]:
    """Train once, run every experiment; returns ``{fig1, table1, fig2, fig3, fig4, rbp, timing}``.

    With ``cfg.device``, every trained and stored network is on crossbars of that config (the
    ideal device gives the device-free numbers exactly); table1 then has ``"device"``.
    ``workers``: processes for the independent pieces: the rules' training stacks (see
    :func:`train_all`) and every recall task (see :func:`evaluate`); the numbers do not change.
    Each rule's Figure 2 recall starts on a worker as soon as that rule's stack has trained,
    while the other stacks still train (the RBP stack, until-memorised, takes several times as
    long as EP's, which left a worker idle)."""
    t0 = time.perf_counter()
    ps = check(cfg, cfg.recall_dtype())  # fail early: the pattern set, the K grid, the memory
    rows = plan_rows(cfg, ps.n, fig2=True, k0_seeds=True, sweep=True)
    t = time.perf_counter()
    with pool(workers) as run_pool:
        n_workers = run_pool.n

        stored_started = []

        def recall_ahead(rule: str, stack: list[Row], res: dict[str, Any]) -> None:
            # this rule's recall (Figures 2 and 3, Table 1) starts while the other stacks train,
            # and after the first stack the stored rules' (bit-identical: every task seeds itself;
            # evaluate claims the results; one worker: nothing starts)
            index = {(r.variant, r.K, r.seed): i for i, r in enumerate(stack)}
            Ks, seeds = cfg.k_grid(ps.n), range(cfg.seeds)
            variants = [v for v in cfg.fig2_rules if RULE_OF[v] == rule and all((v, k, 0) in index for k in Ks)]
            jobs = []
            for p in cfg.p_fig2:
                jobs += _fig2_trained_jobs(cfg, Ks, p, variants, lambda v, k: res["W"][index[(v, k, 0)]])
            full = [v for v in VARIANTS if RULE_OF[v] == rule and all((v, 0, s) in index for s in seeds)]
            jobs += _table1_trained_jobs(cfg, full, lambda v, s: res["W"][index[(v, 0, s)]])
            snap = {i: j for j, i in enumerate(res["snap_rows"])}
            jobs += _fig3_jobs(cfg, full, lambda v, s: {e: w[snap[index[(v, 0, s)]]]
                                                        for e, w in res["snapshots"].items()})
            if not stored_started:
                stored_started.append(rule)
                x = ps.patterns
                kw = dict(crossbar=cfg.device, seed=cfg.seed, dtype=cfg.recall_dtype())
                jobs += _table1_stored_jobs(cfg, stored_weights(x, [0], **kw))
                jobs += _fig2_stored_jobs(cfg, Ks, stored_weights(x, Ks, **kw))
            _ahead(run_pool, jobs, ps.patterns, cfg)

        trained = train_all(cfg, ps, rows, progress=progress, workers=run_pool, on_stack=recall_ahead)
        wall = {"training": time.perf_counter() - t}
        results = {"fig1": fig1(cfg, patterns=ps)}
        for name, fn in (("table1", table1), ("fig2", fig2), ("fig3", fig3), ("fig4", fig4), ("rbp", rbp_diagnosis)):
            kw = {} if fn is fig4 else {"workers": run_pool}
            results[name] = fn(cfg, patterns=ps, trained=trained, progress=progress, **kw)
    for name, r in results.items():
        wall[name] = r["seconds"]
    timing = {"training": trained.seconds, "training_total": sum(trained.seconds.values())}
    for r in results.values():
        r["training_seconds"] = timing
    results["timing"] = {"total_seconds": time.perf_counter() - t0, "wall_seconds": wall, **timing,
                         "threads": torch.get_num_threads(), "workers": n_workers}
    return results
