r"""Batched online training and batched recall for the pattern-reconstruction study.

Training (Zoppo et al. 2020, "Pattern reconstruction"): every pattern :math:`\xi^\mu` is shown,
in a fixed order, as the constant input :math:`I = \xi^\mu` (or a corrupted copy of it) with
target :math:`T = \xi^\mu`; the state starts at random (uniform in [-1, 1]); the network relaxes
and one online update :math:`W \leftarrow W - \eta\, \widehat{\partial J / \partial W}` follows,
with the gradient estimated by equilibrium propagation (energy model, Eq. 12-19) or recurrent
backpropagation (additive model, Eq. 3-11; side state reset to y(0) = 0.5). The updates are
sequential over patterns, as in the paper; what runs in parallel is the *configurations*: C
weight matrices (different connectivities K, learning rates, seeds) stacked as one (C, N, N)
tensor see the same pattern at the same time, and each relaxation is one batched solve.

Per-configuration connectivity: the networks hold the all-to-all mask (no self-connections) and
the band mask of each configuration multiplies its gradient, so that every W stays exactly zero
outside its band. (Off-band weights are zero, so the in-band gradient is the one of the banded
network.)

Recall: a trained network relaxes from (protocol ``initial``) the corrupted pattern with I = 0,
or (protocol ``input``) a random state with the corrupted pattern as constant input I; a
pattern is reconstructed when every pixel of sign(v*) equals the original. Hebbian and Storkey
networks recall with synchronous sign dynamics (:class:`~memprop.networks.HopfieldNetwork`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .._validate import choice, in_range, positive, positive_int
from ..crossbar import Crossbar, CrossbarConfig
from ..data import corrupt
from ..errors import ConfigError, ConvergenceError
from ..learning import EquilibriumPropagation, Hebbian, RecurrentBackprop, Storkey
from ..learning.ep import ESTIMATORS
from ..networks import AdditiveNetwork, EnergyNetwork, HopfieldNetwork, Tanh, full_mask
from ..solvers import AbstractEquilibriumSolver, Equilibrium
from .io import Progress

TRAINED_RULES = ("ep", "rbp")
"""Rules trained by gradient estimates (the others, hebbian and storkey, store patterns)."""
STORED_RULES = ("hebbian", "storkey")
PROTOCOLS = ("initial", "input")
"""Test clamping: corrupted pattern as v(0) with I = 0, or as the constant input I."""
TRAINING_INPUTS = ("clean", "corrupted")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


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

    def __post_init__(self):
        positive_int("epochs", self.epochs, minimum=0)
        positive("init_scale", self.init_scale)
        positive("beta", self.beta)
        choice("estimator", self.estimator, ESTIMATORS)
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
# A lean Euler solver for small batches


@dataclass(frozen=True, kw_only=True, slots=True)
class SmallBatchEuler(AbstractEquilibriumSolver):
    r"""Explicit Euler s <- s + dt f(s) for the (C, 1, N) states of online training. Final.

    The iteration of :class:`~memprop.solvers.EulerSolver` on networks without a projection
    (additive, energy), run until *every* element's residual max_i |f_i| is <= tol: an element
    that converged early keeps relaxing with the others, which only brings it closer to its
    fixed point (the tests check that both solvers reach the same states). ``steps`` counts,
    per element, the steps taken while it had not converged.

    It overrides ``solve`` (a deliberate exception to "override only abstract methods"): with
    C x 1 x N states every tensor is tiny and the time per step is the number of tensor
    operations; the general loop's row compaction and bookkeeping take about 23 per step, this
    loop 10, which made a training update 1.8x faster (measured on 3 configurations).
    """

    dt: float = 0.5
    """Time step (in units of the neurons' time constant)."""
    tol: float = 1e-6
    max_steps: int = 20_000

    def __post_init__(self):
        positive("dt", self.dt)
        self._check()

    def step(self, network, s, d, beta, target, carry, it):
        f = network.vector_field(s, d, beta=beta, target=target)
        return s + self.dt * f, f.abs().amax(-1)

    def solve(self, network, s0, d, *, beta=0.0, target=None, throw=True) -> Equilibrium:
        s = s0.clone()
        steps = torch.zeros(s.shape[:-1], dtype=torch.long, device=s.device)
        for it in range(self.max_steps + 1):
            f = network.vector_field(s, d, beta=beta, target=target)
            r = f.abs().amax(-1)
            worst = float(r.max())  # NaN propagates: a non-finite state stops the loop
            if worst <= self.tol or not math.isfinite(worst) or it == self.max_steps:
                break
            steps += r > self.tol
            s = torch.add(s, f, alpha=self.dt)
        converged = r <= self.tol
        if throw and not bool(converged.all()):
            bad = ~converged
            worst = float(r[bad].nan_to_num(float("inf")).max())
            raise ConvergenceError(
                f"SmallBatchEuler did not converge for {int(bad.sum())} of {bad.numel()} elements: worst "
                f"residual {worst:.3g} > tol {self.tol:g} after {int(steps[bad].max())} steps "
                f"(max_steps={self.max_steps}). Raise max_steps, reduce dt, or pass throw=False.",
                residual=worst, steps=int(steps[bad].max()))
        return Equilibrium(s, steps, r, converged)


# --------------------------------------------------------------------------------------------
# Training


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


def _learner(rule: str, cfg: TrainConfig):
    dt = cfg.dt_ep if rule == "ep" else cfg.dt_rbp
    solver = SmallBatchEuler(dt=dt, tol=cfg.tol, max_steps=cfg.max_steps)
    if rule == "ep":
        return EquilibriumPropagation(beta=cfg.beta, estimator=cfg.estimator, solver=solver, throw=False)
    return RecurrentBackprop(solver=solver, side_solver=solver, y0=cfg.y0, throw=False)


def train(patterns: torch.Tensor, W0: torch.Tensor, masks: torch.Tensor, *, rule: str,
          etas: torch.Tensor, cfg: TrainConfig, generator: torch.Generator,
          snapshot_epochs: Sequence[int] = (), snapshot_rows: Sequence[int] | None = None,
          progress: Progress | None = None, stage: str = "",
          row_seeds: Sequence[int] | None = None,
          crossbar: CrossbarConfig | Sequence[CrossbarConfig] | None = None,
          device_seeds: Sequence[int] | None = None) -> Training:
    """Train C configurations of one rule together, online, pattern by pattern.

    Args:
        patterns: (P, N) +-1 patterns, shown in this order every epoch.
        W0: (C, N, N) symmetric initial weights (masked here by ``masks``).
        masks: (C, N, N) or (N, N) bool connectivity of each configuration.
        rule: "ep" (energy network) or "rbp" (additive network).
        etas: (C,) learning rate of each configuration.
        cfg: the training settings.
        generator: seeds the random initial states (and corrupted training inputs).
        snapshot_epochs: epochs after which to keep a copy of W (0 = before training).
        snapshot_rows: configurations to snapshot (default all).
        progress: optional progress bar (one tick per epoch).
        row_seeds: one seed per configuration for its random initial states (uniform in
            [-1, 1]), so that a configuration trains to the same weights whatever else shares
            its stack (a sweep task of one configuration equals the study's stacked run). None:
            all initial states come from ``generator``.
        crossbar: train in situ: configuration c's W on a crossbar of this config (or of
            ``crossbar[c]``, one config per configuration), symmetric, with its mask; after every
            pattern its update ``-eta grad`` is programmed as pulses and W[c] becomes one read of
            the crossbar (two devices per pair make it asymmetric: the dynamics then use the
            hardware's matrix). A configuration on the ideal device takes the device-free path
            (bit-identical to ``crossbar=None``). None: no devices.
        device_seeds: one seed per configuration for its crossbar's generator (device
            variation, rounding, write and read noise), apart from the rule's ``generator``;
            default ``DEVICE_SEED_OFFSET + c``.

    Returns:
        :class:`Training`; history keys: loss (mean over patterns of C = 1/2 |T - v*|^2 at the
        free fixed point), update (mean Frobenius norm of the update eta * grad), steps (mean
        free-phase Euler steps), fixed_point_ok (fraction of patterns whose free fixed point has
        the right sign everywhere), not_converged (relaxations that hit max_steps), diverged
        (1 once a configuration produced a non-finite gradient: it is then frozen).
    """
    import time

    choice("rule", rule, TRAINED_RULES)
    dtype = DTYPES[cfg.dtype]
    xi = patterns.to(dtype)
    P, N = xi.shape
    if W0.ndim != 3 or W0.shape[1:] != (N, N):
        raise ConfigError(f"W0 must have shape (C, {N}, {N}), got {tuple(W0.shape)}")
    C = W0.shape[0]
    masks = masks.expand(C, N, N).to(dtype)
    if tuple(etas.shape) != (C,):
        raise ConfigError(f"etas must have shape ({C},), got {tuple(etas.shape)}")
    eta = etas.to(dtype).view(C, 1, 1)
    W = (W0.to(dtype) * masks).contiguous()
    net_cls = EnergyNetwork if rule == "ep" else AdditiveNetwork
    net = net_cls(W, mask=full_mask(N))
    learner = _learner(rule, cfg)
    xbars = _crossbars(W, masks, crossbar, device_seeds)
    programmed = [] if xbars is None else [c for c, xb in enumerate(xbars) if not xb.config.ideal]
    rows = list(range(C)) if snapshot_rows is None else list(snapshot_rows)
    wanted = set(snapshot_epochs)
    snaps: dict[int, torch.Tensor] = {}
    if 0 in wanted:
        snaps[0] = W[rows].to(torch.float32).clone()
    keys = ("loss", "update", "steps", "fixed_point_ok", "not_converged")
    hist = {k: torch.zeros(C, cfg.epochs, dtype=torch.float64) for k in keys}
    alive = torch.ones(C, dtype=torch.bool)
    if row_seeds is not None and len(row_seeds) != C:
        raise ConfigError(f"row_seeds must give one seed per configuration ({C}), got {len(row_seeds)}")
    row_gens = None if row_seeds is None else [torch.Generator().manual_seed(int(q)) for q in row_seeds]
    t0 = time.perf_counter()
    if progress is not None:
        progress.start(stage or f"train {rule} ({C} configurations)", cfg.epochs)
    for epoch in range(cfg.epochs):
        acc = {k: torch.zeros(C, dtype=torch.float64) for k in keys}
        v0 = None
        if row_gens is not None:  # this epoch's initial states, drawn per configuration: (C, P, N)
            v0 = torch.stack([torch.rand(P, N, generator=gc, dtype=torch.float64) for gc in row_gens])
            v0 = (2.0 * v0 - 1.0).to(dtype)
        for mu in range(P):  # online: sequential over patterns, by definition of the protocol
            T = xi[mu].expand(C, 1, N)  # (C, 1, N)
            x = T if cfg.training_input == "clean" else corrupt(T, cfg.training_p, generator=generator)
            s0 = None if v0 is None else v0[:, mu:mu + 1, :]  # (C, 1, N)
            est = learner.estimate(net, x, T, s0=s0, generator=generator)
            grad = est.grads["W"] * masks  # (C, N, N), zero off each configuration's band
            finite = torch.isfinite(grad).flatten(1).all(1)
            alive &= finite
            step = torch.where(alive.view(C, 1, 1), eta * grad.nan_to_num(0.0), 0.0)
            W.sub_(step)
            for c in programmed:  # in situ: loop over the configurations on non-ideal devices
                xbars[c].program(-step[c])
                W[c].copy_(xbars[c].read())
            v = est.free.state  # (C, 1, N)
            acc["loss"] += (0.5 * (T - v).square().sum(-1))[:, 0]
            acc["update"] += step.flatten(1).norm(dim=1)
            acc["steps"] += est.free.steps[:, 0].to(torch.float64)
            acc["fixed_point_ok"] += (torch.sign(v) == T).all(-1)[:, 0].to(torch.float64)
            acc["not_converged"] += (~est.free.converged[:, 0]).to(torch.float64)
        for k in keys:
            hist[k][:, epoch] = acc[k] if k == "not_converged" else acc[k] / P
        if epoch + 1 in wanted:
            snaps[epoch + 1] = W[rows].to(torch.float32).clone()
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.finish()
    hist["diverged"] = (~alive).to(torch.float64)[:, None].expand(C, max(cfg.epochs, 1)).clone()
    counters = None if xbars is None else [xb.counters() for xb in xbars]
    return Training(W=W, snapshots=snaps, history=hist, seconds=time.perf_counter() - t0, counters=counters)


DEVICE_SEED_OFFSET = 7919
"""Default seed offset of the crossbars' generators (apart from the rule's stream, so that an
ideal device leaves every random stream of the run as it is without devices)."""


def _crossbars(W: torch.Tensor, masks: torch.Tensor, crossbar, device_seeds) -> list[Crossbar] | None:
    """One crossbar per configuration of the (C, N, N) stack W (None without devices); W[c] then
    holds the hardware's initial weights (in place). An ideal crossbar holds W[c] itself (a view),
    so the exact in-place updates of :func:`train` are its writes."""
    if crossbar is None:
        return None
    C = W.shape[0]
    configs = [crossbar] * C if isinstance(crossbar, CrossbarConfig) else list(crossbar)
    if len(configs) != C:
        raise ConfigError(f"crossbar must be one CrossbarConfig or one per configuration ({C}), got {len(configs)}")
    seeds = [DEVICE_SEED_OFFSET + c for c in range(C)] if device_seeds is None else list(device_seeds)
    if len(seeds) != C:
        raise ConfigError(f"device_seeds must give one seed per configuration ({C}), got {len(seeds)}")
    out = []
    with torch.no_grad():
        for c, xcfg in enumerate(configs):  # loop over configurations (one crossbar each)
            xb = Crossbar(W[c], xcfg, mask=masks[c] != 0, symmetric=True,
                          generator=torch.Generator().manual_seed(int(seeds[c])))
            if xcfg.ideal:
                xb.register_buffer("w", W[c])
            else:
                W[c].copy_(xb.read())
            out.append(xb)
    return out


def program_stored(W: torch.Tensor, masks: torch.Tensor, crossbar: CrossbarConfig, *,
                   device_seeds: Sequence[int] | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Write stored weights W (C, N, N) (Hebbian, Storkey) into crossbars that start at W = 0:
    one programming step per configuration (the whole matrix as pulses), then one read.

    Returns the weights the hardware holds (W's dtype) and each crossbar's counters. The ideal
    device returns W unchanged (no pulses).
    """
    C, N = W.shape[0], W.shape[-1]
    m = masks.expand(C, N, N)
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
                out[c] = xb.read().to(W.dtype)
            counters.append(xb.counters())
    return out, counters


def store(patterns: torch.Tensor, masks: torch.Tensor, *, rule: str) -> torch.Tensor:
    """Hebbian or Storkey weights for every configuration's mask: (C, N, N) float32.

    Storkey's rule is applied pattern by pattern (sequential by definition), each step
    vectorised over units and configurations, and masked after every pattern so that the local
    fields h_ij of the next pattern use the configuration's own synapses only.
    """
    choice("rule", rule, STORED_RULES)
    xi = patterns.to(torch.float64)
    P, N = xi.shape
    m = masks.to(torch.float64)
    C = m.shape[0] if m.ndim == 3 else 1
    m = m.expand(C, N, N)
    W = torch.zeros(C, N, N, dtype=torch.float64)
    net = HopfieldNetwork(W, mask=full_mask(N))
    if rule == "hebbian":
        grad = Hebbian().gradients(net, None, xi.expand(C, P, N))["W"]
        return (-grad * m).to(torch.float32)
    learner = Storkey()
    for mu in range(P):  # Storkey (1997) is sequential over patterns
        grad = learner.gradients(net, None, xi[mu].expand(C, 1, N))["W"]
        W.sub_(grad * m)
    return W.to(torch.float32)


# --------------------------------------------------------------------------------------------
# Recall


def _network(kind: str, W: torch.Tensor):
    """The recall network for weights W (N, N) of a rule: energy (ep), additive (rbp), sign."""
    N = W.shape[-1]
    if kind == "ep":
        return EnergyNetwork(W, mask=full_mask(N))
    if kind == "rbp":
        return AdditiveNetwork(W, mask=full_mask(N))
    return HopfieldNetwork(W, mask=full_mask(N))


def _fused_field(network):
    """The network's vector field as a function f(s, d) computed with in-place operations, for
    the two models recalled by the million (additive and energy with tanh, unbatched weights);
    ``network.vector_field`` for any other network. ``d`` is None for a zero drive. The tests
    check both against ``network.vector_field``."""
    if not (isinstance(network, (AdditiveNetwork, EnergyNetwork)) and isinstance(network.activation, Tanh)
            and network.W.ndim == 2):
        return lambda s, d: network.vector_field(s, network.W.new_zeros(()) if d is None else d)
    Wt = network.W.T.contiguous()
    if isinstance(network, AdditiveNetwork):
        def field(s, d):  # Eq. (3): tanh(W v + I) - v
            h = torch.mm(s, Wt)
            if d is not None:
                h += d
            return torch.tanh_(h).sub_(s)
        return field

    def field(s, d):  # Eq. (13): g'(v) (W g(v) + I) - v with g = tanh, g' = 1 - g^2
        g = torch.tanh(s)
        h = torch.mm(g, Wt)
        if d is not None:
            h += d
        return g.mul_(g).neg_().add_(1.0).mul_(h).sub_(s)
    return field


def relax_rows(network, s: torch.Tensor, d: torch.Tensor | None, *, dt: float, tol: float,
               max_steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Explicit Euler s <- s + dt f(s) on independent rows (B, N), each stopping on its own.

    Computes what ``relax(network, EulerSolver(dt, tol, max_steps), s, drive=d, throw=False)``
    computes (the tests check it): a row's result is its first state with max_i |f_i| <= tol
    (or the state where it became non-finite, or the last one). For speed, in the millions of
    test relaxations of Figure 2: the field is computed in place (:func:`_fused_field`), and
    finished rows are recorded at once but removed from the working set only once they are an
    eighth of it (until then they keep relaxing, harmlessly); 1.4x faster than the general
    solver's loop.

    Args:
        network: an unbatched network (weights (N, N)).
        s: (B, N) initial states.
        d: (B, N) drive, or None for a zero drive (I = 0).

    Returns:
        (state (B, N), steps (B,), converged (B,)).
    """
    field = _fused_field(network)
    B = s.shape[0]
    state = s.clone()
    steps = torch.full((B,), max_steps, dtype=torch.long)
    converged = torch.zeros(B, dtype=torch.bool)
    rows = torch.arange(B)
    s = s.clone()
    finished = torch.zeros(B, dtype=torch.bool)  # recorded, still in the working set
    for it in range(max_steps + 1):
        f = field(s, d)
        r = f.abs().amax(-1)
        ok = r <= tol
        new = (ok | ~torch.isfinite(r)) & ~finished
        if bool(new.any()):
            idx = rows[new]
            state[idx] = s[new]
            steps[idx] = it
            converged[idx] = ok[new]
            finished |= new
            if 8 * int(finished.sum()) >= rows.numel():
                keep = ~finished
                rows, s, f, finished = rows[keep], s[keep], f[keep], finished[keep]
                if d is not None:
                    d = d[keep]
                if rows.numel() == 0:
                    break
        if it == max_steps:
            break
        s.add_(f, alpha=dt)
    left = ~finished
    if bool(left.any()):
        state[rows[left]] = s[left]
    return state, steps, converged


def sign_rows(W: torch.Tensor, s: torch.Tensor, d: torch.Tensor | None, *,
              max_steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synchronous sign recall s <- sign(W s + I) (a unit with zero field keeps its state) on
    independent rows (B, N), each stopping on its own.

    Computes what ``relax(HopfieldNetwork(W), FixedPointIteration(damping=1, max_steps),
    s, drive=d, throw=False)`` computes (the tests check it): a row converges at a fixed point;
    otherwise its state after ``max_steps`` updates is judged. Symmetric W makes every orbit end
    in a fixed point or a 2-cycle (Goles et al. 1985), so a row whose new state equals the one
    two steps back is finished too: its state after ``max_steps`` updates is one of the two, by
    parity. That ends the 2-cycles (12-50 % of the Storkey recalls on the letters) in three
    updates instead of ``max_steps``.

    Returns:
        (state (B, N), steps (B,), converged (B,)): steps = ``max_steps`` for rows that did not
        reach a fixed point, as the general solver reports them.
    """
    Wt = W.T.contiguous()
    B = s.shape[0]
    state = s.clone()
    steps = torch.full((B,), max_steps, dtype=torch.long)
    converged = torch.zeros(B, dtype=torch.bool)
    rows = torch.arange(B)
    prev = None
    for it in range(max_steps):
        h = torch.mm(s, Wt)
        if d is not None:
            h += d
        new = torch.where(h == 0, s, torch.sign(h))
        fixed = (new == s).all(-1)
        cycle = (new == prev).all(-1) & ~fixed if prev is not None else torch.zeros_like(fixed)
        stop = fixed | cycle
        if bool(stop.any()):
            idx = rows[fixed]
            state[idx] = s[fixed]
            steps[idx] = it
            converged[idx] = True
            # 2-cycle new == prev != s: after max_steps updates the state is s if the number of
            # updates still to come, max_steps - it, is even, else new
            idx = rows[cycle]
            state[idx] = s[cycle] if (max_steps - it) % 2 == 0 else new[cycle]
            keep = ~stop
            rows, s, new = rows[keep], s[keep], new[keep]
            if d is not None:
                d = d[keep]
            if rows.numel() == 0:
                break
        prev, s = s, new
    if rows.numel():
        state[rows] = s
    return state, steps, converged


def recall(kind: str, W: torch.Tensor, corrupted: torch.Tensor, originals: torch.Tensor, *,
           cfg: RecallConfig, generator: torch.Generator | None = None,
           keep_states: bool = False) -> dict[str, torch.Tensor]:
    """Relax C networks from M corrupted patterns each and judge the reconstructions.

    Each configuration relaxes its M test patterns in chunks of rows (B, N) (:func:`relax_rows`
    for EP and RBP, :func:`sign_rows` for Hebbian and Storkey), and a row leaves the working set
    as soon as it has converged, so the cost follows each pattern's own convergence time rather
    than the slowest pattern's (measured 6x faster on Figure 2's workload than stacking the
    configurations as (C, M, N), where a configuration runs until its last pattern converged).

    Args:
        kind: the rule whose dynamics recall: "ep" (energy model), "rbp" (additive model),
            "hebbian" or "storkey" (synchronous sign dynamics).
        W: (C, N, N) weights.
        corrupted: (M, N) test inputs (+-1).
        originals: (M, N) the pattern each test input came from.
        cfg: the recall settings (protocol, solver, chunk).
        generator: seeds the random initial states of protocol ``input``.
        keep_states: also return the final states (C, M, N) (for Figure 4).

    Returns:
        ``correct`` (C, M) bool, ``converged`` (C, M) bool, ``steps`` (C, M) int64, and
        ``states`` (C, M, N) float32 with ``keep_states``.
    """
    choice("kind", kind, TRAINED_RULES + STORED_RULES)
    C, M = W.shape[0], corrupted.shape[0]
    N = W.shape[-1]
    dtype = torch.float32
    x_all = corrupted.to(dtype)
    t_all = originals.to(dtype)
    out = {
        "correct": torch.zeros(C, M, dtype=torch.bool),
        "converged": torch.zeros(C, M, dtype=torch.bool),
        "steps": torch.zeros(C, M, dtype=torch.long),
    }
    if keep_states:
        out["states"] = torch.zeros(C, M, N, dtype=dtype)
    dt = cfg.dt_ep if kind == "ep" else cfg.dt_rbp
    for c in range(C):  # configurations one by one: each relaxes all its test patterns at once
        net = _network(kind, W[c].to(dtype))
        for a in range(0, M, cfg.chunk):  # chunks of test patterns bound the memory
            x = x_all[a:a + cfg.chunk]
            if cfg.protocol == "initial":  # v(0) = corrupted pattern, I = 0
                s0, d = x, None
            else:  # I = corrupted pattern, v(0) uniform in [-1, 1]
                s0 = net.initial_state(tuple(x.shape[:-1]), generator=generator, dtype=dtype)
                d = x
            if kind in TRAINED_RULES:
                state, steps, conv = relax_rows(net, s0, d, dt=dt, tol=cfg.tol, max_steps=cfg.max_steps)
            else:
                state, steps, conv = sign_rows(net.W, s0, d, max_steps=cfg.sign_steps)
            sl = slice(a, a + x.shape[0])
            out["correct"][c, sl] = (torch.sign(state) == t_all[sl]).all(-1)
            out["converged"][c, sl] = conv
            out["steps"][c, sl] = steps
            if keep_states:
                out["states"][c, sl] = state
    return out
