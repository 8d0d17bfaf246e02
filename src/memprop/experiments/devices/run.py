r"""The device study's runs: reconstruction and classification trained in situ on every point.

Reconstruction: all points of one rule train together as one (C, N, N) stack (one learning-rule
estimate per pattern for every configuration), each configuration on its own crossbar of a
:class:`~memprop.crossbar.CrossbarStack`; the ideal configuration is the device-free training.
Classification: one run per point. The crossbars draw from their own generators (seeded from
the run's seed and the point), apart from the rule's, so every point sees the same patterns,
initial states and minibatches.
"""

from __future__ import annotations

import dataclasses
import time
from functools import lru_cache, partial
from typing import Any

import torch

from ..._parallel import parallel, run_pieces
from ..._runtime import torch_device
from ...crossbar import CrossbarConfig
from ...devices import AbstractPulsedDevice, IdealDevice
from ...networks import full_mask
from ...progress import Progress
from ..reconstruction.config import (
    RecallConfig,
    ReconstructionConfig,
    TrainConfig,
    load_pattern_set,
)
from ..reconstruction.recall import recall
from ..reconstruction.run import initial_weights, test_set
from ..reconstruction.training import train
from .config import (
    BASE_STATES,
    EP_MAX_STEPS,
    ROUNDING_STATES,
    W_MAX_CLASSIFICATION,
    W_MAX_RECONSTRUCTION,
    DevicesConfig,
    Point,
    derive_seed,
    design,
)


def train_in_situ(patterns: torch.Tensor, W0: torch.Tensor, mask: torch.Tensor, *, rule: str,
                  eta: float, epochs: int, crossbars: list[CrossbarConfig], generator: torch.Generator,
                  device_seed: int = 0, dtype: torch.dtype | None = None,
                  progress: Progress | None = None, device_seeds: list[int] | None = None,
                  states_seed: int | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Train C = len(crossbars) copies of W0 online (Table 1's protocol), each on its crossbar.

    The reconstruction study's training (:func:`memprop.experiments.reconstruction.training.train`:
    every pattern in a fixed order as the input, one estimate, one update) with the update
    ``-eta grad`` of configuration c programmed into crossbar c and the weights then read back;
    an ideal configuration trains exactly as without devices. One estimate serves all C
    configurations (a (C, N, N) stack).

    ``device_seeds``: one seed per crossbar's generator (default ``derive_seed(device_seed, c)``
    for configuration c); ``states_seed``: every configuration draws its random initial states
    from its own generator seeded with it (the same states for all, whatever the stack holds;
    default: one draw for the whole stack from ``generator``).

    Returns:
        The final (C, N, N) weights and each crossbar's counters.
    """
    # EP: one configuration whose relaxation does not converge (weights on very few states) would
    # hold the whole stack for TrainConfig's 20,000-step safety limit on every pattern: stop at
    # EP_MAX_STEPS (the ideal networks converge in about 30 to 100 steps) and use the state
    # reached. RBP keeps the study's limit (its side relaxation converges more slowly; a stall on
    # few states has not been measured there).
    tc = TrainConfig(max_steps=EP_MAX_STEPS, epochs=epochs) if rule == "ep" else TrainConfig(epochs=epochs)
    C, N = len(crossbars), W0.shape[-1]
    tr = train(patterns, W0.to(torch.float64).expand(C, N, N), mask, rule=rule,
               etas=torch.full((C,), float(eta), dtype=torch.float64), cfg=tc, generator=generator,
               dtype=dtype, progress=progress, stage=f"{rule} in situ ({C} devices)", crossbar=crossbars,
               device_seeds=device_seeds or [derive_seed(device_seed, c) for c in range(C)],
               row_seeds=None if states_seed is None else [states_seed] * C)
    return tr.W, tr.counters or []


def reconstruction_points(points: list[Point], rule: str, *, epochs: int, samples: int, p: float,
                          seed: int, torch_device_name: str = "cpu", dtype: str | None = None,
                          progress: Progress | None = None) -> list[dict[str, Any]]:
    """Accuracy of ``rule`` trained in situ on every point (Table 1's setting)."""
    rcfg = ReconstructionConfig(seed=seed, torch_device=torch_device_name, dtype=dtype)
    dev = torch_device(torch_device_name)
    pats = load_pattern_set(rcfg.patterns, rcfg.recall_dtype()).patterns
    N = pats.shape[1]
    W0 = initial_weights(rcfg, N, 0)
    eta = rcfg.eta_of("ep" if rule == "ep" else "rbp", N)
    states = derive_seed(seed, "states", rule)
    g = torch.Generator().manual_seed(states)
    t0 = time.perf_counter()
    # Each point's random streams follow from the point itself (its crossbar config), never from
    # its place in the design: the same initial states for every point, and a device stream per
    # configuration, so a point's numbers do not depend on what else the design (or a sweep task)
    # trains beside it.
    W, counters = train_in_situ(pats.to(dev), W0, full_mask(N), rule=rule, eta=eta, epochs=epochs,
                                crossbars=[pt.crossbar for pt in points], generator=g, dtype=rcfg.train_dtype(),
                                progress=progress,
                                device_seeds=[derive_seed(seed, "devices", rule, repr(pt.crossbar)) for pt in points],
                                states_seed=states)
    x, t = test_set(pats, p, samples, derive_seed(seed, "test", p))
    r = recall(rule, W.to(rcfg.recall_dtype()), x, t, cfg=RecallConfig(), dtype=rcfg.recall_dtype())
    acc = r["correct"].double().mean(-1)  # (C,)
    seconds = (time.perf_counter() - t0) / len(points)
    return [_point(pt, "reconstruction", rule, "accuracy", float(acc[c]), counters[c], seconds)
            for c, pt in enumerate(points)]


def _point(pt: Point, study: str, rule: str, metric: str, result: float, counters: dict,
           seconds: float) -> dict[str, Any]:
    return {"study": study, "rule": rule, "factor": pt.factor, "value": pt.value, "rounding": pt.rounding,
            "pairing": pt.crossbar.pairing, "metric": metric, "result": result,
            "pulses": int(counters["pulses"]), "energy_j": float(counters["energy_j"]),
            "seconds": seconds}


def classification_config(*, quick: bool, seed: int, epochs: int | None = None, torch_device_name: str = "cpu",
                          dtype: str | None = None):
    """The classification setting: Figure 5's (784-hidden-5, digits 0-4, EP) made smaller."""
    from ..classification import ClassificationConfig, fig5_config

    cfg = fig5_config(seed=seed)
    hidden, per_class, n_epochs = ((100,), 60, 3) if quick else ((500,), 600, 5)
    ep = dataclasses.replace(cfg.ep, hidden=hidden, epochs=epochs or n_epochs, eval_steps=50)
    data = dataclasses.replace(cfg.data, per_class=per_class)
    return ClassificationConfig(data=data, ep=ep, backprop=None, torch_device=torch_device_name,
                                dtype=dtype or "float32")


@lru_cache(maxsize=2)
def _split(data):
    """The classification split of ``data`` (a frozen DataConfig), loaded once per process: a
    worker that runs several points loads the digits once. Read, never written."""
    from ..classification import load_split

    return load_split(data)


def classification_points(points: list[Point], *, quick: bool, seed: int, epochs: int | None = None,
                          torch_device_name: str = "cpu", dtype: str | None = None,
                          progress: Progress | None = None) -> list[dict[str, Any]]:
    """EP's held-out error trained in situ on every point (one run each, same split and seed)."""
    from ..classification import run as run_classification

    cfg = classification_config(quick=quick, seed=seed, epochs=epochs, torch_device_name=torch_device_name,
                                dtype=dtype)
    split = _split(cfg.data)
    out = []
    if progress is not None:
        progress.start(f"classification in situ ({len(points)} devices)", len(points))
    for pt in points:  # loop over device configurations
        t0 = time.perf_counter()
        r = run_classification(dataclasses.replace(cfg, device=pt.crossbar), split=split)
        out.append(_point(pt, "classification", "ep", "test_error", r["epochs"][-1]["test_error"],
                          r["device"], time.perf_counter() - t0))
        if progress is not None:
            progress.update(1, f"{pt.factor}={pt.value}")
    if progress is not None:
        progress.finish()
    return out


def relaxes_long(pt: Point) -> bool:
    """Whether a point's in-situ training relaxes slowly: write noise, or stochastic rounding on
    fewer than :data:`ROUNDING_STATES` states. Each update then moves the weights by whole random
    states or by noise, and the next relaxations take several times the ideal network's steps
    (EP on the quick design: 100-270 Euler steps per relaxation against 25-55 for the other
    points)."""
    dev = pt.crossbar.device
    if isinstance(dev, IdealDevice):
        return False
    c2c = dev.nonideal.c2c if isinstance(dev, AbstractPulsedDevice) else 0.0
    few = pt.crossbar.scheme == "stochastic" and getattr(dev, "n_states", ROUNDING_STATES) < ROUNDING_STATES
    return c2c > 0 or few


LONG_RELAXATION = 4
"""About how many times the steps of the other points' relaxations the points that relax long
(:func:`relaxes_long`) take: the cost estimate that orders the stacks, longest first."""


def _stacks(points: list[Point]) -> list[tuple[list[int], int]]:
    """The points of one rule as stacks run apart, each as (indices into ``points``, estimated
    cost): those that relax long (:func:`relaxes_long`, each costing :data:`LONG_RELAXATION`) and
    the others (1 each). A stack's relaxations last as long as its slowest configuration's, and
    its configurations' numbers do not depend on what shares it, so the two stacks cost about
    what the one did and run on two workers at once."""
    long = [relaxes_long(pt) for pt in points]
    slow = [i for i, is_long in enumerate(long) if is_long]
    fast = [i for i, is_long in enumerate(long) if not is_long]
    return [(part, len(part) * cost) for part, cost in ((slow, LONG_RELAXATION), (fast, 1)) if part]


def run(cfg: DevicesConfig, *, progress: Progress | None = None, workers: int = 1) -> dict[str, Any]:
    """Every point of the design: ``{"config", "points", "seconds"}``.

    Independent pieces: EP's stack, RBP's stack and the classification points; with ``workers``
    > 1 they run on worker processes at once (the same numbers): each rule's points as two
    stacks (:func:`_stacks`: those that relax long apart from the others), the stacks first (the
    longest pieces) and each classification point a piece of its own, so that whichever worker
    is free takes the next piece. The points come back in the design's order."""
    t0 = time.perf_counter()
    grid = cfg.grid
    runtime = dict(torch_device_name=cfg.torch_device, dtype=cfg.dtype)
    shown = progress if not parallel(workers) else None  # workers report pieces, not epochs
    stacks, base = [], 0  # (estimated cost, piece, where its points go in the design's order)
    for rule in cfg.rules:  # loop over rules (EP: energy model, RBP: additive model)
        pts = design(grid, W_MAX_RECONSTRUCTION, pairing=True, states=grid["states"])
        if rule == "rbp" and grid["rbp_factors"] == "states":
            pts = [pt for pt in pts if pt.factor in ("reference", "states")]
        for part, cost in _stacks(pts) if parallel(workers) else [(list(range(len(pts))), 0)]:  # loop over stacks
            stacks.append((cost, (partial(reconstruction_points, [pts[i] for i in part], rule, epochs=grid["epochs"],
                                          samples=grid["samples"], p=0.1, seed=cfg.seed, progress=shown,
                                          **runtime), ()), [base + i for i in part]))
        base += len(pts)
    stacks.sort(key=lambda s: -s[0])  # the longest first (stable: a rule's order on ties)
    pieces, slots = [s[1] for s in stacks], [s[2] for s in stacks]
    cpts = design(grid, W_MAX_CLASSIFICATION, pairing=False, states=grid["classification_states"])
    base = sum(len(s) for s in slots)
    for part in [[i] for i in range(len(cpts))] if parallel(workers) else [list(range(len(cpts)))]:
        pieces.append((partial(classification_points, [cpts[i] for i in part], quick=cfg.quick, seed=cfg.seed,
                               progress=shown, **runtime), ()))  # loop over classification pieces
        slots.append([base + i for i in part])
    points: list[dict[str, Any]] = [{}] * sum(len(s) for s in slots)
    for slot, part in zip(slots, run_pieces(pieces, workers=workers, progress=progress, stage="devices")):
        for i, pt in zip(slot, part):  # loop over the piece's points: back to the design's order
            points[i] = pt
    points += [dict(p, factor="rounding", value=p["rounding"]) for p in points
               if p["factor"] == "states" and p["value"] == ROUNDING_STATES]
    ccfg = classification_config(quick=cfg.quick, seed=cfg.seed)
    config = {
        "quick": cfg.quick, "seed": cfg.seed, "rules": list(cfg.rules), "torch_device": cfg.torch_device,
        "workers": workers, "threads": torch.get_num_threads(),
        "dtype": cfg.dtype,
        "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()},
        "base_device": {"model": "constant", "states": BASE_STATES, "scheme": "stochastic", "pairing": "one",
                        "g_min": 1e-6, "g_max": 1e-5},
        "reconstruction": {"setting": "Table 1: builtin:letters16 (N = 100), full connectivity, p = 0.1, "
                                      "protocol initial", "epochs": grid["epochs"],
                           "test_samples_per_class": grid["samples"], "w_max": W_MAX_RECONSTRUCTION},
        "classification": {"hidden": list(ccfg.ep.hidden), "per_class": ccfg.data.per_class,
                           "epochs": ccfg.ep.epochs, "classes": list(ccfg.data.classes),
                           "w_max": W_MAX_CLASSIFICATION, "biases": "digital"},
    }
    return {"config": config, "points": points, "seconds": time.perf_counter() - t0}


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(p) for p in result["points"]]
