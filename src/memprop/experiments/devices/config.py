r"""Settings of the device study: the base device, the design of points, the grids.

The device study: in situ training on memristive crossbars against the ideal weights.

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

import zlib
from dataclasses import dataclass
from typing import Any

from ..._runtime import check_runtime
from ..._validate import flag, positive_int
from ...crossbar import CrossbarConfig
from ...devices import ConstantStepDevice, ExpStepDevice, IdealDevice, NonIdeal
from ...devices.base import AbstractDevice, pulse_energy
from ...devices.presets import PRESETS
from ...errors import ConfigError

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
    "states": (4, 8, 16, 64, 256, 1024),
    "c2c": (0.03,),
    "d2d": (0.3,),
    "stuck": (0.05,),
    "epochs": 150,
    "samples": 50,
    "rbp_factors": "states",
    "classification_states": (16,),
}
"""--quick: fewer points, 150 epochs (the ideal EP network reconstructs 99.9 % by epoch 150 and
100 % from epoch 200 on), 50 test patterns per letter; RBP only on the ideal and ``states`` points.
The states are a curve: six counts from 4 to 1024 (powers of 4, plus 8), including the rounding
factor's 16 and the claim's 256; not 2, whose relaxations hit EP_MAX_STEPS on nearly every pattern
and would cost as much as the rest of the design. Measured 56.2-58.5 s on a 2-core machine with 2 worker
processes (each rule's points as two stacks, see :func:`memprop.experiments.devices.run.run`): too
long for the main job, so ``memprop reproduce`` runs it only by name."""


def derive_seed(seed: int, *tags: object) -> int:
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




RULES = ("ep", "rbp")


@dataclass(frozen=True, kw_only=True, slots=True)
class DevicesConfig:
    """The device study's run: the design (``quick`` or full), the seed, the rules, the runtime."""

    quick: bool = False
    """The small design (:data:`QUICK`) instead of :data:`FULL`."""
    seed: int = 0
    """Seed of everything random (weights, states, test sets, the crossbars' own streams)."""
    rules: tuple[str, ...] = RULES
    """Reconstruction rules (EP: energy model, RBP: additive model)."""
    torch_device: str = "cpu"
    """Torch device of the trained networks and their relaxations."""
    dtype: str | None = None
    """Floating-point type; None: each study's own (reconstruction float64 training and float32
    recall, classification float32)."""

    def __post_init__(self):
        flag("quick", self.quick)
        positive_int("seed", self.seed, minimum=0)
        rules = tuple(self.rules)
        if not rules or any(r not in RULES for r in rules):
            raise ConfigError(f"rules must be a non-empty subset of {RULES}, got {self.rules!r}")
        object.__setattr__(self, "rules", rules)
        check_runtime(self.torch_device, self.dtype)

    @property
    def grid(self) -> dict[str, Any]:
        return QUICK if self.quick else FULL
