r"""Settings of the pattern-reconstruction study (Zoppo et al. 2020, Table 1, Figures 1-4).

Setting (the paper's, with the project's defaults for what it leaves open; see
``docs/studies.md``): N units, all of them inputs and outputs, no hidden units, symmetric W
uniform in [-0.1, 0.1] without self-connections, g = tanh, eta = 0.01, 300 epochs; every pattern
is shown in a fixed order as the constant input I (target = the pattern) from a random state,
then one online update. EP trains the energy model (Eq. 12-13) with the estimate of Eq. (19);
RBP trains the additive model (Eq. 3) with the side network of Eq. (9) reset to y(0) = 0.5.
Hebbian and Storkey weights are stored in one pass and recalled with synchronous sign dynamics.

Test: each pattern is corrupted by flipping every pixel with probability p. Protocol
``initial`` (default) relaxes from the corrupted pattern with I = 0; protocol ``input`` clamps
it as the constant input I from a random state. A test pattern is reconstructed only if every
pixel of sign(v*) equals the original. Band connectivity (Figure 2) cuts the K outer diagonals
on each side of W, leaving the paper's N^2 - K (K + 1) "synapses" (diagonal entries included;
without self-connections N fewer weights are non-zero).

The RBP question: under the paper's literal settings RBP learns more slowly than EP. The
variant ``rbp`` uses the one documented change ``eta_rbp`` (a larger learning rate for RBP);
``rbp_paper`` keeps the paper's eta. Every result carries both.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..._runtime import DTYPES, check_runtime
from ..._validate import choice, in_range, positive, positive_int
from ...crossbar import CrossbarConfig
from ...data import PatternSet, load_builtin, load_patterns
from ...errors import ConfigError, DataError
from ...learning.ep import ESTIMATORS
from ...limits import UNITS_ENV, check_count, check_memory

TITLE = "Pattern reconstruction (Table 1, Figures 1-4): EP and RBP against Hebbian and Storkey"

VARIANTS = ("ep", "rbp", "rbp_paper")
"""Trained rule variants: EP (eta), RBP with the documented change (eta_rbp), RBP as printed."""
RULE_OF = {"ep": "ep", "rbp": "rbp", "rbp_paper": "rbp", "rbp_sweep": "rbp"}
TABLE1_RULES = ("hebbian", "storkey", "rbp", "ep")
"""Rows of Table 1 in the paper's order (plus ``rbp_paper`` in our results)."""
GOOD = 0.9
"""Accuracy counted as "reconstructs" / "good" in the claims (the paper gives no number)."""
FAIL = 0.5
"""Accuracy at or below which a rule counts as failing in Table 1's claim."""
FEW_CONNECTIONS = 0.2
"""Figure 2's "few connections": at most this fraction of the N^2 synapses left."""
MARGIN = 0.05
"""Figure 2's claim holds when EP's mean accuracy over the few-connection points exceeds
RBP's by more than this: a clear difference (the sampling error of a point is below 0.002 at
80 000 test patterns; between training seeds RBP's Table 1 accuracy spread by up to 0.06).
Fixed before the full run, not fitted to it."""
RBP_TARGET = 0.95
"""Accuracy that the documented RBP change must reach (the issue's bound)."""
K_FRACTIONS = (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
"""Default Figure 2 grid: K = round(f N), capped at N - 1 (for N = 100: 0, 20, 40, 60, 70, 80,
85, 90, 95, 99; the last three leave 18 %, 9 % and 1 % of the synapses). Denser where the
accuracy changes."""
QUICK_K_FRACTIONS = (0.0, 0.9, 1.0)
STAGE_NAMES = {"training": "training (every rule and K)", "fig1": "Figure 1", "table1": "Table 1",
               "fig2": "Figure 2", "fig3": "Figure 3", "fig4": "Figure 4", "rbp": "RBP diagnosis",
               "files": "files", "plots": "plots"}


def default_k_grid(n: int, fractions: Sequence[float] = K_FRACTIONS) -> tuple[int, ...]:
    """Figure 2's K values for N = n: 0, N - 1 and values cutting >= 80 % of the synapses."""
    positive_int("n", n, minimum=2)
    return tuple(sorted({min(n - 1, round(f * n)) for f in fractions}))


def derive_seed(seed: int, *tags: object) -> int:
    """A deterministic 31-bit seed derived from the run's seed and a purpose (stable across runs,
    unlike ``hash``)."""
    return zlib.crc32(repr((int(seed),) + tags).encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------------------------
# Configuration


TRAINED_RULES = ("ep", "rbp")
"""Rules trained by gradient estimates (the others, hebbian and storkey, store patterns)."""
STORED_RULES = ("hebbian", "storkey")
PROTOCOLS = ("initial", "input")
"""Test clamping: corrupted pattern as v(0) with I = 0, or as the constant input I."""
TRAINING_INPUTS = ("clean", "corrupted")
PRESENTATIONS = ("once", "until-memorised")
"""How a pattern is shown in an epoch: one update, or repeated updates until it is memorised."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainConfig:
    """How EP and RBP are trained (the paper's settings where it gives them)."""

    epochs: int = 300
    """Training epochs (the paper: 300); one epoch shows every pattern once, in a fixed order."""
    init_scale: float = 0.1
    """Initial weights uniform in [-init_scale, init_scale], symmetric (the paper: 0.1)."""
    beta: float = 1.0
    """EP nudging strength beta. The paper's Eq. (19) is printed without the 1/beta, i.e. with
    beta = 1 (and the one-sided estimator); we keep that reading."""
    estimator: str = "one_sided"
    """EP estimator: one_sided (Eq. 19, the paper's), random_sign or centred."""
    dt_ep: float = 0.25
    """Euler step of EP's relaxations (free and nudged), in units of the neurons' time constant.
    Euler follows the physical dynamics, so a relaxation reaches the stable fixed point the
    analog network would reach (an accelerated solver can land on an unstable one). Euler is
    stable for dt < 2 / |lambda_min| of the Jacobian; at trained EP fixed points lambda_min
    reached -3.2 (free) and -4.3 (nudged, beta = 1), where dt = 0.5 oscillated for ever."""
    dt_rbp: float = 0.5
    """Euler step of RBP's forward and side relaxations (the additive model's Jacobian
    -1 + g'(h) W stays above -2.5 here, so 0.5 is stable)."""
    tol: float = 1e-6
    """Stop a training relaxation when max_i |dv_i/dt| <= tol (float64). Late in training the
    RBP side state y is ~1e-4, so 1e-6 keeps its error at about 1 %."""
    max_steps: int = 20_000
    """Safety limit of a training relaxation (counted in the history when hit)."""
    y0: float = 0.5
    """RBP: the side state's reset value y(0) (the paper: 0.5)."""
    training_input: str = "clean"
    """clean: I = the pattern (the paper); corrupted: I = a copy corrupted with training_p."""
    training_p: float = 0.1
    """Flip probability of the training input when training_input is corrupted."""
    dtype: str = "float64"
    """Training precision (float64: residuals of 1e-6 are below float32's rounding floor)."""
    presentation: str = "once"
    """once: every pattern gets one update per epoch (one free relaxation, one update).
    until-memorised: the paper's words, "each image ... is repeatedly proposed to the network ...
    until it is memorized": after each update the pattern is checked, and shown again (a fresh
    random v(0), another update) until it is memorised or ``max_presentations`` is reached.
    Memorised means what the test asks of it: relaxed from the clean pattern with I = 0, the
    network keeps every sign (see ``docs/studies.md``). The first presentation is the same as
    ``once``, so an epoch shows every pattern at least once."""
    max_presentations: int = 5
    """Cap of ``until-memorised``: presentations of one pattern in one epoch. A cost limit, not a
    tuned value: a network that cannot hold a pattern without its input (most of Figure 2's sparse
    ones) is shown it this many times in every epoch, so training then costs up to 5x ``once``
    (measured: one presentation of one configuration, N = 100, takes about 30 ms). How often the
    cap is reached is in the history as ``capped``."""

    def __post_init__(self):
        positive_int("epochs", self.epochs)
        choice("presentation", self.presentation, PRESENTATIONS)
        positive_int("max_presentations", self.max_presentations)
        positive("init_scale", self.init_scale)
        positive("beta", self.beta)
        choice("estimator", self.estimator, ESTIMATORS)
        if self.estimator == "centred" and self.beta >= 1.0:
            raise ConfigError(
                f"beta = {self.beta:g} with estimator 'centred': its -beta phase relaxes F = E - beta C, where "
                f"E's leak 1/2 |v|^2 meets -beta 1/2 |T - v|^2 with every unit an output, so F has no minimum for "
                f"beta >= 1 (the relaxations run to max_steps); use beta < 1, or estimator one_sided")
        positive("dt_ep", self.dt_ep)
        positive("dt_rbp", self.dt_rbp)
        positive("tol", self.tol)
        positive_int("max_steps", self.max_steps)
        in_range("y0", self.y0, -10.0, 10.0)
        choice("training_input", self.training_input, TRAINING_INPUTS)
        in_range("training_p", self.training_p, 0.0, 1.0)
        choice("dtype", self.dtype, tuple(DTYPES))


@dataclass(frozen=True, kw_only=True, slots=True)
class RecallConfig:
    """How a trained network is tested (relaxations stop on convergence)."""

    protocol: str = "initial"
    """initial: corrupted pattern as v(0), I = 0 (the project's default); input: corrupted
    pattern as the constant input I, v(0) uniform in [-1, 1]."""
    dt_ep: float = 0.5
    """Euler step of the energy network's recall. Stable for dt < 2 / |lambda_min| of the
    Jacobian: over Figure 2's trained networks lambda_min >= -3.2 at the corrupted starting
    states and at the fixed points reached (|1 + dt lambda| <= 0.6). Measured on Figure 2's
    networks (p = 0.1 and 0.25, 800 patterns each): the verdicts agree with dt = 0.1 for 99.6 %
    of the patterns (worst point 98.4 %; dt = 0.25: 99.9 %) at half the cost of dt = 0.25."""
    dt_rbp: float = 0.5
    """Euler step of the additive network's recall (lambda_min >= -3.1; verdicts agree with
    dt = 0.1 for 99.7 % of the patterns, worst point 99.0 %)."""
    tol: float = 1e-4
    """Stop when max_i |dv_i/dt| <= tol. A fixed point's pixels sit well away from 0, so the
    sign is settled long before: on Figure 2's networks 1e-4 and 1e-5 gave the same verdicts,
    1e-4 and 1e-6 differed on 0.01 % of the patterns (trajectories pausing near a saddle), and
    1e-3 on 0.2 %. The tests check 1e-4 against 1e-6 on small trained networks."""
    max_steps: int = 5_000
    """Limit of a recall relaxation; an element still moving then is judged by its state (and
    counted as not converged in the results)."""
    sign_steps: int = 100
    """Updates of synchronous sign recall (Hebbian, Storkey). A recall that ends in a 2-cycle
    instead of a fixed point is judged by its state after this many updates (and counted as
    not converged)."""
    chunk: int = 2048
    """Test patterns relaxed together: 2048 x N floats stay in the processor's cache, which made
    the elementwise work 1.2x faster than one large batch (the matrix product is the same)."""

    def __post_init__(self):
        choice("protocol", self.protocol, PROTOCOLS)
        positive("dt_ep", self.dt_ep)
        positive("dt_rbp", self.dt_rbp)
        positive("tol", self.tol)
        positive_int("max_steps", self.max_steps)
        positive_int("sign_steps", self.sign_steps)
        positive_int("chunk", self.chunk)


# --------------------------------------------------------------------------------------------
# The study's config, and RBP's rate at N


RATE_REFERENCE_N = 100
"""The network size at which ``eta_rbp`` is RBP's rate (the paper's 10 x 10 letters)."""


def rbp_rate(eta: float, exponent: float, n: int) -> float:
    """RBP's rate on ``n`` units: ``eta * (RATE_REFERENCE_N / n) ** exponent`` (``docs/claims.md``,
    round 2), rounded to 12 significant digits so that equal settings give equal float keys."""
    if n == RATE_REFERENCE_N or exponent == 0.0:
        return eta
    return float(f"{eta * (RATE_REFERENCE_N / n) ** exponent:.12g}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconstructionConfig:
    """Every setting of the study; ``to_json()`` goes into every result."""

    patterns: str = "builtin:letters16"
    """Pattern set: ``builtin:letters16`` (16 letters, N = 100) or a file path (.txt/.npy/.npz/.png/dir)."""
    seed: int = 0
    """Seed of everything random: weights, initial states, corruption (derived per purpose)."""
    quick: bool = False
    """Fewer test patterns, a smaller K grid and fewer Figure 3 points; same protocol."""
    eta: float = 0.01
    """Learning rate eta of EP and of ``rbp_paper`` (the paper: 0.01)."""
    eta_rbp: float = 0.02
    """Learning rate of the ``rbp`` variant (with ``rbp_presentation``, the documented change from
    the paper). Chosen by the rule of ``docs/claims.md`` on the development collection (not on the
    reported letters): no candidate reached 0.95 on every set, so the rule took the best worst
    case, ``until-memorised`` with eta 0.02 (worst 0.71, on ``lower16``; EP's worst there was
    0.85). Measured by ``memprop reproduce development --sets alphabet26 lower16 corr20_n100
    corr30_n100 corr40_n100`` (2 seeds; round 1 of the rule). It is the rate at N = 100; other N
    scale it by ``rbp_rate_exponent`` (round 2). The earlier 0.015 was chosen on the letters
    themselves."""
    rbp_rate_exponent: float = 1.5
    """How the ``rbp`` variant's rate scales with the network size N: eta(N) = eta_rbp * (100 /
    N) ** rbp_rate_exponent (:meth:`eta_of`), so ``eta_rbp`` is the rate at N = 100. Chosen by
    round 2 of the rule in ``docs/claims.md`` on the N = 256 development sets: a = 1 (fan-in
    normalised, eta 0.0078 at N = 256) failed on 2 of 6 (set, seed) runs (accuracy 0 and 0.87),
    a = 1.5 (0.0049) gave 1.000 on all 6 (``memprop reproduce development --sets corr20_n256
    corr30_n256 corr40_n256``), and held on sets the rule never saw at N = 64, 144 and 400
    (``docs/claims.md``). Below N = 64 it does not hold: at N = 25 (eta 0.16) RBP's training loss
    grows (0.8-1.0 to 6-28 within 30 epochs), and the check run on N = 25 and 36 ended with
    non-finite weights (``docs/claims.md``), so on small
    networks pass ``eta_rbp``/``rbp_rate_exponent`` yourself. ``rbp_paper`` keeps the paper's
    unscaled ``eta``."""
    rbp_presentation: str | None = "until-memorised"
    """Presentation of the ``rbp`` variant (part of the documented change, see ``eta_rbp``); None:
    ``training.presentation``, as every other variant. Round 3 of the rule (``memprop reproduce
    development --round3``) found no presentation or training input that brings either rule to
    0.95 on the hand-drawn alphabets (EP ``until-memorised`` came closest: 0.947-0.975), so this
    and EP's ``once`` stayed."""
    training: TrainConfig = field(default_factory=TrainConfig)
    recall: RecallConfig = field(default_factory=RecallConfig)
    p: float = 0.1
    """Flip probability of Table 1, Figure 3 and Figure 4 (the paper: 0.1)."""
    p_fig2: tuple[float, ...] = (0.10, 0.15, 0.20, 0.25)
    """Flip probabilities of Figure 2."""
    K: tuple[int, ...] | None = None
    """Figure 2's K values (diagonals cut on each side); None: :func:`default_k_grid`."""
    fig2_rules: tuple[str, ...] = ("ep", "rbp")
    """Trained variants of Figure 2. ``rbp_paper`` is left out by default: Figure 2's 4 x 80 000
    relaxations per K dominate the run, and ``rbp_paper`` relaxes slowest (its test relaxations
    took 1.6x the steps of ``rbp``'s): with it the full run measured 533 s instead of about 300 s
    on the shared 2-core machine, too close to the 10-minute budget. The paper's eta is in Table
    1, Figure 3 and the diagnosis; ``fig2_rules=VARIANTS`` adds it to Figure 2."""
    samples_table1: int = 1000
    """Corrupted test patterns per class for Table 1 (the paper: 1000)."""
    samples_fig2: int = 5000
    """Corrupted test patterns per class and point for Figure 2 (the paper: 5000)."""
    samples_fig3: int = 1000
    """Corrupted test patterns per class and epoch for Figure 3 (the paper: 1000)."""
    fig3_epochs: tuple[int, ...] = (0, 10, 20, 30, 40, 50, 75, 100, 150, 200, 250, 300)
    """Epochs at which Figure 3 measures the accuracy (capped at training.epochs)."""
    fig4_examples: int = 6
    """Columns of Figure 4 (the paper: 6)."""
    seeds: int = 1
    """Independent training runs (weights and initial states) of the full-connectivity networks
    of Table 1 and Figure 3; Figure 2 uses the first."""
    rbp_etas: tuple[float, ...] = (0.01, 0.0125, 0.015, 0.02, 0.025, 0.03)
    """RBP learning rates of the diagnosis sweep at full connectivity (eta and eta_rbp are always
    in it); () for just those two, with the first seed."""
    sweep_seeds: int = 3
    """Training seeds of every sweep learning rate: the smallest eta that reaches the target
    with every one of them is the documented change."""
    device: CrossbarConfig | None = None
    """In situ: every trained and stored network on crossbars of this config (pulses, energy);
    the ideal device gives exactly the device-free numbers. None: exact weights."""
    torch_device: str = "cpu"
    """Torch device of every tensor ("cpu", "cuda", "cuda:N", "mps")."""
    dtype: str | None = None
    """Floating-point type of every tensor; None: the study's own (training in
    ``training.dtype``, float64 by default; recall in float32)."""

    def __post_init__(self):
        if not isinstance(self.patterns, str) or not self.patterns:
            raise ConfigError(f"patterns must be 'builtin:NAME' or a file path, got {self.patterns!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        positive("eta", self.eta)
        positive("eta_rbp", self.eta_rbp)
        in_range("rbp_rate_exponent", self.rbp_rate_exponent, 0.0, 4.0)
        if self.rbp_presentation is not None:
            choice("rbp_presentation", self.rbp_presentation, PRESENTATIONS)
        if not isinstance(self.training, TrainConfig):
            raise ConfigError(f"training must be a TrainConfig, got {type(self.training).__name__}")
        if not isinstance(self.recall, RecallConfig):
            raise ConfigError(f"recall must be a RecallConfig, got {type(self.recall).__name__}")
        in_range("p", self.p, 0.0, 1.0)
        if not self.p_fig2:
            raise ConfigError("p_fig2 must list at least one flip probability, got ()")
        for i, q in enumerate(self.p_fig2):
            in_range(f"p_fig2[{i}]", q, 0.0, 1.0)
        if not self.fig2_rules or any(v not in VARIANTS for v in self.fig2_rules):
            raise ConfigError(f"fig2_rules must be a non-empty subset of {VARIANTS}, got {self.fig2_rules!r}")
        if self.K is not None:
            if not self.K:
                raise ConfigError("K must list at least one value (or be None for the default grid), got ()")
            for i, k in enumerate(self.K):
                positive_int(f"K[{i}]", k, minimum=0)
        positive_int("samples_table1", self.samples_table1)
        positive_int("samples_fig2", self.samples_fig2)
        positive_int("samples_fig3", self.samples_fig3)
        if not self.fig3_epochs:
            raise ConfigError("fig3_epochs must list at least one epoch, got ()")
        for i, e in enumerate(self.fig3_epochs):
            positive_int(f"fig3_epochs[{i}]", e, minimum=0)
        positive_int("fig4_examples", self.fig4_examples)
        positive_int("seeds", self.seeds)
        for i, e in enumerate(self.rbp_etas):
            positive(f"rbp_etas[{i}]", e)
        positive_int("sweep_seeds", self.sweep_seeds)
        if self.device is not None and not isinstance(self.device, CrossbarConfig):
            raise ConfigError(f"device must be a CrossbarConfig or None, got {type(self.device).__name__}")
        check_runtime(self.torch_device, self.dtype)

    def k_grid(self, n: int) -> tuple[int, ...]:
        """The K values of Figure 2 for N = n, checked against n."""
        ks = self.K if self.K is not None else default_k_grid(n, QUICK_K_FRACTIONS if self.quick else K_FRACTIONS)
        for k in ks:
            if k > n - 1:
                raise ConfigError(f"K values must lie in [0, {n - 1}] for N = {n}, got K = {k}")
        return tuple(sorted(set(ks)))

    def snapshot_epochs(self) -> tuple[int, ...]:
        """Figure 3's epochs that training reaches, and the last epoch."""
        return tuple(sorted({e for e in self.fig3_epochs if e <= self.training.epochs} | {self.training.epochs}))

    def train_dtype(self) -> torch.dtype:
        """The dtype of training: ``dtype`` if set, else ``training.dtype``."""
        return DTYPES[self.dtype or self.training.dtype]

    def recall_dtype(self) -> torch.dtype:
        """The dtype of recall: ``dtype`` if set, else float32."""
        return DTYPES[self.dtype or "float32"]

    def eta_of(self, variant: str, n: int) -> float:
        """Learning rate of ``variant`` on a network of ``n`` units: ``eta_rbp * (100 / n) **
        rbp_rate_exponent`` for ``rbp`` (``eta_rbp`` itself at N = 100), else ``eta``."""
        if variant != "rbp":
            return self.eta
        return rbp_rate(self.eta_rbp, self.rbp_rate_exponent, n)

    def presentation_of(self, variant: str) -> str:
        """How variant ``variant`` is trained: ``rbp_presentation`` for ``rbp``, else the training's."""
        if variant == "rbp" and self.rbp_presentation is not None:
            return self.rbp_presentation
        return self.training.presentation

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.device is not None:
            from ...devices.toml import device_to_dict

            d["device"] = {**{k: v for k, v in d["device"].items() if k != "device"},
                           "model": device_to_dict(self.device.device)}
        d["changes_from_paper"] = {
            "eta_rbp": (f"variant 'rbp' trains RBP with eta = {self.eta_rbp:g} * (100 / N) ** "
                        f"{self.rbp_rate_exponent:g} and presentation {self.presentation_of('rbp')} (chosen on "
                        f"the development collection); the paper's eta = {self.eta:g} is variant 'rbp_paper'"),
        }
        if self.quick:
            d["quick_note"] = ("--quick: same protocol, training and epochs as the full run; fewer "
                               "test patterns per class, a smaller K grid, fewer Figure 3 points, and Figure 2 "
                               "compares EP with the paper's RBP (rbp_paper) only")
        return d


QUICK_FIG2_RULES = ("ep", "rbp_paper")
"""Figure 2's trained variants under ``--quick``: EP against the paper's RBP. The documented
change's ``until-memorised`` presentation shows every pattern 5 times per epoch to a sparse network
that cannot hold it: its one K = 90 network alone trained for 240 s (measured, 1 thread), which the
main job's 90 s cannot hold. The full run keeps ``rbp`` in Figure 2 (and the claims map judges
Figure 2 under both rates and presentations)."""


def quick_config(**overrides: Any) -> ReconstructionConfig:
    """The ``--quick`` settings: the full protocol (300 epochs) with small test samples."""
    base = dict(quick=True, samples_table1=100, samples_fig2=50, samples_fig3=50,
                fig3_epochs=(0, 50, 100, 200, 300), rbp_etas=(), sweep_seeds=1, fig2_rules=QUICK_FIG2_RULES)
    base.update(overrides)
    return ReconstructionConfig(**base)


def load_pattern_set(spec: str, dtype: torch.dtype | None = None) -> PatternSet:
    """``builtin:NAME`` (``letters16`` or ``dev/NAME`` of the development collection, see
    :mod:`memprop.data.development`) or a file path -> :class:`PatternSet` (patterns as ``dtype`` if
    given)."""
    ps = load_builtin(spec) if spec.startswith("builtin:") else load_patterns(spec)
    if dtype is not None and ps.patterns.dtype != dtype:
        ps = dataclasses.replace(ps, patterns=ps.patterns.to(dtype))
    return ps


def check_patterns(ps: PatternSet) -> None:
    """Refuse a pattern set the study cannot measure: fewer than two patterns, a constant pattern
    (its correlation with the others is undefined) or two identical patterns (a recall of one
    could not be told from the other).

    Raises:
        DataError: naming the file (``ps.source``) and the patterns at fault.
    """
    x = ps.patterns
    if x.shape[0] < 2:
        raise DataError(f"{ps.source}: holds {x.shape[0]} pattern; the reconstruction study needs at least 2 "
                        f"to tell apart")
    constant = (x == x[:, :1]).all(dim=1)
    if bool(constant.any()):
        names = [ps.names[i] for i in constant.nonzero().flatten().tolist()][:5]
        raise DataError(f"{ps.source}: pattern(s) {names} are constant (every unit equal); recall of a "
                        f"constant pattern is trivial and its correlation with the others undefined")
    _, group, counts = torch.unique((x > 0).to(torch.int8), dim=0, return_inverse=True, return_counts=True)
    if bool((counts > 1).any()):
        dup = (counts[group] > 1).nonzero().flatten().tolist()
        first = {}
        pairs = []
        for i in dup:  # at most P indices, only when there are duplicates
            g = int(group[i])
            if g in first:
                pairs.append(f"{ps.names[first[g]]!r} = {ps.names[i]!r}")
            else:
                first[g] = i
        raise DataError(f"{ps.source}: identical patterns ({', '.join(pairs[:5])}); recall cannot tell them apart, "
                        f"remove the duplicates")


def check(cfg: ReconstructionConfig, dtype: torch.dtype | None = None) -> PatternSet:
    """What ``cfg`` alone cannot tell, checked before a run starts: the pattern file, the fit of the
    K grid with its size, and the memory of the largest training stack (an estimate). Returns the
    pattern set (patterns as ``dtype`` if given)."""
    ps = load_pattern_set(cfg.patterns, dtype)
    check_patterns(ps)
    check_count(f"patterns {cfg.patterns}: units per pattern", ps.n, UNITS_ENV)
    ks = cfg.k_grid(ps.n)
    # Figure 2 trains one stack per rule over the K grid: weights, gradient and a work copy.
    itemsize = torch.tensor([], dtype=cfg.train_dtype()).element_size()
    check_memory(f"patterns {cfg.patterns} (N = {ps.n} units)",
                 3 * itemsize * ps.n**2 * len(ks) * len(cfg.fig2_rules), device=cfg.torch_device)
    return ps
