"""A whole classification run: EP with per-epoch evaluation, then the backprop reference."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ...limits import check_memory
from ...progress import Progress
from .config import ClassificationConfig
from .data import Split, load_split
from .training import device_summary, run_backprop, run_ep


def check(cfg: ClassificationConfig, split: Split | None = None) -> Split:
    """What ``cfg`` alone cannot tell, checked before a run starts: the data (loaded and split,
    returned) and an estimate of the run's memory (weights with their gradients and work copies,
    the persistent free states and the inputs)."""
    split = load_split(cfg.data) if split is None else split
    n_train, n_inputs = split.x_train.shape
    sizes = (n_inputs, *cfg.ep.hidden, split.n_classes)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    itemsize = 8 if cfg.dtype == "float64" else 4
    nbytes = itemsize * (4 * weights + n_train * sum(sizes[1:])) + 4 * split.x_train.numel()
    check_memory(f"hidden {list(cfg.ep.hidden)} with {n_train:,} training digits", nbytes, device=cfg.torch_device)
    return split


def run(cfg: ClassificationConfig, *, progress: Progress | None = None, checkpoint: str | Path | None = None,
        resume: bool = False, split: Split | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """EP training with per-epoch evaluation, then the backprop reference; a JSON-ready result.

    With ``cfg.device``, EP trains in situ (see :func:`run_ep`) and the result gains ``"device"``:
    the device, the encoding and the run's programming counters (pulses, events, energy_j, ...).
    The backprop reference stays exact.

    Returns:
        ``{"config", "data", "epochs": [{"epoch", "train_error_100", "test_error_100",
        "train_error", "test_error", "train_error_running", "alphas", "seconds",
        "eval_seconds"}, ...], "backprop_reference": {"test_error", "train_error", "config",
        "epochs", "seconds"} | None, "seconds", "threads"}``.
    ``stop_after``: stop after that epoch (as if interrupted; the checkpoint then resumes).
    """
    t0 = time.perf_counter()
    split = check(cfg, split)
    t_ep = time.perf_counter()
    state = run_ep(cfg, split, progress=progress, checkpoint=checkpoint, resume=resume, stop_after=stop_after)
    t_ep = time.perf_counter() - t_ep
    bp = None
    if cfg.backprop is not None and state.epoch >= cfg.ep.epochs:
        bp = run_backprop(cfg.backprop, cfg.ep.hidden, split, torch_device_name=cfg.torch_device, dtype=cfg.dtype,
                          progress=progress)
    # This call's wall time, with its EP part replaced by the EP time of every invocation
    # (the same as the wall time unless resumed).
    seconds = time.perf_counter() - t0 - t_ep + state.elapsed
    result = {"config": cfg.to_dict(), "data": split.describe(), "epochs": state.history,
              "backprop_reference": bp, "seconds": seconds, "threads": torch.get_num_threads()}
    if cfg.device is not None:
        result["device"] = device_summary(cfg, state)
    return result


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat per-epoch rows (alphas as alpha1, alpha2, ...; the reference's test error beside)."""
    bp = {e["epoch"]: e["test_error"] for e in (result.get("backprop_reference") or {}).get("epochs", [])}
    rows = []
    for e in result["epochs"]:
        row = {k: v for k, v in e.items() if k != "alphas"}
        row.update({f"alpha{k + 1}": a for k, a in enumerate(e["alphas"])})
        if e["epoch"] in bp:
            row["backprop_test_error"] = bp[e["epoch"]]
        rows.append(row)
    return rows

