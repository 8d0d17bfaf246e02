r"""The device study: in situ training on memristive crossbars against the ideal weights.

Measures, for every point of a design, the reconstruction accuracy of EP and RBP in Table 1's
setting (16 letters, N = 100, full connectivity, 300 online epochs, test flip probability
p = 0.1, protocol ``initial``) and the 5-class MNIST test error of EP (the layered network of
Figure 5, in a smaller configuration), with the weights held on crossbars
(:mod:`memprop.crossbar`) and every update programmed as pulses. The factors:

- ``preset``: each published device of :data:`memprop.devices.PRESETS`;
- ``states``: the number of conductance states of a constant-step device (hard bounds, the
  cleanest view of quantisation), 2 to 1024, with both roundings (every point carries its
  ``rounding``);
- ``rounding``: deterministic against stochastic pulse counts at :data:`ROUNDING_STATES`
  states (the same runs as the ``states`` points there);
- ``c2c``, ``d2d``, ``stuck``: cycle-to-cycle write noise, device-to-device spread of every
  parameter and the fraction of stuck devices, on the base device;
- ``pairing``: one device (pair) per neuron pair (W exactly symmetric) against two (w_ij and
  w_ji programmed separately and drifting apart under noise; the dynamics use the asymmetric
  matrix). Only for the symmetric recurrent networks of the reconstruction study.

The base device (every factor but ``preset`` varies one of its parameters): constant step,
:data:`BASE_STATES` states, stochastic rounding, one device pair per neuron pair, w_max
:data:`W_MAX_RECONSTRUCTION` (reconstruction; trained EP weights reach about 0.6) or
:data:`W_MAX_CLASSIFICATION` (classification). Points ``reference`` / ``ideal`` train with
:class:`~memprop.devices.IdealDevice` (the exact weights).

Reconstruction: all points of one rule train together as one (C, N, N) stack (one learning-rule
estimate per pattern for every configuration), each configuration with its own crossbar; the
ideal configuration is the device-free training. Classification: one run per point.

Randomness: the crossbars draw from their own generators (seeded from the run's seed and the
point), apart from the rule's, so every point sees the same patterns, initial states and
minibatches.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..crossbar import CrossbarConfig
from ..devices import ConstantStepDevice, ExpStepDevice, IdealDevice, NonIdeal
from ..devices.base import AbstractDevice, pulse_energy
from ..devices.presets import PRESETS, resolve_device
from ..errors import ConfigError
from ..networks import AdditiveNetwork, EnergyNetwork, full_mask
from .io import Progress, save_result

TITLE = "Devices: in situ EP and RBP on memristive crossbars (presets, states, noise, faults, pairing)"

BASE_STATES = 256
"""Conductance states of the base device."""
ROUNDING_STATES = 16
"""States at which the ``rounding`` factor compares deterministic and stochastic rounding."""
W_MAX_RECONSTRUCTION = 1.0
"""Weight mapped to the full conductance range in the reconstruction study (trained EP weights
reach |w| of about 0.62, RBP's less, so nothing is clipped)."""
W_MAX_CLASSIFICATION = 0.5
"""The same for the layered network of the classification study."""
CLAIM_STATES = 256
CLAIM_TOLERANCE = 0.02
"""Claim: with >= CLAIM_STATES states and stochastic rounding, EP is within this of ideal."""
EP_MAX_STEPS = 1000
"""Step limit of an EP training relaxation in situ (see :func:`train_in_situ`)."""
BREAKDOWN = 0.1
"""Reconstruction counts as broken down where its accuracy is more than this below the ideal
weights' (same rule, same epochs)."""

FULL = {
    "presets": tuple(PRESETS),
    "states": (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    "c2c": (0.01, 0.03, 0.1),
    "d2d": (0.1, 0.3),
    "stuck": (0.01, 0.05, 0.1),
    "epochs": 300,
    "samples": 1000,
    "rbp_factors": "all",
    "classification_states": (4, 16, 64, 256),
}
"""The full design (every factor for EP and RBP; classification: presets, states, noise, faults)."""
QUICK = {
    "presets": ("taox-hfox",),
    "states": (16, 256),
    "c2c": (0.03,),
    "d2d": (0.3,),
    "stuck": (0.05,),
    "epochs": 150,
    "samples": 50,
    "rbp_factors": "states",
    "classification_states": (16,),
}
"""--quick (<= 120 s on 2 cores): fewer points, 150 epochs (the ideal EP network reconstructs
99.9 % by epoch 150 and 100 % from epoch 200 on), 50 test patterns per letter; RBP only on the
ideal and ``states`` points."""


def _seed(seed: int, *tags: object) -> int:
    return zlib.crc32(repr((int(seed),) + tags).encode()) & 0x7FFFFFFF


def base_device(*, states: int = BASE_STATES, c2c: float = 0.0, d2d: float = 0.0,
                stuck: float = 0.0, nonlinearity: float | None = None) -> AbstractDevice:
    """The study's base device: constant step with hard bounds (``nonlinearity``: exponential
    LTP/LTD with that NL label, nl_down = -nl_up), 1-10 uS, 1 pJ-scale pulses."""
    g_min, g_max = 1e-6, 1e-5
    nonideal = NonIdeal(c2c=c2c, d2d=d2d, stuck_fraction=stuck)
    energy = pulse_energy(g_min, g_max)
    if nonlinearity is not None:
        return ExpStepDevice(g_min=g_min, g_max=g_max, n_states=states, nl_up=nonlinearity,
                             nl_down=-nonlinearity, energy_per_pulse=energy, nonideal=nonideal)
    return ConstantStepDevice(g_min=g_min, g_max=g_max, n_states=states, energy_per_pulse=energy,
                              nonideal=nonideal)


@dataclass(frozen=True, slots=True)
class Point:
    """One device configuration of the design (the factor it varies and the value)."""

    factor: str
    value: Any
    crossbar: CrossbarConfig
    rounding: str = "stochastic"


def design(grid: dict[str, Any], w_max: float, *, pairing: bool, states: tuple[int, ...]) -> list[Point]:
    """The points of one study: ideal, presets, states x rounding, c2c, d2d, stuck, pairing."""
    def xb(device, scheme="stochastic", pair="one"):
        return CrossbarConfig(device=device, w_max=w_max, scheme=scheme, pairing=pair)

    pts = [Point("reference", "ideal", xb(IdealDevice()))]
    pts += [Point("preset", name, xb(PRESETS[name])) for name in grid["presets"]]
    for n in states:
        for scheme in ("deterministic", "stochastic"):
            pts.append(Point("states", n, xb(base_device(states=n), scheme), scheme))
    pts += [Point("c2c", s, xb(base_device(c2c=s))) for s in grid["c2c"]]
    pts += [Point("d2d", s, xb(base_device(d2d=s))) for s in grid["d2d"]]
    pts += [Point("stuck", s, xb(base_device(stuck=s))) for s in grid["stuck"]]
    if pairing:
        pts.append(Point("pairing", "two", xb(base_device(), pair="two")))
    return pts


# --------------------------------------------------------------------------------------------
# Reconstruction in situ


def train_in_situ(patterns: torch.Tensor, W0: torch.Tensor, mask: torch.Tensor, *, rule: str,
                  eta: float, epochs: int, crossbars: list[CrossbarConfig], generator: torch.Generator,
                  device_seed: int, progress: Progress | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Train C = len(crossbars) copies of W0 online (Table 1's protocol), each on its crossbar.

    The reconstruction study's online loop (:func:`memprop.experiments.reconstruction_train.train`,
    which holds the crossbar logic: every pattern in a fixed order as the input, one estimate, one
    update) with the update ``-eta grad`` of configuration c programmed into crossbar c and the
    weights then read back; an ideal configuration trains exactly as without devices. One
    estimate serves all C configurations (a (C, N, N) stack).

    Args:
        patterns: (P, N) +-1 patterns.
        W0: (N, N) symmetric initial weights (zero off ``mask``).
        mask: (N, N) bool connectivity (no self-connections).
        rule: "ep" (energy network) or "rbp" (additive network).
        crossbars: one config per configuration.
        generator: the rule's (initial states).
        device_seed: the crossbars' generators are seeded from it and the configuration index.

    Returns:
        The final (C, N, N) weights (float32) and each crossbar's counters.
    """
    from .reconstruction_train import TrainConfig, train

    # EP: one configuration whose relaxation does not converge (weights on very few states) would
    # hold the whole stack for TrainConfig's 20,000-step safety limit on every pattern: stop at
    # EP_MAX_STEPS (the ideal networks converge in about 30 to 100 steps) and use the state
    # reached. RBP keeps the study's limit (its side relaxation converges more slowly; a stall on
    # few states has not been measured there).
    tc = TrainConfig(max_steps=EP_MAX_STEPS, epochs=epochs) if rule == "ep" else TrainConfig(epochs=epochs)
    C, N = len(crossbars), W0.shape[-1]
    tr = train(patterns, W0.to(torch.float64).expand(C, N, N), mask, rule=rule,
               etas=torch.full((C,), float(eta), dtype=torch.float64), cfg=tc, generator=generator,
               progress=progress, stage=f"{rule} in situ ({C} devices)", crossbar=crossbars,
               device_seeds=[_seed(device_seed, c) for c in range(C)])
    return tr.W.to(torch.float32), tr.counters or []


def reconstruction_points(points: list[Point], rule: str, *, epochs: int, samples: int, p: float,
                          seed: int, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Accuracy of ``rule`` trained in situ on every point (Table 1's setting)."""
    from . import reconstruction as R
    from .reconstruction_train import RecallConfig

    rcfg = R.ReconstructionConfig(seed=seed)
    pats = R.load_pattern_set(rcfg.patterns).patterns
    N = pats.shape[1]
    W0 = R.initial_weights(rcfg, N, 0)
    eta = rcfg.eta if rule == "ep" else rcfg.eta_rbp
    g = torch.Generator().manual_seed(_seed(seed, "states", rule))
    t0 = time.perf_counter()
    W, counters = train_in_situ(pats, W0, full_mask(N), rule=rule, eta=eta, epochs=epochs,
                                crossbars=[pt.crossbar for pt in points], generator=g,
                                device_seed=_seed(seed, "devices", rule), progress=progress)
    x, t = R.test_set(pats, p, samples, _seed(seed, "test", p))
    acc = recall_accuracy(rule, W, x, t, RecallConfig())  # (C,)
    seconds = (time.perf_counter() - t0) / len(points)
    return [_point(pt, "reconstruction", rule, "accuracy", float(acc[c]), counters[c], seconds)
            for c, pt in enumerate(points)]


def recall_accuracy(rule: str, W: torch.Tensor, x: torch.Tensor, t: torch.Tensor, rcfg) -> torch.Tensor:
    """Fraction of the test patterns x (M, N) each of the C networks W (C, N, N) reconstructs
    exactly, with the reconstruction study's recall (protocol ``initial``: v(0) = x, I = 0).

    The weights may be asymmetric (two devices per neuron pair): the dynamics then use W as the
    hardware holds it, h_i = sum_j W_ij g(v_j) (the study's own ``recall`` requires symmetric W
    for the energy model, so the network's matrix is replaced after construction).
    """
    from .reconstruction_train import relax_rows

    N = W.shape[-1]
    dt = rcfg.dt_ep if rule == "ep" else rcfg.dt_rbp
    out = torch.zeros(W.shape[0], dtype=torch.float64)
    for c in range(W.shape[0]):  # loop over configurations
        Wc = W[c].to(torch.float32)
        net = (EnergyNetwork if rule == "ep" else AdditiveNetwork)(0.5 * (Wc + Wc.T), mask=full_mask(N))
        net.W = Wc  # the hardware's matrix (asymmetric with two devices per pair)
        state, _, _ = relax_rows(net, x.to(torch.float32), None, dt=dt, tol=rcfg.tol, max_steps=rcfg.max_steps)
        out[c] = (torch.sign(state) == t).all(-1).double().mean()
    return out


def _point(pt: Point, study: str, rule: str, metric: str, result: float, counters: dict,
           seconds: float) -> dict[str, Any]:
    return {"study": study, "rule": rule, "factor": pt.factor, "value": pt.value, "rounding": pt.rounding,
            "pairing": pt.crossbar.pairing, "metric": metric, "result": result,
            "pulses": int(counters["pulses"]), "energy_j": float(counters["energy_j"]),
            "seconds": seconds}


# --------------------------------------------------------------------------------------------
# Classification in situ


def classification_config(*, quick: bool, seed: int, epochs: int | None = None):
    """The classification setting: Figure 5's (784-hidden-5, digits 0-4, EP) made smaller."""
    from . import classification as Cl

    cfg = Cl.fig5_config(seed=seed)
    hidden, per_class, n_epochs = ((100,), 60, 3) if quick else ((500,), 600, 5)
    ep = dataclasses.replace(cfg.ep, hidden=hidden, epochs=epochs or n_epochs, eval_steps=50)
    data = dataclasses.replace(cfg.data, per_class=per_class)
    return Cl.ClassificationConfig(data=data, ep=ep, backprop=None)


def classification_points(points: list[Point], *, quick: bool, seed: int, epochs: int | None = None,
                          progress: Progress | None = None) -> list[dict[str, Any]]:
    """EP's held-out error trained in situ on every point (one run each, same split and seed)."""
    from . import classification as Cl

    cfg = classification_config(quick=quick, seed=seed, epochs=epochs)
    split = Cl.load_split(cfg.data)
    out = []
    if progress is not None:
        progress.start(f"classification in situ ({len(points)} devices)", len(points))
    for pt in points:  # loop over device configurations
        t0 = time.perf_counter()
        r = Cl.run(cfg, split=split, crossbar=pt.crossbar)
        out.append(_point(pt, "classification", "ep", "test_error", r["epochs"][-1]["test_error"],
                          r["device"], time.perf_counter() - t0))
        if progress is not None:
            progress.update(1, f"{pt.factor}={pt.value}")
    if progress is not None:
        progress.finish()
    return out


# --------------------------------------------------------------------------------------------
# The whole study


def run(*, quick: bool = False, seed: int = 0, rules: tuple[str, ...] = ("ep", "rbp"),
        progress: Progress | None = None) -> dict[str, Any]:
    """Every point of the design: ``{"config", "points", "seconds"}``."""
    t0 = time.perf_counter()
    grid = QUICK if quick else FULL
    points = []
    for rule in rules:  # loop over rules (EP: energy model, RBP: additive model)
        pts = design(grid, W_MAX_RECONSTRUCTION, pairing=True, states=grid["states"])
        if rule == "rbp" and grid["rbp_factors"] == "states":
            pts = [pt for pt in pts if pt.factor in ("reference", "states")]
        points += reconstruction_points(pts, rule, epochs=grid["epochs"], samples=grid["samples"],
                                        p=0.1, seed=seed, progress=progress)
    cpts = design(grid, W_MAX_CLASSIFICATION, pairing=False, states=grid["classification_states"])
    points += classification_points(cpts, quick=quick, seed=seed, progress=progress)
    points += [dict(p, factor="rounding", value=p["rounding"]) for p in points
               if p["factor"] == "states" and p["value"] == ROUNDING_STATES]
    ccfg = classification_config(quick=quick, seed=seed)
    config = {
        "quick": quick, "seed": seed, "rules": list(rules), "grid": {k: list(v) if isinstance(v, tuple) else v
                                                                      for k, v in grid.items()},
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


def _find(points, study, rule, factor, value=None, rounding=None):
    for p in points:
        if (p["study"], p["rule"], p["factor"]) == (study, rule, factor) and (value is None or p["value"] == value) \
                and (rounding is None or p["rounding"] == rounding):
            return p
    return None


def breakdown(points: list[dict], rule: str, rounding: str) -> int | None:
    """The largest number of states at which the reconstruction accuracy of ``rule`` is more than
    BREAKDOWN below the ideal weights' (None: nowhere)."""
    ideal = _find(points, "reconstruction", rule, "reference")
    if ideal is None:
        return None
    bad = [p["value"] for p in points if p["study"] == "reconstruction" and p["rule"] == rule
           and p["factor"] == "states" and p["rounding"] == rounding
           and p["result"] < ideal["result"] - BREAKDOWN]
    return max(bad) if bad else None


def claims(result: dict[str, Any], *, command: str, plots: tuple[str, ...]) -> list:
    from .report import Claim

    pts = result["points"]
    ideal = _find(pts, "reconstruction", "ep", "reference")
    big = [p for p in pts if p["study"] == "reconstruction" and p["rule"] == "ep" and p["factor"] == "states"
           and p["rounding"] == "stochastic" and p["value"] >= CLAIM_STATES]
    out = []
    if ideal is not None and big:
        worst = min(big, key=lambda p: p["result"])
        holds = all(abs(p["result"] - ideal["result"]) <= CLAIM_TOLERANCE for p in big)
        out.append(Claim(
            study="devices",
            claim=f"(ours) with >= {CLAIM_STATES} states and stochastic rounding, EP's reconstruction "
                  f"accuracy (Table 1 setting) is within {CLAIM_TOLERANCE} of the ideal weights'",
            measured="ideal {:.3f}; ".format(ideal["result"]) + ", ".join(
                f"{p['value']} states {p['result']:.3f}" for p in big) + f" (worst {worst['result']:.3f})",
            holds=holds, command=command, plots=plots))
    for rule in ("ep", "rbp"):
        det, sto = breakdown(pts, rule, "deterministic"), breakdown(pts, rule, "stochastic")
        row = [p for p in pts if p["study"] == "reconstruction" and p["rule"] == rule and p["factor"] == "states"]
        if not row:
            continue
        table = "; ".join(f"{r}: " + ", ".join(f"{p['value']}:{p['result']:.2f}" for p in row if p["rounding"] == r)
                          for r in ("deterministic", "stochastic"))
        out.append(Claim(
            study="devices",
            claim=f"(ours) {rule.upper()} reconstruction breaks down (accuracy more than {BREAKDOWN} "
                  f"below ideal) as the states fall; stochastic rounding moves the breakdown to fewer states",
            measured=(f"largest state count that breaks down: deterministic {det}, stochastic {sto} "
                      f"(accuracy by states, {table}; ideal "
                      f"{_find(pts, 'reconstruction', rule, 'reference')['result']:.3f})"),
            holds=None if det is None else (sto is None or sto < det), command=command, plots=plots))
    return out


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in p.items()} for p in result["points"]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", nargs="+", choices=("ep", "rbp"), default=["ep", "rbp"],
                        help="reconstruction rules (default ep rbp)")


def reproduce(args: argparse.Namespace, out: Path, progress: Progress):
    """Run the study; write out/devices.{json,csv,png}; return the report section."""
    from .report import Section

    result = run(quick=args.quick, seed=args.seed, rules=tuple(getattr(args, "rules", ("ep", "rbp"))),
                 progress=progress)
    from ..plotting.devices import plot_devices

    plots = save_result(out, "devices", result, csv_rows(result), plot_devices)
    cmd = "memprop reproduce devices" + (" --quick" if args.quick else "") + (
        f" --seed {args.seed}" if args.seed else "")
    cfg = result["config"]
    text = (
        f"Every weight matrix is held on a crossbar (differential pairs, w_max "
        f"{W_MAX_RECONSTRUCTION} for reconstruction and {W_MAX_CLASSIFICATION} for classification) "
        f"and every update is programmed as pulses. Reconstruction: Table 1's setting, "
        f"{cfg['reconstruction']['epochs']} online epochs, {cfg['reconstruction']['test_samples_per_class']} "
        f"test patterns per letter at p = 0.1. Classification: EP on "
        f"784-{'-'.join(map(str, cfg['classification']['hidden']))}-5, digits 0-4, "
        f"{cfg['classification']['per_class']} training digits per class, {cfg['classification']['epochs']} "
        f"epochs (biases digital). Base device: constant step, {BASE_STATES} states, stochastic "
        f"rounding, one device pair per neuron pair. Run time {result['seconds']:.1f} s."
    )
    return Section(study="devices", title=TITLE, claims=claims(result, command=cmd, plots=plots), text=text)


# --------------------------------------------------------------------------------------------
# Sweep task (memprop sweep run, study "devices")

SWEEP_SETTINGS: dict[str, type | tuple] = {
    "task": ("reconstruction", "classification"),
    "rule": ("ep", "rbp"),
    "p": float,
    "samples_per_class": int,
    "epochs": int,
    "device": str,
    "nonlinearity": float,
    "states": int,
    "rounding": ("deterministic", "stochastic"),
    "pairs": ("one", "two"),
    "c2c": float,
    "d2d": float,
    "stuck_fraction": float,
    "w_max": float,
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
    scheme = settings.get("rounding", "stochastic")
    xcfg = CrossbarConfig(device=device, w_max=w_max, scheme=scheme, pairing=settings.get("pairs", "one"))
    pt = Point("sweep", spec, xcfg, scheme)
    if task == "classification":
        (p,) = classification_points([pt], quick=False, seed=seed, epochs=settings.get("epochs"))
        metric = "test_error"
    elif task == "reconstruction":
        (p,) = reconstruction_points([pt], settings.get("rule", "ep"), epochs=settings.get("epochs", 300),
                                     samples=settings.get("samples_per_class", 1000), p=settings.get("p", 0.1),
                                     seed=seed)
        metric = "accuracy"
    else:
        raise ConfigError(f"task must be 'reconstruction' or 'classification', got {task!r}")
    return {metric: p["result"], "pulses": p["pulses"], "energy_j": p["energy_j"], "seconds": p["seconds"]}
