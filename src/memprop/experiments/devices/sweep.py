"""The device study as sweep tasks (``memprop sweep run`` with study "devices")."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..._runtime import check_runtime
from ..._validate import choice, in_range, positive_int
from ...crossbar import CrossbarConfig
from ...devices.presets import resolve_device
from .config import BASE_STATES, W_MAX_CLASSIFICATION, W_MAX_RECONSTRUCTION, Point, base_device
from .run import classification_points, reconstruction_points

SWEEP_SETTINGS: dict[str, type | tuple] = {
    "task": ("reconstruction", "classification"),
    "rule": ("ep", "rbp"),
    "p": float,
    "samples_per_class": int,
    "epochs": int,
    "device": str,
    "nonlinearity": float,
    "states": int,
    "scheme": ("deterministic", "stochastic", "amplitude"),
    "pairing": ("one", "two"),
    "c2c": float,
    "d2d": float,
    "stuck_fraction": float,
    "w_max": float,
    "torch_device": str,
    "dtype": ("float32", "float64"),
}
"""Settings a device sweep may vary. ``device``: ``ideal``, ``constant`` (the base device),
``exponential`` (exponential LTP/LTD with ``nonlinearity``), a preset name or a TOML file; the
base-device settings (states, nonlinearity, c2c, d2d, stuck_fraction) apply to constant and
exponential only."""


class SweepTaskConfig(NamedTuple):
    """What one device sweep task runs (built and checked by :func:`sweep_config`)."""

    task: str
    rule: str
    point: Point
    epochs: int | None
    samples: int
    p: float
    seed: int
    torch_device: str
    dtype: str | None


def sweep_config(settings: dict[str, Any], seed: int) -> SweepTaskConfig:
    """The task's device, crossbar and protocol, checked (defaults: the study's base device)."""
    task = choice("task", settings.get("task", "reconstruction"), ("reconstruction", "classification"))
    spec = settings.get("device", "constant")
    if spec in ("constant", "exponential"):
        device = base_device(states=settings.get("states", BASE_STATES), c2c=settings.get("c2c", 0.0),
                             d2d=settings.get("d2d", 0.0), stuck=settings.get("stuck_fraction", 0.0),
                             nonlinearity=settings.get("nonlinearity", 1.0) if spec == "exponential" else None)
    else:
        device = resolve_device(spec)
    w_max = settings.get("w_max", W_MAX_RECONSTRUCTION if task == "reconstruction" else W_MAX_CLASSIFICATION)
    scheme = settings.get("scheme", "stochastic")
    xcfg = CrossbarConfig(device=device, w_max=w_max, scheme=scheme, pairing=settings.get("pairing", "one"))
    epochs = settings.get("epochs", 300 if task == "reconstruction" else None)
    if epochs is not None:
        positive_int("epochs", epochs)
    samples = positive_int("samples_per_class", settings.get("samples_per_class", 1000))
    p = in_range("p", settings.get("p", 0.1), 0.0, 1.0)
    positive_int("seed", seed, minimum=0)
    torch_device = settings.get("torch_device", "cpu")
    check_runtime(torch_device, settings.get("dtype"))
    return SweepTaskConfig(task, settings.get("rule", "ep"), Point("sweep", spec, xcfg, scheme), epochs, samples,
                           p, seed, torch_device, settings.get("dtype"))


def sweep_task(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """One in situ run: metrics ``accuracy`` (reconstruction) or ``test_error``
    (classification), ``pulses``, ``energy_j`` and ``seconds``."""
    c = sweep_config(settings, seed)
    runtime = {"torch_device_name": c.torch_device, "dtype": c.dtype}
    if c.task == "classification":
        (p,) = classification_points([c.point], quick=False, seed=seed, epochs=c.epochs, **runtime)
        metric = "test_error"
    else:
        (p,) = reconstruction_points([c.point], c.rule, epochs=c.epochs, samples=c.samples, p=c.p, seed=seed,
                                     **runtime)
        metric = "accuracy"
    return {metric: p["result"], "pulses": p["pulses"], "energy_j": p["energy_j"], "seconds": p["seconds"]}
