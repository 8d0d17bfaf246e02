r"""EP training and evaluation of the layered network, composed from the engine.

Training is :func:`memprop.learning.train_epoch` with :class:`~memprop.learning.EquilibriumPropagation`
on Eq. (21) (:class:`~memprop.solvers.ClippedRelaxation` with ``stop=Steps(free)`` and
``Steps(nudged)``), per-layer rates alpha_k for W_k and b_{k+1}, a random minibatch order per
epoch, persistent free states, and the engine's deferred input-weight updates (W_0's updates of
up to ``W0_WINDOW`` minibatches as one product) when W_0 is not programmed through a crossbar. With the
1/beta that the paper's beta = 1 hides, the update is Eq. (19):

.. math::
    \Delta W_k = \frac{\alpha_k}{\beta}\,\big\langle \rho(s_k^\beta)^\top \rho(s_{k+1}^\beta)
        - \rho(s_k^0)^\top \rho(s_{k+1}^0) \big\rangle_{\text{minibatch}}, \qquad
    \Delta b_{k+1} = \frac{\alpha_k}{\beta}\,\big\langle \rho(s_{k+1}^\beta) - \rho(s_{k+1}^0) \big\rangle

(s_0 = x the clamped input). Estimators: ``one_sided`` (above), ``random_sign`` (the sign of beta
drawn per minibatch, Scellier & Bengio) and ``centred`` (s^{+beta} against s^{-beta}, divided by
2 beta; Laborieux et al. 2021). Schedules: ``halve`` (the paper: the rates halve after every
epoch, or after every ``halve_every`` epochs) and ``constant``.

In situ (``config.device``): the weights W_k sit on crossbars (biases digital); every
minibatch's update is programmed as pulses and the next free phase reads the hardware, with a
fresh read before every evaluation. Checkpoints hold the whole network state (crossbars
included: conductances, per-device parameters, counters, clock) and every random stream, so a
resumed run continues bit-identically.

Evaluation: a digit's class is the index of the largest output unit after ``eval_steps``
iterations of Eq. (21) from the zero state (training and test digits alike).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._runtime import torch_device, torch_dtype
from ...crossbar import run_counters
from ...errors import ConfigError
from ...learning import EquilibriumPropagation, deferral_window, sgd_step, train_epoch
from ...learning.backprop import Backprop, feedforward
from ...networks import LayeredNetwork
from ...progress import Progress
from ...solvers import ClippedRelaxation, Steps, Workspace, relax
from ..checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import CHECKPOINT_KIND, BackpropConfig, ClassificationConfig, EPConfig
from .data import Split

W0_WINDOW = 4
"""The most minibatches whose W_0 updates are applied together (see
:func:`memprop.learning.train_epoch`); fewer for large minibatches
(:func:`memprop.learning.deferral_window`)."""
DEVICE_SEED_OFFSET = 7919
"""The crossbars' generator is seeded with seed + this: apart from the rule's stream, so that
``--device ideal`` leaves every random stream of the run as it is without devices."""


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
    device_generator: torch.Generator | None = None
    """In situ: the crossbars' random stream (variation, rounding, write and read noise)."""
    workspace: Workspace = field(default_factory=Workspace)


def init_state(cfg: ClassificationConfig, n_train: int, n_inputs: int, n_classes: int) -> EPState:
    """Glorot-initialised network (Scellier & Bengio), zero persistent states, seeded generator;
    in situ, the weights W_k placed on crossbars (seeded apart from the rule's stream)."""
    ep = cfg.ep
    dev, dtype = torch_device(cfg.torch_device), torch_dtype(cfg.dtype)
    g = torch.Generator().manual_seed(ep.seed)
    net = LayeredNetwork.glorot([n_inputs, *ep.hidden, n_classes], generator=g, dtype=dtype, device=dev)
    persistent = torch.zeros(n_train, net.n_state, dtype=dtype, device=dev) if ep.persistent else None
    state = EPState(network=net, epoch=0, persistent=persistent, generator=g)
    if cfg.device is not None:
        state.device_generator = torch.Generator().manual_seed(ep.seed + DEVICE_SEED_OFFSET)
        names = [f"W{k}" for k in range(len(ep.hidden) + 1)]
        net.on_crossbars(cfg.device, names=names, symmetric=False, generator=state.device_generator)
    return state


def learning_rates(alphas: tuple[float, ...], schedule: str, halve_every: int, epoch: int) -> tuple[float, ...]:
    """The per-layer rates of (1-based) ``epoch``: alpha_k / 2^floor((epoch - 1) / halve_every)."""
    if schedule == "constant":
        return tuple(alphas)
    factor = 0.5 ** ((epoch - 1) // halve_every)
    return tuple(a * factor for a in alphas)


def layer_rates(rates: tuple[float, ...]) -> dict[str, float]:
    """alpha_k for W_k and b_{k+1}, by parameter name."""
    out = {f"W{k}": r for k, r in enumerate(rates)}
    out.update({f"b{k + 1}": r for k, r in enumerate(rates)})
    return out


def ep_rule(cfg: EPConfig) -> EquilibriumPropagation:
    """EP with Scellier & Bengio's fixed iteration counts of Eq. (21)."""
    return EquilibriumPropagation(beta=cfg.beta, estimator=cfg.estimator,
                                  solver=ClippedRelaxation(epsilon=cfg.epsilon),
                                  stop=Steps(cfg.free_steps), nudged_stop=Steps(cfg.nudged_steps), throw=False)


def ep_epoch(state: EPState, cfg: EPConfig, x: torch.Tensor, y: torch.Tensor, n_classes: int, *,
             progress: Progress | None = None) -> dict[str, Any]:
    """One epoch of EP over (x, y) in a random minibatch order; advances ``state``.

    Returns:
        ``{"train_error_running", "alphas", "seconds"}``: the error of the free phases during the
        epoch (before each minibatch's update), the rates used, the wall time.
    """
    t0 = time.perf_counter()
    net = state.network
    ref = net.W0
    x = x.to(device=ref.device, dtype=ref.dtype)
    y = y.to(ref.device)
    n = x.shape[0]
    epoch = state.epoch + 1
    rates = learning_rates(cfg.alphas, cfg.schedule, cfg.halve_every, epoch)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(ref.dtype)
    perm = torch.randperm(n, generator=state.generator).to(ref.device)
    out = net.output_index
    holder = net.holder("W0")
    defer = deferral_window(cfg.batch_size, *ref.shape, W0_WINDOW) if holder is None or holder.exact else 0
    wrong = torch.zeros((), dtype=torch.long, device=ref.device)
    reported = [0]
    report = max(1, 2000 // cfg.batch_size)  # progress every ~2000 samples

    def on_batch(i, n_batches, rows, est):
        nonlocal wrong
        pred = est.free.state[:, out].argmax(-1)
        wrong += (pred != y.index_select(0, perm[rows])).sum()
        if (i + 1) % report == 0 or i + 1 == n_batches:
            rate = rows.stop / max(time.perf_counter() - t0, 1e-9)
            progress.update(i + 1 - reported[0], f"epoch {epoch} | {rate:,.0f} samples/s | "
                                                  f"running error {int(wrong) / rows.stop:.3f}")
            reported[0] = i + 1

    res = train_epoch(net, ep_rule(cfg), x, onehot, lr=layer_rates(rates), batch_size=cfg.batch_size,
                      order=perm, s0=state.persistent, persistent=state.persistent is not None,
                      generator=state.generator, keep_free=state.persistent is None, record_steps=False,
                      defer_input=defer,
                      workspace=state.workspace, on_batch=on_batch if progress is not None else None)
    free = state.persistent if state.persistent is not None else res.free
    wrong_total = int((free[:, out].argmax(-1) != y).sum())
    state.epoch = epoch
    return {"train_error_running": wrong_total / n, "alphas": list(rates), "seconds": time.perf_counter() - t0}


@torch.no_grad()
def predict(network: LayeredNetwork, x: torch.Tensor, *, epsilon: float, steps: int, chunk: int = 1000,
            workspace: Workspace | None = None) -> torch.Tensor:
    """Class of each row of x: argmax of the outputs after ``steps`` iterations from zero."""
    ref = network.W0
    solver = ClippedRelaxation(epsilon=epsilon)
    out = network.output_index
    preds = []
    work = Workspace() if workspace is None else workspace
    for i in range(0, x.shape[0], chunk):  # loop over chunks of digits
        xb = x[i:i + chunk].to(device=ref.device, dtype=ref.dtype)
        s0 = torch.zeros(xb.shape[0], network.n_state, dtype=ref.dtype, device=ref.device)
        eq = relax(network, solver, s0, xb, stop=Steps(steps), workspace=work, tag="eval", throw=False,
                   validate=False)
        preds.append(eq.state[:, out].argmax(-1))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long, device=ref.device)


def error_rate(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float((pred != y.to(pred.device)).double().mean()) if y.numel() else float("nan")


def _sample_indices(seed: int, epoch: int, n_train: int, n_test: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 5's 100 random training and test digits of ``epoch`` (fresh each epoch, seeded)."""
    g = torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch)
    return torch.randperm(n_train, generator=g)[:k], torch.randperm(n_test, generator=g)[:k]


def evaluate_epoch(state: EPState, cfg: ClassificationConfig, split: Split, epoch: int) -> dict[str, float]:
    """The four errors of an epoch record (whole sets, and Figure 5's random 100)."""
    ep = cfg.ep
    kw = dict(epsilon=ep.epsilon, steps=ep.eval_steps, chunk=cfg.eval_chunk, workspace=state.workspace)
    pred_train = predict(state.network, split.x_train, **kw).cpu()
    pred_test = predict(state.network, split.x_test, **kw).cpu()
    i_tr, i_te = _sample_indices(ep.seed, epoch, split.y_train.numel(), split.y_test.numel(), cfg.eval_sample)
    return {
        "train_error_100": error_rate(pred_train[i_tr], split.y_train[i_tr]),
        "test_error_100": error_rate(pred_test[i_te], split.y_test[i_te]),
        "train_error": error_rate(pred_train, split.y_train),
        "test_error": error_rate(pred_test, split.y_test),
    }


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def _checkpoint_of(state: EPState, cfg: ClassificationConfig) -> Checkpoint:
    ep = cfg.ep
    rng = {"train": state.generator.get_state()}
    if state.device_generator is not None:
        rng["device"] = state.device_generator.get_state()
    return Checkpoint(
        kind=CHECKPOINT_KIND, epoch=state.epoch, params=state.network.state_dict(),
        config=cfg.to_dict(), history=state.history, persistent=state.persistent, rng=rng,
        schedule={"schedule": ep.schedule, "halve_every": ep.halve_every, "alphas": list(ep.alphas),
                  "next_epoch_rates": list(learning_rates(ep.alphas, ep.schedule, ep.halve_every, state.epoch + 1)),
                  "elapsed": state.elapsed},
    )


# Config entries that may change between an interrupted run and its resumption.
_RESUMABLE = {("ep", "epochs"), ("backprop", "epochs"), ("eval_chunk",), ("torch_device",)}


def _diff(a: Any, b: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), (*path, k))
        return out
    return [] if a == b else [(path, a, b)]


def state_from_checkpoint(ckpt: Checkpoint, cfg: ClassificationConfig, split: Split, path: Path) -> EPState:
    """Rebuild an :class:`EPState` from a checkpoint of the same run (config checked): the whole
    network state (crossbars included) and every random stream."""
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
    state = init_state(cfg, split.y_train.numel(), split.x_train.shape[1], split.n_classes)
    want = state.network.state_dict()
    if set(want) != set(ckpt.params) or any(want[k].shape != ckpt.params[k].shape for k in want):
        raise ConfigError(f"{path}: the saved network state does not fit the network of these options")
    state.network.load_state_dict(ckpt.params)
    if cfg.ep.persistent:
        if ckpt.persistent is None or ckpt.persistent.shape != state.persistent.shape:
            raise ConfigError(f"{path}: persistent states missing or of the wrong shape")
        state.persistent.copy_(ckpt.persistent)
    state.generator.set_state(ckpt.rng["train"])
    if state.device_generator is not None:
        if "device" not in ckpt.rng:
            raise ConfigError(f"{path}: the checkpoint holds no crossbar random stream")
        state.device_generator.set_state(ckpt.rng["device"])
    state.epoch = ckpt.epoch
    state.history = list(ckpt.history)
    state.elapsed = float(ckpt.schedule.get("elapsed", 0.0))
    return state


def device_summary(cfg: ClassificationConfig, state: EPState) -> dict[str, Any]:
    """JSON-ready description of an in situ run: the device, the encoding and the counters."""
    from ...devices.toml import device_to_dict

    xc = cfg.device
    return {"model": device_to_dict(xc.device), "w_max": xc.w_max, "signed": xc.signed,
            "pairing": xc.pairing, "scheme": xc.scheme, **run_counters(state.network.holders())}


def run_ep(cfg: ClassificationConfig, split: Split, *, progress: Progress | None = None,
           checkpoint: str | Path | None = None, resume: bool = False,
           stop_after: int | None = None) -> EPState:
    """Train by EP for ``cfg.ep.epochs`` epochs, evaluating and checkpointing after each.

    Args:
        cfg: the run's config (``cfg.device``: in situ).
        split: the data.
        progress: a progress bar (samples/s, running error), or None.
        checkpoint: file written atomically after every epoch (None: no checkpoints).
        resume: continue from ``checkpoint`` (same config apart from the number of epochs); the
            continued run gives the same numbers as an uninterrupted one, in situ too.
        stop_after: stop after this epoch (as if interrupted; for tests).
    """
    t_start = time.perf_counter()
    if resume:
        if checkpoint is None:
            raise ConfigError("resume=True needs a checkpoint path")
        state = state_from_checkpoint(load_checkpoint(checkpoint), cfg, split, Path(checkpoint))
    else:
        state = init_state(cfg, split.y_train.numel(), split.x_train.shape[1], split.n_classes)
    ep = cfg.ep
    n_batches = (split.y_train.numel() + ep.batch_size - 1) // ep.batch_size
    remaining = max(ep.epochs - state.epoch, 0)
    if progress is not None and remaining:
        sizes = "-".join(map(str, state.network.sizes))
        progress.start(f"EP {sizes} ({remaining} epochs)", remaining * n_batches)
    while state.epoch < ep.epochs:  # loop over epochs
        info = ep_epoch(state, ep, split.x_train, split.y_train, split.n_classes, progress=progress)
        t0 = time.perf_counter()
        state.network.refresh()  # in situ: a fresh read (read noise) for the evaluation
        record = {"epoch": state.epoch, **evaluate_epoch(state, cfg, split, state.epoch),
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


def run_backprop(bp: BackpropConfig, hidden: tuple[int, ...], split: Split, *, torch_device_name: str = "cpu",
                 dtype: str = "float32", progress: Progress | None = None) -> dict[str, Any]:
    """Train the feed-forward reference of the same layer sizes on the same split."""
    t0 = time.perf_counter()
    dev, dt = torch_device(torch_device_name), torch_dtype(dtype)
    g = torch.Generator().manual_seed(bp.seed)
    sizes = [split.x_train.shape[1], *hidden, split.n_classes]
    net = LayeredNetwork.glorot(sizes, generator=g, dtype=dt, device=dev)
    rule = Backprop(output=bp.output, loss=bp.loss)
    x, y = split.x_train.to(device=dev, dtype=dt), split.y_train.to(dev)
    x_test, y_test = split.x_test.to(device=dev, dtype=dt), split.y_test.to(dev)
    onehot = torch.nn.functional.one_hot(y, split.n_classes).to(dt)
    n = y.numel()
    n_batches = (n + bp.batch_size - 1) // bp.batch_size
    if progress is not None:
        progress.start(f"backprop {'-'.join(map(str, sizes))} ({bp.epochs} epochs)", bp.epochs)
    epochs = []
    for epoch in range(1, bp.epochs + 1):  # loop over epochs
        te = time.perf_counter()
        lr = layer_rates(learning_rates(bp.alphas, bp.schedule, bp.halve_every, epoch))
        perm = torch.randperm(n, generator=g).to(dev)
        for i in range(n_batches):  # loop over minibatches
            idx = perm[i * bp.batch_size:(i + 1) * bp.batch_size]
            sgd_step(net, rule.gradients(net, x[idx], onehot[idx]), lr)
        with torch.no_grad():
            test_error = error_rate(feedforward(net, x_test, output=bp.output).argmax(1), y_test)
        epochs.append({"epoch": epoch, "test_error": test_error, "seconds": time.perf_counter() - te})
        if progress is not None:
            progress.update(1, f"test error {test_error:.4f}")
    with torch.no_grad():
        train_error = error_rate(feedforward(net, x, output=bp.output).argmax(1), y)
    if progress is not None:
        progress.finish(f"test error {epochs[-1]['test_error']:.4f}")
    import dataclasses

    return {"test_error": epochs[-1]["test_error"], "train_error": train_error,
            "config": json.loads(json.dumps(dataclasses.asdict(bp))), "epochs": epochs,
            "seconds": time.perf_counter() - t0}
