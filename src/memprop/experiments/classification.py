r"""MNIST classification by equilibrium propagation: the paper's Figure 5 and general runs.

Model: Scellier & Bengio's (2017) layered energy network (:class:`~memprop.networks.LayeredNetwork`,
hard sigmoid, symmetric connections between adjacent layers only), relaxed by Eq. (21),
s <- rho(s - epsilon dF/ds), for a fixed number of iterations (20 free, 4 nudged with one
hidden layer) and trained by EP, Eq. (19) with the 1/beta the paper's beta = 1 hides:

.. math::
    \Delta W_k = \frac{\alpha_k}{\beta}\,\big\langle \rho(s_k^\beta)^\top \rho(s_{k+1}^\beta)
        - \rho(s_k^0)^\top \rho(s_{k+1}^0) \big\rangle_{\text{minibatch}}, \qquad
    \Delta b_{k+1} = \frac{\alpha_k}{\beta}\,\big\langle \rho(s_{k+1}^\beta) - \rho(s_{k+1}^0) \big\rangle

(s_0 = x the clamped input). This is exactly -alpha_k times the gradient estimate of
:class:`~memprop.learning.EquilibriumPropagation` for W_k and b_{k+1}, so alpha_k is Scellier
& Bengio's per-layer rate. Estimators: ``one_sided`` (above), ``random_sign`` (the sign of beta
drawn per minibatch, Scellier & Bengio) and ``centred`` (s^{+beta} against s^{-beta}, divided by
2 beta; Laborieux et al. 2021). Schedules: ``halve`` (the paper: the rates halve after every
epoch, or after every ``halve_every`` epochs) and ``constant``. Persistent free-phase states (one
stored state per training digit, the free phase starting from it; Scellier & Bengio's
"persistent particles") are the default.

Speed: one training step is fused here (relaxation by
:class:`~memprop.solvers.fixed.FixedStepRelaxation` into preallocated buffers, input projection
once per minibatch, weights updated in place with one rank-B product per layer), because the
generic ``EquilibriumPropagation.estimate`` + ``sgd_step`` path spends most of its time on
per-step bookkeeping. The tests check that both paths give the same weights.

Evaluation: a digit's class is the index of the largest output unit after ``eval_steps``
iterations of Eq. (21) from the zero state (not from a stored state, so that training and test
digits are treated alike). Every epoch records the error on 100 random training and 100 random
test digits (Figure 5's curves; drawn afresh each epoch from a generator seeded by the run's
seed and the epoch), on the whole training set, on the whole held-out set, and the running
error of the training free phases.

Reference: the same layer sizes as a feed-forward net trained by backpropagation
(:mod:`memprop.learning.backprop`) on the same split, with the same rates, schedule, minibatch
and epochs by default.

Data (:mod:`memprop.data`): the shipped 10,000-digit MNIST subset (sorted by label, so it is
shuffled first), or IDX files. Figure 5's split: digits 0-4, 600 random training digits per
class, and every other digit 0-4 of the subset held out (2,131 digits).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._validate import choice, in_range, nonzero_beta, positive, positive_int
from ..crossbar import Crossbar, CrossbarConfig, crossbars_for, read_weights, run_counters
from ..data import (
    load_builtin_mnist,
    load_mnist_idx,
    parse_classes,
    select_classes,
    split_train_test,
    to_inputs,
)
from ..devices.cli import add_device_options, crossbar_config
from ..errors import ConfigError
from ..learning import sgd_step
from ..learning.backprop import LOSSES, OUTPUTS, Backprop, feedforward
from ..learning.ep import ESTIMATORS
from ..networks.layered import LayeredNetwork
from ..solvers.fixed import FixedStepRelaxation, Workspace, row_blocks
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .io import Progress, save_result, write_csv, write_json

TITLE = "Figure 5: MNIST classification by equilibrium propagation"

SCHEDULES = ("halve", "constant")

# The one table of command-line spellings of the estimators.
ESTIMATOR_NAMES = {"one-sided": "one_sided", "random-sign": "random_sign", "centred": "centred"}

# Scellier & Bengio (2017), Table 1, by number of hidden layers: the per-layer rates alpha_k
# and the free / nudged iteration counts.
SB_SETTINGS: dict[int, tuple[tuple[float, ...], int, int]] = {
    1: ((0.1, 0.05), 20, 4),
    2: ((0.4, 0.1, 0.01), 100, 6),
    3: ((0.128, 0.032, 0.008, 0.002), 500, 8),
}

CHECKPOINT_KIND = "classification-ep"


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


def _opt_positive_int(name: str, value: int | None) -> None:
    if value is not None:
        positive_int(name, value)


@dataclass(frozen=True, kw_only=True, slots=True)
class DataConfig:
    """Which digits, how many, and how they are split."""

    classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Digit classes, in label order (class ``classes[k]`` gets label k); a spec like "0-4" works."""
    per_class: int | None = 600
    """Training digits per class; every other digit of these classes is held out (shipped
    subset) or the IDX test file is the held-out set. None: all of them (the shipped subset is
    then split by ``test_fraction``, stratified)."""
    test_fraction: float = 0.2
    """Held-out fraction when ``per_class`` is None (shipped subset only)."""
    data_dir: str | None = None
    """Directory with the MNIST IDX files (train-* for training, t10k-* held out); None: the
    shipped 10k subset."""
    split_seed: int = 0
    """Seed of the shuffle, the per-class draw and the split."""

    def __post_init__(self):
        object.__setattr__(self, "classes", parse_classes(self.classes))
        if len(self.classes) < 2:
            raise ConfigError(f"classes must hold at least 2 classes to classify, got {self.classes}")
        _opt_positive_int("per_class", self.per_class)
        in_range("test_fraction", self.test_fraction, 0.0, 1.0, closed=False)
        if not isinstance(self.split_seed, int) or isinstance(self.split_seed, bool):
            raise ConfigError(f"split_seed must be an int, got {self.split_seed!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class EPConfig:
    """Equilibrium-propagation training (defaults: the paper's Figure 5 = Scellier & Bengio's net1)."""

    hidden: tuple[int, ...] = (500,)
    """Hidden layer sizes (any number of hidden layers)."""
    epsilon: float = 0.5
    """Step epsilon of Eq. (21) (an inference step, not a learning rate)."""
    free_steps: int | None = None
    """Free-phase iterations; None: Scellier & Bengio's for the depth (20, 100, 500)."""
    nudged_steps: int | None = None
    """Nudged-phase iterations; None: Scellier & Bengio's for the depth (4, 6, 8)."""
    beta: float = 1.0
    """Nudging strength beta (the paper: 1)."""
    estimator: str = "one_sided"
    """``one_sided`` (the paper), ``random_sign`` (Scellier & Bengio) or ``centred``."""
    alphas: tuple[float, ...] | None = None
    """Learning rate alpha_k of W_k and b_{k+1}, one per weight layer; None: Scellier & Bengio's
    for the depth ((0.1, 0.05) with one hidden layer)."""
    schedule: str = "halve"
    """``halve`` (rates halved after every ``halve_every`` epochs; the paper) or ``constant``."""
    halve_every: int = 1
    """Epochs between halvings of the ``halve`` schedule (the paper: 1)."""
    batch_size: int = 20
    """Minibatch size B (Scellier & Bengio: 20)."""
    epochs: int = 25
    """Training epochs (Scellier & Bengio: 25; the paper's Figure 5 does not say)."""
    persistent: bool = True
    """Start each free phase from the digit's stored free state (else from zero)."""
    eval_steps: int = 100
    """Iterations of Eq. (21) from the zero state when classifying (evaluation)."""
    seed: int = 0
    """Seed of the Glorot initialisation, the minibatch order and random signs."""

    def __post_init__(self):
        hidden = tuple(self.hidden)
        if not hidden:
            raise ConfigError("hidden must list at least one hidden layer size, got ()")
        for i, n in enumerate(hidden):
            positive_int(f"hidden[{i}]", n)
        object.__setattr__(self, "hidden", hidden)
        sb = SB_SETTINGS.get(len(hidden))
        for name, idx in (("alphas", 0), ("free_steps", 1), ("nudged_steps", 2)):
            if getattr(self, name) is None:
                if sb is None:
                    raise ConfigError(
                        f"{name} has no default for {len(hidden)} hidden layers (Scellier & Bengio "
                        f"give 1 to 3); set it explicitly"
                    )
                object.__setattr__(self, name, sb[idx])
        alphas = tuple(float(a) for a in self.alphas)
        if len(alphas) != len(hidden) + 1:
            raise ConfigError(
                f"alphas must give one rate per weight layer ({len(hidden) + 1} for hidden={hidden}), "
                f"got {alphas}"
            )
        for i, a in enumerate(alphas):
            positive(f"alphas[{i}]", a)
        object.__setattr__(self, "alphas", alphas)
        positive("epsilon", self.epsilon)
        positive_int("free_steps", self.free_steps)
        positive_int("nudged_steps", self.nudged_steps)
        object.__setattr__(self, "beta", nonzero_beta(self.beta))
        choice("estimator", self.estimator, ESTIMATORS)
        choice("schedule", self.schedule, SCHEDULES)
        positive_int("halve_every", self.halve_every)
        positive_int("batch_size", self.batch_size)
        positive_int("epochs", self.epochs)
        positive_int("eval_steps", self.eval_steps)
        if not isinstance(self.persistent, bool):
            raise ConfigError(f"persistent must be True or False, got {self.persistent!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an int, got {self.seed!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class BackpropConfig:
    """The backpropagation reference (see :mod:`memprop.learning.backprop`)."""

    alphas: tuple[float, ...] = (0.1, 0.05)
    """Learning rate per weight layer (SGD)."""
    schedule: str = "halve"
    halve_every: int = 1
    batch_size: int = 20
    epochs: int = 25
    output: str = "linear"
    """Output function of the feed-forward net: ``linear`` or ``hard_sigmoid``."""
    loss: str = "mse"
    """``mse`` (EP's cost C = 1/2 ||T - y||^2) or ``cross_entropy``."""
    seed: int = 0

    def __post_init__(self):
        alphas = tuple(float(a) for a in self.alphas)
        for i, a in enumerate(alphas):
            positive(f"alphas[{i}]", a)
        object.__setattr__(self, "alphas", alphas)
        choice("schedule", self.schedule, SCHEDULES)
        positive_int("halve_every", self.halve_every)
        positive_int("batch_size", self.batch_size)
        positive_int("epochs", self.epochs)
        choice("output", self.output, OUTPUTS)
        choice("loss", self.loss, LOSSES)

    @classmethod
    def like(cls, ep: EPConfig, **changes: Any) -> BackpropConfig:
        """The reference matched to an EP run: same rates, schedule, minibatch, epochs, seed."""
        base = dict(alphas=ep.alphas, schedule=ep.schedule, halve_every=ep.halve_every,
                    batch_size=ep.batch_size, epochs=ep.epochs, seed=ep.seed)
        base.update(changes)
        return cls(**base)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClassificationConfig:
    """A whole run: data, EP training, the backprop reference (or None), evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    ep: EPConfig = field(default_factory=EPConfig)
    backprop: BackpropConfig | None = field(default_factory=BackpropConfig)
    eval_sample: int = 100
    """Random training / test digits per epoch for Figure 5's curves."""
    eval_chunk: int = 1000
    """Digits relaxed at once when evaluating (memory vs. speed only; results do not change)."""

    def __post_init__(self):
        for name, kind in (("data", DataConfig), ("ep", EPConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        if self.backprop is not None:
            if not isinstance(self.backprop, BackpropConfig):
                raise ConfigError(f"backprop must be a BackpropConfig or None, got {type(self.backprop).__name__}")
            if len(self.backprop.alphas) != len(self.ep.alphas):
                raise ConfigError(
                    f"backprop.alphas must give one rate per weight layer ({len(self.ep.alphas)}), "
                    f"got {self.backprop.alphas}"
                )
        positive_int("eval_sample", self.eval_sample)
        positive_int("eval_chunk", self.eval_chunk)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """Inputs (n, 784) float32 in [0, 1] and labels (n,) int64 in 0..n_classes-1."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    source: str

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "n_train": int(self.y_train.shape[0]),
                "n_test": int(self.y_test.shape[0]), "n_classes": self.n_classes,
                "n_inputs": int(self.x_train.shape[1])}


def _per_class_split(images, labels, n_classes, per_class, generator):
    """First ``per_class`` digits of each class (already in random order) train, the rest test."""
    train_idx, test_idx = [], []
    for k in range(n_classes):  # a loop over (at most 10) classes, not over samples
        idx = (labels == k).nonzero().squeeze(1)
        if idx.numel() <= per_class:
            raise ConfigError(
                f"per_class={per_class}: class label {k} has only {idx.numel()} digits, so none "
                f"would be held out; lower per_class"
            )
        train_idx.append(idx[:per_class])
        test_idx.append(idx[per_class:])
    tr, te = torch.cat(train_idx), torch.cat(test_idx)
    tr = tr[torch.randperm(tr.numel(), generator=generator)]
    te = te[torch.randperm(te.numel(), generator=generator)]
    return images[tr], labels[tr], images[te], labels[te]


def load_split(cfg: DataConfig) -> Split:
    """The training and held-out digits of ``cfg`` (seeded, deterministic)."""
    g = torch.Generator().manual_seed(cfg.split_seed)
    n_classes = len(cfg.classes)
    if cfg.data_dir is None:
        images, labels = load_builtin_mnist()
        # select_classes draws in a seeded random order, so the label-sorted subset is shuffled.
        images, labels = select_classes(images, labels, cfg.classes, None, generator=g)
        if cfg.per_class is not None:
            xtr, ytr, xte, yte = _per_class_split(images, labels, n_classes, cfg.per_class, g)
        else:
            xtr, ytr, xte, yte = split_train_test(images, labels, test_fraction=cfg.test_fraction,
                                                  seed=cfg.split_seed)
        source = "shipped MNIST subset (10,000 digits)"
    else:
        tr_images, tr_labels = load_mnist_idx(cfg.data_dir, "train")
        te_images, te_labels = load_mnist_idx(cfg.data_dir, "test")
        xtr, ytr = select_classes(tr_images, tr_labels, cfg.classes, cfg.per_class, generator=g)
        xte, yte = select_classes(te_images, te_labels, cfg.classes, None, generator=g)
        source = f"IDX files in {cfg.data_dir}"
    return Split(to_inputs(xtr), ytr, to_inputs(xte), yte, n_classes, source)


# ---------------------------------------------------------------------------------------------
# EP training
# ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class EPState:
    """Everything an EP run needs to continue: what a checkpoint holds."""

    network: LayeredNetwork
    epoch: int
    """Completed epochs."""
    persistent: torch.Tensor | None
    """Stored free states, (n_train, n_state): row i is training digit i's state."""
    generator: torch.Generator
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    """Seconds spent on EP so far, by this and earlier invocations (before a resume)."""
    crossbars: dict[str, Crossbar] | None = None
    """In situ training: the crossbar of each weight ``W{k}`` (None: exact weights)."""


def init_state(cfg: EPConfig, n_train: int, n_inputs: int, n_classes: int,
               dtype: torch.dtype = torch.float32) -> EPState:
    """Glorot-initialised network (Scellier & Bengio), zero persistent states, seeded generator."""
    g = torch.Generator().manual_seed(cfg.seed)
    net = LayeredNetwork.glorot([n_inputs, *cfg.hidden, n_classes], generator=g, dtype=dtype)
    persistent = torch.zeros(n_train, net.n_state, dtype=dtype) if cfg.persistent else None
    return EPState(network=net, epoch=0, persistent=persistent, generator=g)


def learning_rates(alphas: tuple[float, ...], schedule: str, halve_every: int, epoch: int) -> tuple[float, ...]:
    """The per-layer rates of (1-based) ``epoch``: alpha_k / 2^floor((epoch - 1) / halve_every)."""
    if schedule == "constant":
        return tuple(alphas)
    factor = 0.5 ** ((epoch - 1) // halve_every)
    return tuple(a * factor for a in alphas)


def ep_step(network: LayeredNetwork, relax: FixedStepRelaxation, x: torch.Tensor, targetT: torch.Tensor,
            s0T: torch.Tensor, *, beta: float, estimator: str, nudged_steps: int,
            rates: tuple[float, ...], generator: torch.Generator | None = None,
            work: Workspace | None = None, projection: torch.Tensor | None = None,
            w0_delta: torch.Tensor | None = None,
            w_delta: list[torch.Tensor] | None = None) -> torch.Tensor:
    """One fused EP training step on a minibatch: free phase, nudged phase(s), in-place update.

    Equals ``EquilibriumPropagation(beta, estimator, solver=ClippedRelaxation(epsilon,
    max_steps=free), nudged_solver=ClippedRelaxation(epsilon, max_steps=nudged), throw=False)
    .estimate(...)`` followed by ``sgd_step(network, grads, {W_k, b_{k+1}: rates[k]})``.

    Args:
        network: updated in place.
        relax: the relaxation (epsilon, free-phase steps).
        x: (B, n_0) inputs.
        targetT: (n_L, B) unit-major one-hot targets.
        s0T: (n_state, B) unit-major initial free state, entries in [0, 1].
        beta, estimator, nudged_steps: EP's settings.
        rates: alpha_k per weight layer.
        generator: draws the sign of beta for ``random_sign``.
        work: reusable buffers (see :class:`~memprop.solvers.fixed.Workspace`).
        projection: x W_0 (B, n_1) if the caller has it (deferred W_0 updates, see
            :func:`train_epoch`); computed here otherwise.
        w0_delta: (B, n_1) buffer; if given, W_0 is not updated: the buffer receives D with
            W_0 <- W_0 + x^T D the update (applied later by the caller).
        w_delta: one buffer per weight layer (W_k's shape); if given, no weight is updated: buffer
            k receives the update Delta W_k (to be programmed into a crossbar by the caller). The
            biases are still updated in place (they stay digital).

    Returns:
        The (n_state, B) free-phase state (before the update); a buffer of ``work`` if given.
    """
    kw = dict(targetT=targetT, steps=nudged_steps, in_bounds=True, work=work)
    c = relax.scaled_drive(network, x, work=work, projection=projection)  # eps (x W_0 + b_1)
    free = relax.run(network, s0T, c, in_bounds=True, work=work, tag="free")
    if estimator == "centred":
        plus = relax.run(network, free, c, beta=beta, tag="plus", **kw)
        minus = relax.run(network, free, c, beta=-beta, tag="minus", **kw)
        scale = 2.0 * beta
    else:
        if estimator == "random_sign":
            beta = beta * (torch.randint(0, 2, (1,), generator=generator).item() * 2 - 1)
        plus = relax.run(network, free, c, beta=beta, tag="plus", **kw)
        minus, scale = free, beta
    m = x.shape[0]
    W, b = network.weights, network.biases
    blocks = row_blocks(network)
    if work is None:
        delta = plus - minus  # (n_state, B)
        bsum = delta.sum(1)  # (n_state,)
    else:
        delta = torch.sub(plus, minus, out=work.get("delta", plus.shape, plus))
        bsum = torch.sum(delta, 1, out=work.get("bsum", plus.shape[:1], plus))
    for k in range(len(W)):  # loop over layers
        a = rates[k] / (m * scale)
        lo, hi = blocks[k - 1] if k else None, blocks[k]
        if w_delta is not None:  # the update itself, for the caller to program
            dW = w_delta[k]
            if k == 0:
                torch.mm(x.T, delta[hi].T, out=dW)  # (n_0, B) @ (B, n_1)
            else:
                torch.mm(plus[lo], plus[hi].T, out=dW)  # (n_k, B) @ (B, n_{k+1})
                dW.addmm_(minus[lo], minus[hi].T, alpha=-1.0)
            dW.mul_(a)
        elif k == 0:  # the input is clamped: rho(x) is the same in both phases
            if w0_delta is None:
                W[0].addmm_(x.T, delta[hi].T, alpha=a)  # (n_0, B) @ (B, n_1)
            else:
                torch.mul(delta[hi].T, a, out=w0_delta)
        else:
            W[k].addmm_(plus[lo], plus[hi].T, alpha=a)  # (n_k, B) @ (B, n_{k+1})
            W[k].addmm_(minus[lo], minus[hi].T, alpha=-a)
        b[k].add_(bsum[hi], alpha=a)
    return free


W0_WINDOW = 4
"""Minibatches whose W_0 updates :func:`train_epoch` applies together (the same SGD sequence:
each minibatch's projection x W_0 includes the updates of the window's earlier minibatches)."""


@torch.inference_mode()
def train_epoch(state: EPState, cfg: EPConfig, x: torch.Tensor, y: torch.Tensor, n_classes: int, *,
                progress: Progress | None = None, crossbars: dict[str, Crossbar] | None = None,
                programmed: bool | None = None) -> dict[str, Any]:
    """One epoch of EP over (x, y) in a random minibatch order; advances ``state``.

    Exactly the sequence of :func:`ep_step` updates, arranged for speed: the W_0 updates of
    ``W0_WINDOW`` consecutive minibatches are applied as one product (n_0, K B) @ (K B, n_1), and
    the window's input projections as one (K B, n_0) @ (n_0, n_1), corrected for the window's
    pending updates by x (x_i^T D_i) (small products). W_0 is then read and written once per
    window instead of twice per minibatch, and the products run at large-matrix speed. The
    result equals the minibatch-by-minibatch update up to rounding (tested).

    In situ (``crossbars``: one per weight ``W{k}``, from :func:`memprop.crossbar.crossbars_for`):
    each minibatch's Delta W_k is programmed into its crossbar as pulses, and W_k then holds one
    read of the crossbar (the next minibatch's free phase sees the hardware's weights, with a
    fresh read-noise draw). The biases stay digital (updated exactly). W_0 is programmed every
    minibatch, so the window above is not used. An ideal device applies the requested change
    exactly, so with ideal crossbars the exact path above runs: bit-identical to training
    without devices (``programmed=None``: programmed only for a non-ideal device; ``True``
    forces the programmed path, which equals the exact one up to rounding; tested).

    Returns:
        ``{"train_error_running", "alphas", "seconds"}``: the error of the free phases during the
        epoch (before each minibatch's update), the rates used, the wall time.
    """
    t0 = time.perf_counter()
    net = state.network
    dtype = net.weights[0].dtype
    x = x.to(dtype)
    n = x.shape[0]
    B = cfg.batch_size
    epoch = state.epoch + 1
    rates = learning_rates(cfg.alphas, cfg.schedule, cfg.halve_every, epoch)
    relax = FixedStepRelaxation(epsilon=cfg.epsilon, steps=cfg.free_steps)
    onehotT = torch.nn.functional.one_hot(y, n_classes).to(dtype).T.contiguous()  # (n_L, n)
    out = row_blocks(net)[-1]
    perm = torch.randperm(n, generator=state.generator)
    # The epoch's data and stored states in minibatch order, so that every minibatch is a
    # contiguous slice (two sequential copies per epoch instead of scattered row gathers per
    # minibatch, which also evict the weights from the cache).
    x_perm = x.index_select(0, perm)  # (n, n_0)
    t_perm = onehotT.index_select(1, perm)  # (n_L, n)
    y_perm = y[perm]
    p_perm = None if state.persistent is None else state.persistent.index_select(0, perm)  # (n, n_state)
    pred = torch.empty(n, dtype=torch.long)  # free-phase predictions, in minibatch order
    work = Workspace()
    zeros = {}
    report = max(1, 2000 // B)  # progress every ~2000 samples
    n_batches = (n + B - 1) // B
    reported = 0
    W0, n1 = net.weights[0], net.sizes[1]
    K = W0_WINDOW
    window, xw, proj, pending = slice(0, 0), x[:0], None, None
    if programmed is None:
        programmed = bool(crossbars) and not all(xb.config.ideal for xb in crossbars.values())
    if programmed:
        xbars = [crossbars[f"W{k}"] for k in range(len(net.weights))]
        w_delta = [torch.empty_like(w) for w in net.weights]
    for i in range(n_batches):  # loop over minibatches
        rows = slice(i * B, min((i + 1) * B, n))
        m = rows.stop - rows.start
        xb = x_perm[rows]
        tT = work.get("t", (n_classes, m), x).copy_(t_perm[:, rows])
        if p_perm is not None:
            s0T = work.get("s0", (net.n_state, m), x).copy_(p_perm[rows].T)  # (n_state, B)
        else:
            if m not in zeros:
                zeros[m] = torch.zeros(net.n_state, m, dtype=dtype)
            s0T = zeros[m]
        if programmed:  # in situ: program every layer's update, then read the crossbars
            free = ep_step(net, relax, xb, tT, s0T, beta=cfg.beta, estimator=cfg.estimator,
                           nudged_steps=cfg.nudged_steps, rates=rates, generator=state.generator,
                           work=work, w_delta=w_delta)
            for W, xbar, dW in zip(net.weights, xbars, w_delta):  # loop over layers
                xbar.program(dW)
                W.copy_(xbar.read())
        else:
            if i % K == 0:  # a window starts: apply the last one's W_0 updates, project its inputs
                if pending is not None:
                    W0.addmm_(xw.T, pending)  # (n_0, KB) @ (KB, n_1)
                window = slice(rows.start, min(rows.start + K * B, n))
                xw = x_perm[window]
                proj = torch.mm(xw, W0, out=work.get("proj", (xw.shape[0], n1), x))  # (KB, n_1)
                pending = work.get("pending", (xw.shape[0], n1), x)
            a, b = rows.start - window.start, rows.stop - window.start  # rows within the window
            if a:  # x (W_0 + sum_i x_i^T D_i) for the window's earlier minibatches i
                gram = torch.mm(xb, xw[:a].T, out=work.get("gram", (m, a), x))  # (B, a)
                pj = torch.addmm(proj[a:b], gram, pending[:a], out=work.get("proj_c", (m, n1), x))
            else:
                pj = proj[a:b]
            free = ep_step(net, relax, xb, tT, s0T, beta=cfg.beta, estimator=cfg.estimator,
                           nudged_steps=cfg.nudged_steps, rates=rates, generator=state.generator, work=work,
                           projection=pj, w0_delta=pending[a:b])
        torch.argmax(free[out], 0, out=pred[rows])
        if p_perm is not None:
            p_perm[rows].copy_(free.T)
        if progress is not None and ((i + 1) % report == 0 or i + 1 == n_batches):
            done = rows.stop
            rate = done / max(time.perf_counter() - t0, 1e-9)
            err = float((pred[:done] != y_perm[:done]).double().mean())
            progress.update(i + 1 - reported, f"epoch {epoch} | {rate:,.0f} samples/s | running error {err:.3f}")
            reported = i + 1
    if pending is not None:
        W0.addmm_(xw.T, pending)
    if p_perm is not None:
        state.persistent.index_copy_(0, perm, p_perm)
    wrong = int((pred != y_perm).sum())
    state.epoch = epoch
    if not bool(torch.isfinite(net.weights[0]).all()):
        raise ConfigError(
            f"EP training diverged in epoch {epoch} (NaN/Inf weights); lower alphas or beta"
        )
    return {"train_error_running": int(wrong) / n, "alphas": list(rates), "seconds": time.perf_counter() - t0}


@torch.inference_mode()
def predict(network: LayeredNetwork, x: torch.Tensor, *, epsilon: float, steps: int, chunk: int = 1000) -> torch.Tensor:
    """Class of each row of x: argmax of the outputs after ``steps`` iterations from zero."""
    relax = FixedStepRelaxation(epsilon=epsilon, steps=steps)
    dtype = network.weights[0].dtype
    out = row_blocks(network)[-1]
    preds = []
    for i in range(0, x.shape[0], chunk):  # loop over chunks of digits
        xb = x[i:i + chunk].to(dtype)
        s0T = torch.zeros(network.n_state, xb.shape[0], dtype=dtype)
        sT = relax.run(network, s0T, relax.scaled_drive(network, xb), in_bounds=True)
        preds.append(sT[out].argmax(0))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)


def error_rate(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float((pred != y).double().mean()) if y.numel() else float("nan")


def _sample_indices(seed: int, epoch: int, n_train: int, n_test: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 5's 100 random training and test digits of ``epoch`` (fresh each epoch, seeded)."""
    g = torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch)
    return torch.randperm(n_train, generator=g)[:k], torch.randperm(n_test, generator=g)[:k]


def evaluate_epoch(network: LayeredNetwork, cfg: ClassificationConfig, split: Split, epoch: int) -> dict[str, float]:
    """The four errors of an epoch record (whole sets, and Figure 5's random 100)."""
    ep = cfg.ep
    kw = dict(epsilon=ep.epsilon, steps=ep.eval_steps, chunk=cfg.eval_chunk)
    pred_train = predict(network, split.x_train, **kw)
    pred_test = predict(network, split.x_test, **kw)
    i_tr, i_te = _sample_indices(ep.seed, epoch, split.y_train.numel(), split.y_test.numel(), cfg.eval_sample)
    return {
        "train_error_100": error_rate(pred_train[i_tr], split.y_train[i_tr]),
        "test_error_100": error_rate(pred_test[i_te], split.y_test[i_te]),
        "train_error": error_rate(pred_train, split.y_train),
        "test_error": error_rate(pred_test, split.y_test),
    }


def _checkpoint_of(state: EPState, cfg: ClassificationConfig) -> Checkpoint:
    ep = cfg.ep
    return Checkpoint(
        kind=CHECKPOINT_KIND, epoch=state.epoch, params=state.network.parameters,
        config=cfg.to_dict(), history=state.history, persistent=state.persistent,
        rng={"train": state.generator.get_state()},
        schedule={"schedule": ep.schedule, "halve_every": ep.halve_every, "alphas": list(ep.alphas),
                  "next_epoch_rates": list(learning_rates(ep.alphas, ep.schedule, ep.halve_every, state.epoch + 1)),
                  "elapsed": state.elapsed},
    )


# Config entries that may change between an interrupted run and its resumption.
_RESUMABLE = {("ep", "epochs"), ("backprop", "epochs"), ("eval_chunk",)}


def _diff(a: Any, b: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), (*path, k))
        return out
    return [] if a == b else [(path, a, b)]


def state_from_checkpoint(ckpt: Checkpoint, cfg: ClassificationConfig, split: Split, path: Path) -> EPState:
    """Rebuild an :class:`EPState` from a checkpoint of the same run (config checked)."""
    if ckpt.kind != CHECKPOINT_KIND:
        raise ConfigError(f"{path}: a {ckpt.kind!r} checkpoint, not a classification one")
    diffs = [d for d in _diff(ckpt.config, cfg.to_dict()) if d[0] not in _RESUMABLE]
    if diffs:
        shown = "; ".join(f"{'.'.join(map(str, p))}: checkpoint {a!r}, now {b!r}" for p, a, b in diffs[:6])
        raise ConfigError(
            f"--resume: the options differ from the checkpointed run ({shown}); only the number of "
            f"epochs may change. Use the same options, or another --out"
        )
    if ckpt.epoch > cfg.ep.epochs:
        raise ConfigError(
            f"--resume: {path} holds {ckpt.epoch} completed epochs, more than epochs={cfg.ep.epochs}; "
            f"ask for at least {ckpt.epoch}"
        )
    state = init_state(cfg.ep, split.y_train.numel(), split.x_train.shape[1], split.n_classes)
    params = state.network.parameters
    for k, v in ckpt.params.items():
        if k not in params or params[k].shape != v.shape:
            raise ConfigError(f"{path}: parameter {k} does not fit the network")
        params[k].copy_(v)
    if cfg.ep.persistent:
        if ckpt.persistent is None or ckpt.persistent.shape != state.persistent.shape:
            raise ConfigError(f"{path}: persistent states missing or of the wrong shape")
        state.persistent.copy_(ckpt.persistent)
    state.generator.set_state(ckpt.rng["train"])
    state.epoch = ckpt.epoch
    state.history = list(ckpt.history)
    state.elapsed = float(ckpt.schedule.get("elapsed", 0.0))
    return state


DEVICE_SEED_OFFSET = 7919
"""The crossbars' generator is seeded with seed + this: apart from the rule's stream, so that
``--device ideal`` leaves every random stream of the run as it is without devices."""


def device_summary(crossbar: CrossbarConfig, crossbars: dict[str, Crossbar]) -> dict[str, Any]:
    """JSON-ready description of an in situ run: the device, the encoding and the counters."""
    from ..devices.toml import device_to_dict

    return {"model": device_to_dict(crossbar.device), "w_max": crossbar.w_max, "signed": crossbar.signed,
            "pairing": crossbar.pairing, "scheme": crossbar.scheme, **run_counters(crossbars)}


def run_ep(cfg: ClassificationConfig, split: Split, *, progress: Progress | None = None,
           checkpoint: str | Path | None = None, resume: bool = False,
           stop_after: int | None = None, crossbar: CrossbarConfig | None = None) -> EPState:
    """Train by EP for ``cfg.ep.epochs`` epochs, evaluating and checkpointing after each.

    Args:
        cfg: the run's config.
        split: the data.
        progress: a progress bar (samples/s, running error), or None.
        checkpoint: file written atomically after every epoch (None: no checkpoints).
        resume: continue from ``checkpoint`` (same config apart from the number of epochs); the
            continued run gives the same numbers as an uninterrupted one.
        stop_after: stop after this epoch (as if interrupted; for tests).
        crossbar: train in situ: the weights W_k on crossbars of this config (biases digital),
            built from the initial weights with a generator seeded by ``cfg.ep.seed +
            DEVICE_SEED_OFFSET``; the crossbars are read before every evaluation. Checkpoints do
            not hold the devices' state, so ``resume`` is refused and none is written.
    """
    t_start = time.perf_counter()
    if crossbar is not None:
        if resume:
            raise ConfigError("resume is not supported with a device (checkpoints do not hold the "
                              "crossbars' state); rerun without --resume")
        checkpoint = None
    if resume:
        if checkpoint is None:
            raise ConfigError("resume=True needs a checkpoint path")
        state = state_from_checkpoint(load_checkpoint(checkpoint), cfg, split, Path(checkpoint))
    else:
        state = init_state(cfg.ep, split.y_train.numel(), split.x_train.shape[1], split.n_classes)
    if crossbar is not None:
        names = [f"W{k}" for k in range(len(state.network.weights))]
        state.crossbars = crossbars_for(state.network, crossbar, names=names, symmetric=False,
                                        generator=torch.Generator().manual_seed(cfg.ep.seed + DEVICE_SEED_OFFSET))
        if crossbar.ideal:  # the ideal device holds the weights themselves: the exact in-place
            for name, xb in state.crossbars.items():  # updates of train_epoch are its writes
                xb.register_buffer("w", state.network.parameters[name])
    ep = cfg.ep
    n_batches = (split.y_train.numel() + ep.batch_size - 1) // ep.batch_size
    remaining = max(ep.epochs - state.epoch, 0)
    if progress is not None and remaining:
        sizes = "-".join(map(str, state.network.sizes))
        progress.start(f"EP {sizes} ({remaining} epochs)", remaining * n_batches)
    while state.epoch < ep.epochs:  # loop over epochs
        info = train_epoch(state, ep, split.x_train, split.y_train, split.n_classes, progress=progress,
                           crossbars=state.crossbars)
        t0 = time.perf_counter()
        if state.crossbars is not None:  # a fresh read (read noise) for the evaluation
            read_weights(state.network, state.crossbars)
        record = {"epoch": state.epoch, **evaluate_epoch(state.network, cfg, split, state.epoch),
                  "train_error_running": info["train_error_running"],
                  "alphas": info["alphas"], "seconds": info["seconds"],
                  "eval_seconds": time.perf_counter() - t0}
        state.history.append(record)
        if checkpoint is not None:
            state.elapsed += time.perf_counter() - t_start
            t_start = time.perf_counter()
            save_checkpoint(checkpoint, _checkpoint_of(state, cfg))
        if stop_after is not None and state.epoch >= stop_after:
            break
    if progress is not None and remaining:
        last = state.history[-1] if state.history else {}
        progress.finish(f"test error {last.get('test_error', float('nan')):.4f}")
    state.elapsed += time.perf_counter() - t_start
    return state


# ---------------------------------------------------------------------------------------------
# Backprop reference
# ---------------------------------------------------------------------------------------------


def run_backprop(bp: BackpropConfig, hidden: tuple[int, ...], split: Split, *,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Train the feed-forward reference of the same layer sizes on the same split."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(bp.seed)
    sizes = [split.x_train.shape[1], *hidden, split.n_classes]
    net = LayeredNetwork.glorot(sizes, generator=g)
    rule = Backprop(output=bp.output, loss=bp.loss)
    x, y = split.x_train, split.y_train
    onehot = torch.nn.functional.one_hot(y, split.n_classes).to(x.dtype)
    n = y.numel()
    n_batches = (n + bp.batch_size - 1) // bp.batch_size
    if progress is not None:
        progress.start(f"backprop {'-'.join(map(str, sizes))} ({bp.epochs} epochs)", bp.epochs)
    epochs = []
    for epoch in range(1, bp.epochs + 1):  # loop over epochs
        te = time.perf_counter()
        rates = learning_rates(bp.alphas, bp.schedule, bp.halve_every, epoch)
        lr = {f"W{k}": r for k, r in enumerate(rates)} | {f"b{k + 1}": r for k, r in enumerate(rates)}
        perm = torch.randperm(n, generator=g)
        for i in range(n_batches):  # loop over minibatches
            idx = perm[i * bp.batch_size:(i + 1) * bp.batch_size]
            grads = rule.gradients(net, x[idx], onehot[idx])
            sgd_step(net, grads, lr)
        with torch.no_grad():
            test_error = error_rate(feedforward(net, split.x_test, output=bp.output).argmax(1), split.y_test)
        epochs.append({"epoch": epoch, "test_error": test_error, "seconds": time.perf_counter() - te})
        if progress is not None:
            progress.update(1, f"test error {test_error:.4f}")
    with torch.no_grad():
        train_error = error_rate(feedforward(net, x, output=bp.output).argmax(1), y)
    if progress is not None:
        progress.finish(f"test error {epochs[-1]['test_error']:.4f}")
    return {"test_error": epochs[-1]["test_error"], "train_error": train_error,
            "config": json.loads(json.dumps(dataclasses.asdict(bp))), "epochs": epochs,
            "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------
# A whole run
# ---------------------------------------------------------------------------------------------


def run(cfg: ClassificationConfig, *, progress: Progress | None = None, checkpoint: str | Path | None = None,
        resume: bool = False, split: Split | None = None,
        crossbar: CrossbarConfig | None = None) -> dict[str, Any]:
    """EP training with per-epoch evaluation, then the backprop reference; a JSON-ready result.

    With ``crossbar``, EP trains in situ (see :func:`run_ep`) and the result gains ``"device"``:
    the device, the encoding and the run's programming counters (pulses, events, energy_j, ...).
    The backprop reference stays exact.

    Returns:
        ``{"config", "data", "epochs": [{"epoch", "train_error_100", "test_error_100",
        "train_error", "test_error", "train_error_running", "alphas", "seconds",
        "eval_seconds"}, ...], "backprop_reference": {"test_error", "train_error", "config",
        "epochs", "seconds"} | None, "seconds", "threads"}``.
    """
    t0 = time.perf_counter()
    split = load_split(cfg.data) if split is None else split
    t_ep = time.perf_counter()
    state = run_ep(cfg, split, progress=progress, checkpoint=checkpoint, resume=resume, crossbar=crossbar)
    t_ep = time.perf_counter() - t_ep
    bp = None
    if cfg.backprop is not None:
        bp = run_backprop(cfg.backprop, cfg.ep.hidden, split, progress=progress)
    # This call's wall time, with its EP part replaced by the EP time of every invocation
    # (the same as the wall time unless resumed).
    seconds = time.perf_counter() - t0 - t_ep + state.elapsed
    result = {"config": cfg.to_dict(), "data": split.describe(), "epochs": state.history,
              "backprop_reference": bp, "seconds": seconds, "threads": torch.get_num_threads()}
    if crossbar is not None:
        result["device"] = device_summary(crossbar, state.crossbars)
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


# ---------------------------------------------------------------------------------------------
# memprop reproduce classification
# ---------------------------------------------------------------------------------------------

FIG5_EPOCHS = 25
"""Epochs of the full Figure 5 run: Scellier & Bengio's 25 (the paper's figure does not say;
with rates halved every epoch, training has effectively stopped well before)."""
FIG5_QUICK_EPOCHS = 5
"""Epochs under --quick (the halved rates of epochs 6-25 sum to 3% of the first epoch's)."""
FIG5_ERROR_BOUND = 0.06
"""Held-out error below which Figure 5's claim of a low error counts as holding."""


def fig5_config(*, quick: bool = False, seed: int = 0, epochs: int | None = None) -> ClassificationConfig:
    """Figure 5's settings: 784-500-5, digits 0-4, 600 per class, eps 0.5, 20 + 4 iterations,
    beta 1, alphas 0.1 and 0.05 halved every epoch, minibatch 20, Glorot, persistent states."""
    n = epochs if epochs is not None else (FIG5_QUICK_EPOCHS if quick else FIG5_EPOCHS)
    ep = EPConfig(hidden=(500,), epsilon=0.5, free_steps=20, nudged_steps=4, beta=1.0,
                  estimator="one_sided", alphas=(0.1, 0.05), schedule="halve", batch_size=20,
                  epochs=n, persistent=True, seed=seed)
    data = DataConfig(classes=(0, 1, 2, 3, 4), per_class=600, split_seed=seed)
    return ClassificationConfig(data=data, ep=ep, backprop=BackpropConfig.like(ep))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"EP epochs (default {FIG5_EPOCHS}, Scellier & Bengio's; {FIG5_QUICK_EPOCHS} with --quick)")
    add_device_options(parser)


def reproduce(args: argparse.Namespace, out: Path, progress: Progress):
    """Run Figure 5, write out/fig5.{json,csv,png}, return the report section."""
    from .report import Claim, Section

    cfg = fig5_config(quick=args.quick, seed=args.seed, epochs=getattr(args, "epochs", None))
    xcfg = crossbar_config(args)
    result = run(cfg, progress=progress, crossbar=xcfg)
    from ..plotting.classification import plot_fig5

    plots = save_result(out, "fig5", result, csv_rows(result), plot_fig5)

    last, first = result["epochs"][-1], result["epochs"][0]
    d = result["data"]
    bp = result["backprop_reference"]
    cmd = "memprop reproduce classification" + (" --quick" if args.quick else "") + (
        f" --seed {args.seed}" if args.seed else "")
    holds = last["test_error"] <= FIG5_ERROR_BOUND and last["test_error"] < first["test_error"] + 1e-12
    measured = (
        f"after {last['epoch']} epochs (seed {args.seed}): error {last['train_error_100']:.2f} on 100 random "
        f"training digits and {last['test_error_100']:.2f} on 100 random test digits; "
        f"{last['train_error']:.4f} on all {d['n_train']} training digits and {last['test_error']:.4f} on "
        f"all {d['n_test']} held-out digits (epoch 1: {first['test_error']:.4f}); "
        f"EP training {sum(e['seconds'] for e in result['epochs']):.1f} s"
    )
    if xcfg is not None:
        dev = result["device"]
        cmd += f" --device {args.device}"
        measured += (f"; in situ on {args.device} (w_max {xcfg.w_max}, {xcfg.signed}, {xcfg.scheme} "
                     f"rounding): {dev['pulses']} pulses, {dev['energy_j']:.3g} J")
    claims = [Claim(
        study="classification",
        claim="Figure 5: EP alone trains the 784-500-5 layered network (digits 0-4, 600 training "
              "digits per class, Scellier & Bengio's settings) to a low error on training and test digits",
        measured=measured, holds=holds, command=cmd, plots=plots,
        notes=(f"Criterion: held-out error <= {FIG5_ERROR_BOUND} at the last epoch and below epoch 1's "
               f"(the paper gives no number; its figure is read as errors of a few percent)."),
    )]
    if bp is not None:
        claims.append(Claim(
            study="classification",
            claim="(reference, not a claim of the paper) backpropagation on the same layer sizes and split",
            measured=(f"backprop feed-forward {'-'.join(map(str, [784, *cfg.ep.hidden, d['n_classes']]))}: "
                      f"held-out error {bp['test_error']:.4f} (training {bp['train_error']:.4f}) vs EP "
                      f"{last['test_error']:.4f}; same rates, schedule, minibatch and epochs"),
            holds=None, command=cmd, plots=plots,
        ))
    text = (
        f"Protocol: {d['source']}, digits 0-4 shuffled (seed {cfg.data.split_seed}), 600 random training "
        f"digits per class, the other {d['n_test']} digits 0-4 held out. 784-500-5 layered network, "
        f"Glorot init, Eq. (21) with epsilon 0.5, 20 free and 4 nudged iterations, beta 1 (one-sided), "
        f"alphas 0.1 and 0.05 halved after every epoch, minibatch 20, persistent free states, "
        f"{cfg.ep.epochs} epochs (Scellier & Bengio's 25 unless --quick/--epochs). Classification: "
        f"argmax of the outputs after {cfg.ep.eval_steps} iterations from the zero state. The curves "
        f"plot the error on 100 random training and 100 random test digits drawn afresh each epoch "
        f"(as Figure 5) and on the whole sets. Run time {result['seconds']:.1f} s on "
        f"{result['threads']} thread(s)."
    )
    return Section(study="classification", title=TITLE, claims=claims, text=text)


# ---------------------------------------------------------------------------------------------
# memprop train classify
# ---------------------------------------------------------------------------------------------


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", type=int, action="append", default=None, metavar="N",
                   help="a hidden layer of N units; repeat for more layers (default one of 500)")
    p.add_argument("--classes", default="0-9", help="digit classes, e.g. 0-9, 0-4 or 0,3,7 (default 0-9)")
    p.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="training digits per class, the rest held out (default: all, with the shipped "
                        "subset split by --test-fraction)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="held-out fraction of the shipped subset without --per-class (default 0.2)")
    p.add_argument("--data-dir", default=None,
                   help="directory with MNIST IDX files (train-*, t10k-*); default the shipped subset")
    p.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    p.add_argument("--beta", type=float, default=1.0, help="nudging strength beta (default 1)")
    p.add_argument("--estimator", choices=list(ESTIMATOR_NAMES), default="one-sided",
                   help="EP gradient estimator (default one-sided, the paper's)")
    p.add_argument("--schedule", choices=list(SCHEDULES), default="halve",
                   help="halve: rates halved after every --halve-every epochs (the paper); constant")
    p.add_argument("--halve-every", type=int, default=1, metavar="K", help="halve schedule: every K epochs")
    p.add_argument("--alphas", type=float, nargs="+", default=None,
                   help="learning rate per weight layer (default Scellier & Bengio's for the depth)")
    p.add_argument("--batch-size", type=int, default=20, help="minibatch size (default 20)")
    p.add_argument("--epsilon", type=float, default=0.5, help="step of Eq. (21) (default 0.5)")
    p.add_argument("--free-steps", type=int, default=None,
                   help="free-phase iterations (default Scellier & Bengio's: 20, 100, 500 by depth)")
    p.add_argument("--nudged-steps", type=int, default=None,
                   help="nudged-phase iterations (default 4, 6, 8 by depth)")
    p.add_argument("--eval-steps", type=int, default=100,
                   help="iterations from the zero state when classifying (default 100)")
    p.add_argument("--no-persistent", action="store_true", help="start every free phase from zero")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the init and the order")
    p.add_argument("--no-backprop", action="store_true", help="skip the backprop reference")
    p.add_argument("--backprop-alphas", type=float, nargs="+", default=None,
                   help="the reference's SGD rate per weight layer (default: EP's alphas)")
    p.add_argument("--backprop-schedule", choices=list(SCHEDULES), default=None,
                   help="the reference's schedule (default: EP's; --halve-every and --epochs are shared)")
    p.add_argument("--backprop-output", choices=list(OUTPUTS), default="linear",
                   help="output function of the feed-forward reference (default linear)")
    p.add_argument("--backprop-loss", choices=list(LOSSES), default="mse",
                   help="mse (EP's cost, default) or cross_entropy")
    p.add_argument("--out", default="runs/classify", help="output directory (default runs/classify)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)


def train_config(args: argparse.Namespace) -> ClassificationConfig:
    """The config of ``memprop train classify``'s options."""
    data = DataConfig(classes=args.classes, per_class=args.per_class, test_fraction=args.test_fraction,
                      data_dir=args.data_dir, split_seed=args.seed)
    ep = EPConfig(hidden=tuple(args.hidden or (500,)), epsilon=args.epsilon, free_steps=args.free_steps,
                  nudged_steps=args.nudged_steps, beta=args.beta, estimator=ESTIMATOR_NAMES[args.estimator],
                  alphas=None if args.alphas is None else tuple(args.alphas), schedule=args.schedule,
                  halve_every=args.halve_every, batch_size=args.batch_size, epochs=args.epochs,
                  persistent=not args.no_persistent, eval_steps=args.eval_steps, seed=args.seed)
    bp = None
    if not args.no_backprop:
        changes = {"output": args.backprop_output, "loss": args.backprop_loss}
        if args.backprop_alphas is not None:
            changes["alphas"] = tuple(args.backprop_alphas)
        if args.backprop_schedule is not None:
            changes["schedule"] = args.backprop_schedule
        bp = BackpropConfig.like(ep, **changes)
    return ClassificationConfig(data=data, ep=ep, backprop=bp)


def train(args: argparse.Namespace) -> int:
    """``memprop train classify``: writes OUT/classify.{json,csv,png} and OUT/checkpoint.pt."""
    cfg = train_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(enabled=not args.quiet)
    result = run(cfg, progress=progress, checkpoint=out / "checkpoint.pt", resume=args.resume,
                 crossbar=crossbar_config(args))
    write_json(out / "classify.json", result)
    write_csv(out / "classify.csv", csv_rows(result))
    try:
        from ..plotting.classification import plot_fig5

        plot_fig5(out / "classify.json", out / "classify.png")
    except ImportError as e:  # pragma: no cover - matplotlib missing
        print(f"memprop: classify.png not drawn ({e})", file=sys.stderr)
    last = result["epochs"][-1]
    bp = result["backprop_reference"]
    sizes = [result["data"]["n_inputs"], *cfg.ep.hidden, result["data"]["n_classes"]]
    line = (f"EP {'-'.join(map(str, sizes))}"
            f" after {last['epoch']} epochs: held-out error {last['test_error']:.4f} "
            f"({result['data']['n_test']} digits), training error {last['train_error']:.4f}")
    if bp is not None:
        line += f"; backprop reference: held-out error {bp['test_error']:.4f}"
    if "device" in result:
        dev = result["device"]
        line += f"; in situ on {args.device}: {dev['pulses']} pulses, {dev['energy_j']:.3g} J"
    print(line + f"; {result['seconds']:.1f} s; wrote {out / 'classify.json'}")
    return 0


# ---------------------------------------------------------------------------------------------
# Sweep task (memprop sweep run, study "classification")
# ---------------------------------------------------------------------------------------------

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
}
"""Settings a classification sweep may vary (one hidden layer); the others keep Figure 5's.
``per_class = 0`` means every digit of the classes, split by ``test_fraction``."""


def sweep_task(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """One classification run for a sweep: Figure 5's settings changed by ``settings``.

    ``seed`` seeds the split, the initialisation and the minibatch order, so a task is a
    deterministic function of (settings, seed). Metrics: the final held-out and training error,
    the backprop reference's held-out error (when ``backprop`` is true) and the run's seconds.
    """
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
    result = run(ClassificationConfig(data=data, ep=ep, backprop=bp))
    last = result["epochs"][-1]
    metrics = {"test_error": last["test_error"], "train_error": last["train_error"],
               "epochs": last["epoch"], "seconds": result["seconds"]}
    if bp is not None:
        metrics["backprop_test_error"] = result["backprop_reference"]["test_error"]
    return metrics
