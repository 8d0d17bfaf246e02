"""The reconstruction study as sweep tasks (``memprop sweep run`` with study "reconstruction").

One task is one Figure 2 point (rule, K, p). Its network trains within the same stack as
``memprop reproduce reconstruction --seed SEED`` trains it (every configuration of the rule's
kind in the study's plan), through the content-addressed cache (:mod:`memprop.experiments.cache`),
so that the tasks of a sweep train each stack once and every point is the study's own.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import torch

from ...networks import band_synapses
from ..cache import cached
from .config import (
    PRESENTATIONS,
    PROTOCOLS,
    RULE_OF,
    TRAINING_INPUTS,
    VARIANTS,
    RecallConfig,
    ReconstructionConfig,
    TrainConfig,
    derive_seed,
    load_pattern_set,
)
from .run import Job, Row, evaluate, plan_rows, stored_weights, train_stack

SWEEP_SETTINGS: dict[str, type | tuple] = {
    "patterns": str,
    "protocol": PROTOCOLS,
    "training_input": TRAINING_INPUTS,
    "presentation": PRESENTATIONS,
    "epochs": int,
    "eta": float,
    "eta_rbp": float,
    "rbp_rate_exponent": float,
    "samples_per_class": int,
    "K": int,
    "p": float,
    "rule": ("hebbian", "storkey", *VARIANTS),
    "torch_device": str,
    "dtype": ("float32", "float64"),
}
"""Settings of a reconstruction sweep task: one Figure 2 point (rule, K, p) per task."""


def sweep_config(settings: dict[str, Any], seed: int) -> ReconstructionConfig:
    """The study's config for a sweep task: the defaults changed by ``settings``."""
    patterns = settings.get("patterns", "builtin:letters16")
    if patterns in ("letters16", "builtin"):
        patterns = "builtin:letters16"
    training = TrainConfig(**{k: settings[k] for k in ("epochs", "training_input", "presentation") if k in settings})
    recall_cfg = RecallConfig(**({"protocol": settings["protocol"]} if "protocol" in settings else {}))
    extra = {k: settings[k] for k in ("eta", "eta_rbp", "rbp_rate_exponent") if k in settings}
    if "samples_per_class" in settings:
        extra["samples_fig2"] = settings["samples_per_class"]
    extra.update({k: settings[k] for k in ("torch_device", "dtype") if k in settings})
    return ReconstructionConfig(patterns=patterns, seed=seed, training=training, recall=recall_cfg,
                                K=(settings.get("K", 0),), p_fig2=(settings.get("p", 0.1),), **extra)


def trained_stack(study: ReconstructionConfig, kind: str, x: torch.Tensor) -> dict[Row, torch.Tensor]:
    """The study's stack of rule ``kind`` (every row of its plan), through the cache."""
    rows = [r for r in plan_rows(study, x.shape[1], fig2=True, k0_seeds=True, sweep=True) if r.rule == kind]
    description = {"what": "reconstruction training stack", "kind": kind, "rows": [r.key for r in rows],
                   "config": asdict(replace(study, K=None, device=None)),
                   "patterns": x.tolist()}
    stack = cached(description, lambda: {"W": train_stack(kind, rows, x, study)["W"]})["W"]
    return {r: stack[i] for i, r in enumerate(rows)}


def sweep_task(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """One Figure 2 point: accuracy of ``rule`` with K diagonals cut at flip probability p.

    Trains the same stack as ``memprop reproduce reconstruction --seed seed`` (every
    configuration of the rule's kind in the study's plan, through the cache), so the weights,
    and hence the accuracy, are bitwise the study's ``fig2.json`` point. A K outside the study's
    grid trains alone. The test set is the study's: same seed per p, same per-configuration
    recall.
    """
    cfg = sweep_config(settings, seed)
    ps = load_pattern_set(cfg.patterns, cfg.recall_dtype())
    x, n = ps.patterns, ps.n
    rule = settings.get("rule", "ep")
    K, p = cfg.k_grid(n)[0], cfg.p_fig2[0]
    if rule in ("hebbian", "storkey"):
        W = stored_weights(x, [K], dtype=cfg.recall_dtype())[rule]
    else:
        kind = RULE_OF[rule]
        study = replace(cfg, K=None, p_fig2=ReconstructionConfig().p_fig2)
        trained = trained_stack(study, kind, x)
        row = Row(rule, cfg.eta_of(rule, n), K, 0)
        W = (trained[row] if row in trained else train_stack(kind, [row], x, cfg)["W"][0])[None]
    job = Job(RULE_OF.get(rule, rule), (rule,), W, p, cfg.samples_fig2, derive_seed(cfg.seed, "fig2", p))
    r = evaluate([job], x, cfg)[rule]
    return {"accuracy": r["mean"], "synapses": band_synapses(n, K),
            "converged_fraction": r["converged"], "mean_steps": r["steps"]}
