"""The classification study as sweep tasks (``memprop sweep run`` with study "classification")."""

from __future__ import annotations

import dataclasses
from typing import Any

from ...learning.ep import ESTIMATORS
from .config import SCHEDULES, BackpropConfig, ClassificationConfig, fig5_config
from .run import run

SWEEP_SETTINGS: dict[str, type | tuple] = {
    "classes": str,
    "per_class": int,
    "test_fraction": float,
    "hidden": int,
    "epochs": int,
    "beta": float,
    "estimator": tuple(ESTIMATORS),
    "schedule": SCHEDULES,
    "halve_every": int,
    "alpha1": float,
    "alpha2": float,
    "batch_size": int,
    "backprop": bool,
    "torch_device": str,
    "dtype": ("float32", "float64"),
}
"""Settings a classification sweep may vary (one hidden layer); the others keep Figure 5's.
``per_class = 0`` means every digit of the classes, split by ``test_fraction``."""


def sweep_config(settings: dict[str, Any], seed: int) -> ClassificationConfig:
    """The config of a sweep task: Figure 5's settings changed by ``settings``."""
    base = fig5_config(seed=seed)
    ep, data = base.ep, base.data
    ep_changes: dict[str, Any] = {k: settings[k] for k in
                                  ("epochs", "beta", "estimator", "schedule", "halve_every", "batch_size")
                                  if k in settings}
    if "hidden" in settings:
        ep_changes["hidden"] = (settings["hidden"],)
    if "alpha1" in settings or "alpha2" in settings:
        ep_changes["alphas"] = (settings.get("alpha1", ep.alphas[0]), settings.get("alpha2", ep.alphas[1]))
    ep = dataclasses.replace(ep, **ep_changes)
    data_changes: dict[str, Any] = {}
    if "classes" in settings:
        data_changes["classes"] = settings["classes"]
    if "per_class" in settings:
        data_changes["per_class"] = settings["per_class"] or None
    if "test_fraction" in settings:
        data_changes["test_fraction"] = settings["test_fraction"]
    data = dataclasses.replace(data, **data_changes)
    bp = BackpropConfig.like(ep) if settings.get("backprop", False) else None
    runtime = {k: settings[k] for k in ("torch_device", "dtype") if k in settings}
    return ClassificationConfig(data=data, ep=ep, backprop=bp, **runtime)


def sweep_task(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """One classification run for a sweep: Figure 5's settings changed by ``settings``.

    ``seed`` seeds the split, the initialisation and the minibatch order, so a task is a
    deterministic function of (settings, seed). Metrics: the final held-out and training error,
    the backprop reference's held-out error (when ``backprop`` is true) and the run's seconds.
    """
    cfg = sweep_config(settings, seed)
    result = run(cfg)
    last = result["epochs"][-1]
    metrics = {"test_error": last["test_error"], "train_error": last["train_error"],
               "epochs": last["epoch"], "seconds": result["seconds"]}
    if cfg.backprop is not None:
        metrics["backprop_test_error"] = result["backprop_reference"]["test_error"]
    return metrics
