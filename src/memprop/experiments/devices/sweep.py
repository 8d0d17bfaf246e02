"""The device study as sweep tasks (``memprop sweep run`` with study "devices")."""

from __future__ import annotations

from typing import Any

from ...crossbar import CrossbarConfig
from ...devices.presets import resolve_device
from ...errors import ConfigError
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


def sweep_task(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """One in situ run: metrics ``accuracy`` (reconstruction) or ``test_error``
    (classification), ``pulses``, ``energy_j`` and ``seconds``."""
    task = settings.get("task", "reconstruction")
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
    pt = Point("sweep", spec, xcfg, scheme)
    runtime = {"torch_device_name": settings.get("torch_device", "cpu"), "dtype": settings.get("dtype")}
    if task == "classification":
        (p,) = classification_points([pt], quick=False, seed=seed, epochs=settings.get("epochs"), **runtime)
        metric = "test_error"
    elif task == "reconstruction":
        (p,) = reconstruction_points([pt], settings.get("rule", "ep"), epochs=settings.get("epochs", 300),
                                     samples=settings.get("samples_per_class", 1000), p=settings.get("p", 0.1),
                                     seed=seed, **runtime)
        metric = "accuracy"
    else:
        raise ConfigError(f"task must be 'reconstruction' or 'classification', got {task!r}")
    return {metric: p["result"], "pulses": p["pulses"], "energy_j": p["energy_j"], "seconds": p["seconds"]}
