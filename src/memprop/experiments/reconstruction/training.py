r"""Batched online training and storing for the pattern-reconstruction study.

Training (Zoppo et al. 2020, "Pattern reconstruction"): every pattern :math:`\xi^\mu` is shown,
in a fixed order, as the constant input :math:`I = \xi^\mu` (or a corrupted copy of it) with
target :math:`T = \xi^\mu`; the state starts at random (uniform in [-1, 1]); the network relaxes
and one online update :math:`W \leftarrow W - \eta\, \widehat{\partial J / \partial W}` follows,
with the gradient estimated by equilibrium propagation (energy model, Eq. 12-19) or recurrent
backpropagation (additive model, Eq. 3-11; side state reset to y(0) = 0.5). The updates are
sequential over patterns, as in the paper; what runs in parallel is the *configurations*: C
weight matrices (different connectivities K, learning rates, seeds) stacked as one (C, N, N)
tensor see the same pattern at the same time, and each relaxation is one batched solve.

Everything here composes the engine: the networks with one connectivity mask per
configuration, :func:`memprop.learning.train_epoch` with one learning rate per configuration,
explicit Euler relaxations recording each configuration at its own first convergence, and, in
situ, a :class:`~memprop.crossbar.CrossbarStack` holding configuration c on its own crossbar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..._validate import choice
from ...crossbar import Crossbar, CrossbarConfig, CrossbarStack
from ...data import corrupt
from ...errors import ConfigError
from ...learning import EquilibriumPropagation, Hebbian, RecurrentBackprop, Storkey, train_epoch
from ...networks import AdditiveNetwork, EnergyNetwork, HopfieldNetwork, full_mask
from ...progress import Progress
from ...solvers import EulerSolver, Workspace, relax
from .config import PRESENTATIONS, STORED_RULES, TRAINED_RULES, TrainConfig

DEVICE_SEED_OFFSET = 7919
"""Default seed offset of the crossbars' generators (apart from the rule's stream, so that an
ideal device leaves every random stream of the run as it is without devices)."""


@dataclass(kw_only=True, slots=True)
class Training:
    """Outcome of :func:`train`: final weights, snapshots and per-epoch history.

    Shapes: W (C, N, N); snapshots[epoch] (len(snapshot_rows), N, N); every history entry
    (C, epochs) with one value per configuration and epoch.
    """

    W: torch.Tensor
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    history: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    counters: list[dict] | None = None
    """In situ training: each configuration's crossbar counters (updates, pulses, events,
    energy_j, devices, ...); None without devices."""


MEMORISED_TOL = 1e-4
"""Tolerance of the memorised check's relaxation (that of the recall tests)."""
MEMORISED_LEVEL = 0.01
"""A unit keeps its sign in the memorised check when xi_i v_i exceeds this. Without it a network
too weak to hold the pattern would pass: from the pattern its state decays towards the origin,
and the relaxation stops (|dv/dt| = |v| <= tol) with the signs still those of the pattern; such
units end near tol, far below this level, while a held unit sits at order 1."""
MEMORISED_TIME = 20.0
"""Longest relaxation of the memorised check, in time constants (80 Euler steps of EP's 0.25).
Measured on letters16 (EP, 2 epochs): the check of a sparse network that cannot hold its
patterns took about 170 steps to converge elsewhere, 64 % of the training time."""

COMPACT_FROM = 8
"""Stacks of at least this many configurations drop finished ones from the working set once they
are half of it (``compact=0.5``); smaller stacks never re-index (``compact=1``). Both record each
configuration at its own first convergence, so the weights are bit-identical either way; only the
cost differs. Measured on 2 cores (1 thread, float64, 20-30 epochs): compact=0.5 took 0.92x the
time of compact=1 for EP's stack of 10, 0.77x for RBP's 27, 0.80x for the device study's 18 in
situ, and 1.15-1.4x for the quick stacks of 3 and 4 (re-indexing costs more than it saves)."""


def learner(rule: str, cfg: TrainConfig, configurations: int = 1):
    """The study's EP or RBP: explicit Euler (the analog network's own dynamics) to ``tol``, each
    configuration's relaxation ending at its own first convergence (so that a configuration trains
    the same whatever else shares its stack; see :data:`COMPACT_FROM` for how finished ones leave),
    no exception on non-convergence (counted in the history instead)."""
    dt = cfg.dt_ep if rule == "ep" else cfg.dt_rbp
    solver = EulerSolver(dt=dt, tol=cfg.tol, max_steps=cfg.max_steps)
    compact = 0.5 if configurations >= COMPACT_FROM else 1.0
    if rule == "ep":
        return EquilibriumPropagation(beta=cfg.beta, estimator=cfg.estimator, solver=solver, compact=compact,
                                      throw=False)
    return RecurrentBackprop(solver=solver, side_solver=solver, y0=cfg.y0, compact=compact, throw=False)


def _sequential_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over the last dimension in order (as an accumulator would), float64."""
    return t.double().cumsum(-1)[..., -1]


def train(patterns: torch.Tensor, W0: torch.Tensor, masks: torch.Tensor, *, rule: str,
          etas: torch.Tensor, cfg: TrainConfig, generator: torch.Generator,
          dtype: torch.dtype | None = None, snapshot_dtype: torch.dtype = torch.float32,
          snapshot_epochs: Sequence[int] = (), snapshot_rows: Sequence[int] | None = None,
          progress: Progress | None = None, stage: str = "",
          row_seeds: Sequence[int] | None = None,
          crossbar: CrossbarConfig | Sequence[CrossbarConfig] | None = None,
          device_seeds: Sequence[int] | None = None,
          presentations: Sequence[str] | None = None) -> Training:
    """Train C configurations of one rule together, online, pattern by pattern.

    Args:
        patterns: (P, N) +-1 patterns, shown in this order every epoch (their device is used).
        W0: (C, N, N) symmetric initial weights (masked here by ``masks``).
        masks: (C, N, N) or (N, N) bool connectivity of each configuration.
        rule: "ep" (energy network) or "rbp" (additive network).
        etas: (C,) learning rate of each configuration.
        cfg: the training settings.
        generator: seeds the random initial states (and corrupted training inputs).
        dtype: training precision (default ``cfg.dtype``).
        snapshot_dtype: precision of the snapshots (that of the recall that tests them).
        snapshot_epochs: epochs after which to keep a copy of W (0 = before training).
        snapshot_rows: configurations to snapshot (default all).
        progress: optional progress bar (one tick per epoch).
        row_seeds: one seed per configuration for its random initial states (uniform in
            [-1, 1]) and, with a corrupted training input, its flips, so that a configuration
            trains to the same weights whatever else shares its stack (a sweep task of one
            configuration equals the study's stacked run). None: all initial states and flips
            come from ``generator``.
        crossbar: train in situ: configuration c's W on a crossbar of this config (or of
            ``crossbar[c]``), symmetric, with its mask; every update ``-eta grad`` is programmed
            as pulses and W[c] becomes one read of the crossbar (two devices per pair make it
            asymmetric: the dynamics then use the hardware's matrix). A configuration on the
            ideal device takes the device-free path (bit-identical to ``crossbar=None``).
        presentations: one presentation (``once``, ``until-memorised``) per configuration;
            default ``cfg.presentation`` for every one.
        device_seeds: one seed per configuration for its crossbar's generator (device
            variation, rounding, write and read noise), apart from the rule's ``generator``;
            default ``DEVICE_SEED_OFFSET + c``.

    Returns:
        :class:`Training`; history keys: loss (mean over patterns of C = 1/2 |T - v*|^2 at the
        free fixed point), update (mean Frobenius norm of the update eta * grad), steps (mean
        free-phase Euler steps), fixed_point_ok (fraction of patterns whose free fixed point has
        the right sign everywhere), not_converged (relaxations that hit max_steps), diverged
        (1 once an update would have made a configuration's weights non-finite, through a
        non-finite gradient or an overflowing step: it is then frozen with its last finite weights;
        :func:`~memprop.experiments.reconstruction.run.train_stack` also flags weights too large
        for the recall dtype).
    """
    choice("rule", rule, TRAINED_RULES)
    dtype = dtype or {"float32": torch.float32, "float64": torch.float64}[cfg.dtype]
    dev = patterns.device
    xi = patterns.to(dtype)
    P, N = xi.shape
    if W0.ndim != 3 or W0.shape[1:] != (N, N):
        raise ConfigError(f"W0 must have shape (C, {N}, {N}), got {tuple(W0.shape)}")
    C = W0.shape[0]
    masks = masks.to(dev).expand(C, N, N).bool()
    if tuple(etas.shape) != (C,):
        raise ConfigError(f"etas must have shape ({C},), got {tuple(etas.shape)}")
    eta = etas.to(device=dev, dtype=dtype).view(C, 1, 1)
    W = (W0.to(device=dev, dtype=dtype) * masks).contiguous()
    net = (EnergyNetwork if rule == "ep" else AdditiveNetwork)(W, mask=masks.clone())
    stack = None
    if crossbar is not None:
        configs = [crossbar] * C if isinstance(crossbar, CrossbarConfig) else list(crossbar)
        seeds = [DEVICE_SEED_OFFSET + c for c in range(C)] if device_seeds is None else list(device_seeds)
        if len(seeds) != C:
            raise ConfigError(f"device_seeds must give one seed per configuration ({C}), got {len(seeds)}")
        stack = CrossbarStack(W, configs, mask=masks, symmetric=True,
                              generators=[torch.Generator().manual_seed(int(q)) for q in seeds])
        net.place("W", stack)
    rule_obj = learner(rule, cfg, C)
    rows = list(range(C)) if snapshot_rows is None else list(snapshot_rows)
    wanted = set(snapshot_epochs)
    snaps: dict[int, torch.Tensor] = {}
    if 0 in wanted:
        snaps[0] = net.W[rows].to(snapshot_dtype).clone()
    keys = ("loss", "update", "steps", "fixed_point_ok", "not_converged", "presentations", "capped")
    hist = {k: torch.zeros(C, cfg.epochs, dtype=torch.float64, device=dev) for k in keys}
    hist["presentations"].fill_(1.0)  # once: one presentation (one update) per pattern
    alive = torch.ones(C, dtype=torch.bool, device=dev)
    if row_seeds is not None and len(row_seeds) != C:
        raise ConfigError(f"row_seeds must give one seed per configuration ({C}), got {len(row_seeds)}")
    row_gens = None if row_seeds is None else [torch.Generator().manual_seed(int(q)) for q in row_seeds]
    T = xi.expand(C, P, N)
    pres = [cfg.presentation] * C if presentations is None else list(presentations)
    if len(pres) != C:
        raise ConfigError(f"presentations must give one per configuration ({C}), got {len(pres)}")
    for i, q in enumerate(pres):
        choice(f"presentations[{i}]", q, PRESENTATIONS)
    caps = None  # every configuration once: the whole epoch in one call
    if any(q != "once" for q in pres):
        caps = torch.tensor([1 if q == "once" else cfg.max_presentations for q in pres], device=dev)
    work = Workspace()
    t0 = time.perf_counter()
    if progress is not None:
        progress.start(stage or f"train {rule} ({C} configurations)", cfg.epochs)
    for epoch in range(cfg.epochs):
        v0 = None
        if row_gens is not None:  # this epoch's initial states, drawn per configuration: (C, P, N)
            v0 = torch.stack([torch.rand(P, N, generator=gc, dtype=torch.float64) for gc in row_gens])
            v0 = (2.0 * v0 - 1.0).to(device=dev, dtype=dtype)
        if cfg.training_input == "clean":
            x = T
        elif row_gens is None:
            x = corrupt(T, cfg.training_p, generator=generator)
        else:  # each configuration's flips from its own stream (after its v(0)), as its states
            x = torch.stack([corrupt(xi, cfg.training_p, generator=gc) for gc in row_gens])
        if caps is None:
            res = train_epoch(net, rule_obj, x, T, lr=eta, batch_size=1, s0=v0, generator=generator,
                              alive=alive, keep_free=True, record_norms=True, workspace=work)
            v, update_norm, steps = res.free, res.update_norm, res.steps  # v: (C, P, N) free fixed points
            converged = res.converged
        else:
            v, update_norm, steps, converged, shown, capped = _until_memorised(
                net, rule_obj, x, T, eta, v0, row_gens, alive, caps, cfg, generator, work)
            hist["presentations"][:, epoch] = shown.double().sum(-1) / P
            hist["capped"][:, epoch] = capped.double().sum(-1)
        hist["loss"][:, epoch] = _sequential_sum(0.5 * (T - v).square().sum(-1)) / P
        hist["update"][:, epoch] = _sequential_sum(update_norm) / P
        hist["steps"][:, epoch] = _sequential_sum(steps) / P
        hist["fixed_point_ok"][:, epoch] = _sequential_sum((torch.sign(v) == T).all(-1)) / P
        hist["not_converged"][:, epoch] = (~converged).sum(-1).double()
        if epoch + 1 in wanted:
            snaps[epoch + 1] = net.W[rows].to(snapshot_dtype).clone()
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.finish()
    hist["diverged"] = (~alive).to(torch.float64)[:, None].expand(C, max(cfg.epochs, 1)).clone()
    return Training(W=net.W.detach().clone(), snapshots=snaps, history=hist,
                    seconds=time.perf_counter() - t0, counters=None if stack is None else stack.counters())


def memorised(net, patterns: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """(C, B) whether each configuration holds each pattern: relaxed from the clean pattern with
    I = 0 (the test protocol ``initial`` without corruption) it keeps every sign, each unit more
    than ``MEMORISED_LEVEL`` from zero. ``patterns``:
    (C, B, N). Euler with the training step, to ``MEMORISED_TOL`` or for at most
    ``MEMORISED_TIME`` time constants: a held pattern converges within a few, and a pattern that
    is not held has drifted away by then (judged by its signs at that time)."""
    dt = cfg.dt_ep if isinstance(net, EnergyNetwork) else cfg.dt_rbp
    solver = EulerSolver(dt=dt, tol=max(cfg.tol, MEMORISED_TOL), max_steps=math.ceil(MEMORISED_TIME / dt))
    eq = relax(net, solver, patterns.clone(), None, throw=False, validate=False)
    return (patterns * eq.state > MEMORISED_LEVEL).all(-1)


def _until_memorised(net, rule_obj, x, T, eta, v0, row_gens, alive, caps, cfg: TrainConfig, generator, work):
    """One epoch of presentation ``until-memorised`` (see :class:`TrainConfig`): pattern by
    pattern, every configuration that has not memorised it yet gets another presentation (a fresh
    random v(0) from its own stream, one update), up to its cap ``caps[c]`` (1: ``once``).

    Repeated presentations train only the configurations still learning: with exact weights as a
    smaller stack (their rows of W, written back after the update), on hardware by a zero update
    of the others (a crossbar stack is programmed whole). Either way a configuration's numbers do
    not depend on what else is in the stack.

    Returns the first presentation's free states, update norms, steps and convergence flags (as
    ``once`` records them), the presentations of every (configuration, pattern) (C, P) and
    whether each hit the cap."""
    C, P, N = T.shape
    dev, dtype = T.device, T.dtype
    exact = net.holder("W") is None
    free = torch.empty(C, P, N, dtype=dtype, device=dev)
    norms = torch.zeros(C, P, dtype=dtype, device=dev)
    steps = torch.zeros(C, P, dtype=torch.long, device=dev)
    conv = torch.zeros(C, P, dtype=torch.bool, device=dev)
    shown = torch.zeros(C, P, dtype=torch.long, device=dev)
    capped = torch.zeros(C, P, dtype=torch.bool, device=dev)
    for mu in range(P):  # patterns in order (the protocol is sequential)
        active = alive.clone()
        for k in range(int(caps.max())):  # presentations of pattern mu
            idx = active.nonzero().flatten()
            sub = exact and k > 0 and len(idx) < C
            rows = idx if sub else torch.arange(C, device=dev)
            s0 = None if v0 is None else v0[:, mu:mu + 1]
            if k > 0 and row_gens is not None:  # a fresh v(0) per configuration still learning
                s0 = torch.zeros(len(rows), 1, N, dtype=dtype, device=dev)
                for j, c in enumerate(rows.tolist()):  # configurations, not units
                    if bool(active[c]):
                        s0[j] = (2.0 * torch.rand(1, N, generator=row_gens[c], dtype=torch.float64) - 1.0).to(dev, dtype)
            elif k > 0:
                s0 = None
            gate = (alive & active)[rows]
            trainee = type(net)(net.W[rows], mask=net.mask[rows]) if sub else net
            lr = eta[rows] if sub else eta
            res = train_epoch(trainee, rule_obj, x[rows, mu:mu + 1], T[rows, mu:mu + 1], lr=lr, batch_size=1,
                              s0=s0, generator=generator, alive=gate, keep_free=True, record_norms=True,
                              workspace=None if sub else work)
            if sub:
                net.W[rows] = trainee.W.detach()
            alive[rows] &= gate | ~active[rows]  # a non-finite gradient froze a configuration for good
            shown[rows, mu] += active[rows].long()
            if k == 0:
                free[:, mu] = res.free[:, 0]
                norms[:, mu] = res.update_norm[:, 0]
                steps[:, mu] = res.steps[:, 0]
                conv[:, mu] = res.converged[:, 0]
            active &= caps > 1  # once: done after one presentation
            if not bool(active.any()):
                break
            active &= alive
            check = active[rows].nonzero().flatten()  # only configurations still learning are checked
            if len(check) < len(rows):
                held = memorised(trainee.take(check), T[rows[check], mu:mu + 1], cfg)
            else:
                held = memorised(trainee, T[rows, mu:mu + 1], cfg)
            active[rows[check]] &= ~held[:, 0]
            capped[:, mu] |= active & (caps <= k + 1)  # shown as often as allowed, still not held
            active &= caps > k + 1
            if not bool(active.any()):
                break
    return free, norms, steps, conv, shown, capped


def program_stored(W: torch.Tensor, masks: torch.Tensor, crossbar: CrossbarConfig, *,
                   device_seeds: Sequence[int] | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Write stored weights W (C, N, N) (Hebbian, Storkey) into crossbars that start at W = 0:
    one programming step per configuration (the whole matrix as pulses), then one read.

    Returns the weights the hardware holds (W's dtype) and each crossbar's counters. The ideal
    device returns W unchanged (no pulses).
    """
    C, N = W.shape[0], W.shape[-1]
    m = masks.to(W.device).expand(C, N, N)
    seeds = [DEVICE_SEED_OFFSET + c for c in range(C)] if device_seeds is None else list(device_seeds)
    out, counters = W.clone(), []
    with torch.no_grad():
        for c in range(C):  # loop over configurations (one crossbar each)
            Wc = W[c].to(torch.float64)
            xb = Crossbar(torch.zeros_like(Wc), crossbar, mask=m[c] != 0,
                          symmetric=bool(torch.equal(Wc, Wc.T)),
                          generator=torch.Generator().manual_seed(int(seeds[c])))
            if not crossbar.ideal:
                xb.program(Wc)
                out[c] = xb.weight.to(W.dtype)
            counters.append(xb.counters())
    return out, counters


def store(patterns: torch.Tensor, masks: torch.Tensor, *, rule: str,
          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Hebbian or Storkey weights for every configuration's mask: (C, N, N) of ``dtype``
    (computed in float64).

    Storkey's rule is applied pattern by pattern (sequential by definition), each step
    vectorised over units and configurations, and masked after every pattern so that the local
    fields h_ij of the next pattern use the configuration's own synapses only.
    """
    choice("rule", rule, STORED_RULES)
    xi = patterns.to(torch.float64)
    P, N = xi.shape
    m = masks.to(device=xi.device, dtype=torch.float64)
    C = m.shape[0] if m.ndim == 3 else 1
    m = m.expand(C, N, N)
    W = torch.zeros(C, N, N, dtype=torch.float64, device=xi.device)
    net = HopfieldNetwork(W, mask=full_mask(N, device=xi.device))
    if rule == "hebbian":
        grad = Hebbian().gradients(net, None, xi.expand(C, P, N))["W"]
        return (-grad * m).to(dtype)
    learner_ = Storkey()
    for mu in range(P):  # Storkey (1997) is sequential over patterns
        grad = learner_.gradients(net, None, xi[mu].expand(C, 1, N))["W"]
        W.sub_(grad * m)
    return W.to(dtype)
