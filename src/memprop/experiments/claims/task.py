"""One cell of the claims map as a sweep task: train one rule under one reading, test it.

A reconstruction cell trains the study's own stack (:func:`memprop.experiments.reconstruction.run.train_stack`:
every K of Figure 2, and for RBP both learning rates) for one training seed, then tests every
configuration under both protocols: Table 1 (K = 0, p = 0.1), Figure 2 (every K and p) and
Figure 3 (the K = 0 network at each epoch). The stored cell does the same for Hebbian and
Storkey; a Figure 5 cell runs the classification study with one beta and estimator.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...errors import ConfigError
from ..reconstruction.config import (
    PROTOCOLS,
    RecallConfig,
    ReconstructionConfig,
    TrainConfig,
    derive_seed,
)
from .config import CELLS, ESTIMATORS, RBP_VARIANT

SWEEP_SETTINGS: dict[str, type | tuple] = {
    "cell": CELLS,
    "patterns": str,
    "quick": bool,
    "epochs": int,
    "K": str,
    "p_fig2": str,
    "fig3_epochs": str,
    "samples_table1": int,
    "samples_fig2": int,
    "samples_fig3": int,
    "fig5_epochs": int,
    "torch_device": str,
    "dtype": ("float32", "float64"),
}
"""A claims-map task: the cell, and the map's sizes (lists as comma-separated text)."""

_P_TABLE1 = 0.1


def _numbers(where: str, text: str, kind: type) -> tuple:
    try:
        out = tuple(kind(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{where} must be comma-separated {kind.__name__}s, got {text!r}") from None
    if not out:
        raise ConfigError(f"{where} must list at least one value, got {text!r}")
    return out


def parse_cell(cell: str) -> dict[str, Any]:
    """``ep/ESTIMATOR/BETA/PRESENTATION`` -> {kind, estimator, beta, presentation} (and so on)."""
    if cell not in CELLS:
        raise ConfigError(f"cell: unknown cell {cell!r}; allowed: {', '.join(CELLS)}")
    parts = cell.split("/")
    if parts[0] == "ep":
        return {"kind": "ep", "estimator": parts[1], "beta": float(parts[2]), "presentation": parts[3]}
    if parts[0] == "rbp":
        return {"kind": "rbp", "presentation": parts[1]}
    if parts[0] == "fig5":
        return {"kind": "fig5", "estimator": parts[1], "beta": float(parts[2])}
    return {"kind": "stored"}


def sweep_config(settings: dict[str, Any], seed: int) -> Any:
    """The config a task runs (validates the settings): a reconstruction config, or for a
    Figure 5 cell the classification config."""
    c = parse_cell(settings.get("cell", CELLS[0]))
    if c["kind"] == "fig5":
        from ..classification.sweep import sweep_config as fig5

        return fig5(_fig5_settings(settings, c), seed)
    training = TrainConfig(epochs=settings.get("epochs", 300), presentation=c.get("presentation", "once"),
                           beta=c.get("beta", 1.0), estimator=c.get("estimator", ESTIMATORS[0]))
    extra = {k: settings[k] for k in ("torch_device", "dtype") if k in settings}
    # rbp_presentation=None: the cell's presentation reading trains both RBP variants (the
    # "RBP rate" reading varies the rate only; the study's default would train ``rbp``
    # until-memorised in every cell)
    return ReconstructionConfig(
        patterns=settings.get("patterns", "builtin:letters16"), seed=0, training=training, rbp_presentation=None,
        K=_numbers("K", settings.get("K", "0"), int), p_fig2=_numbers("p_fig2", settings.get("p_fig2", "0.1"), float),
        fig3_epochs=_numbers("fig3_epochs", settings.get("fig3_epochs", "0"), int),
        samples_table1=settings.get("samples_table1", 500), samples_fig2=settings.get("samples_fig2", 500),
        samples_fig3=settings.get("samples_fig3", 300), rbp_etas=(), quick=settings.get("quick", False), **extra)


def _fig5_settings(settings: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
    from ..classification.config import FIG5_EPOCHS, FIG5_QUICK_EPOCHS

    epochs = settings.get("fig5_epochs", 0) or (FIG5_QUICK_EPOCHS if settings.get("quick") else FIG5_EPOCHS)
    out = {"beta": c["beta"], "estimator": c["estimator"], "epochs": epochs}
    out.update({k: settings[k] for k in ("torch_device", "dtype") if k in settings})
    return out


def sweep_task(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train and test one cell for training seed ``seed``; metrics keyed ``VARIANT|PROTOCOL|WHAT``
    (see :func:`memprop.experiments.claims.judge.collect`)."""
    c = parse_cell(settings.get("cell", CELLS[0]))
    if c["kind"] == "fig5":
        from ..classification.sweep import sweep_task as fig5_task

        m = fig5_task(_fig5_settings(settings, c), seed)
        return {"fig5|test_error": m["test_error"], "fig5|train_error": m["train_error"], "seconds": m["seconds"]}
    return _reconstruction_cell(c, sweep_config(settings, seed), seed)


def _reconstruction_cell(c: dict[str, Any], cfg: ReconstructionConfig, seed: int) -> dict[str, Any]:
    import time

    import torch

    from ..reconstruction.config import load_pattern_set
    from ..reconstruction.run import Job, Row, evaluate, stored_weights, train_stack

    t0 = time.perf_counter()
    ps = load_pattern_set(cfg.patterns, cfg.recall_dtype())
    x, n = ps.patterns, ps.n
    Ks = cfg.k_grid(n)
    weights: dict[str, torch.Tensor] = {}  # variant -> (len(Ks), N, N)
    snaps: dict[str, torch.Tensor] = {}  # variant -> (len(epochs), N, N)
    out: dict[str, Any] = {}
    epochs = cfg.snapshot_epochs()
    if c["kind"] == "stored":
        weights = stored_weights(x, Ks, dtype=cfg.recall_dtype())
    else:
        variants = ["ep"] if c["kind"] == "ep" else [RBP_VARIANT["paper"], RBP_VARIANT["default"]]
        rows = [Row(v, cfg.eta_of(v, n), k, seed) for v in variants for k in Ks]
        tr = train_stack(c["kind"], rows, x, cfg)
        for v in variants:
            idx = [i for i, r in enumerate(rows) if r.variant == v]
            weights[v] = tr["W"][idx]
            k0 = next(i for i in idx if rows[i].K == 0) if 0 in Ks else None
            if k0 is not None:
                j = tr["snap_rows"].index(k0)
                snaps[v] = torch.stack([tr["snapshots"][e][j] for e in epochs])
                shown = torch.as_tensor(tr["history"]["presentations"][k0]) * len(ps)
                cum = torch.cumsum(shown, 0)
                for e in epochs:
                    out[f"{v}|updates|{e}"] = 0.0 if e == 0 else float(cum[e - 1])
                out[f"{v}|capped"] = float(sum(tr["history"]["capped"][k0]))
    out["seconds_training"] = time.perf_counter() - t0
    for protocol in PROTOCOLS:
        rc = dataclasses.replace(cfg, recall=RecallConfig(protocol=protocol))
        jobs = []
        for v, W in weights.items():
            kind = v if v in ("hebbian", "storkey") else c["kind"]
            if 0 in Ks:
                jobs.append(Job(kind, ((v, "t1"),), W[Ks.index(0)][None], _P_TABLE1, cfg.samples_table1,
                                derive_seed(seed, "table1", _P_TABLE1)))
            for p in cfg.p_fig2:
                jobs.append(Job(kind, tuple((v, "f2", k, p) for k in Ks), W, p, cfg.samples_fig2,
                                derive_seed(seed, "fig2", p)))
            if v in snaps:
                jobs.append(Job(kind, tuple((v, "f3", e) for e in epochs), snaps[v], _P_TABLE1, cfg.samples_fig3,
                                derive_seed(seed, "fig3", _P_TABLE1)))
        for lab, r in evaluate(jobs, x, rc).items():
            out["|".join([lab[0], protocol, *map(lambda a: f"{a:g}" if isinstance(a, float) else str(a), lab[1:])])] = r["mean"]
    out["N"] = n
    out["seconds"] = time.perf_counter() - t0
    return out
