"""The classification study's claim (Figure 5), judged from the measured numbers, and its report text."""

from __future__ import annotations

from typing import Any

from ..report import Claim, Section
from .config import FIG5_ERROR_BOUND, TITLE


def section(result: dict[str, Any], *, command: str, plots: tuple[str, ...] = ("fig5.png",)) -> Section:
    """Figure 5's report section: the claim, the backprop reference, the protocol."""
    last, first = result["epochs"][-1], result["epochs"][0]
    d = result["data"]
    bp = result["backprop_reference"]
    seed = result["config"]["ep"]["seed"]
    xcfg = result["config"].get("device")
    holds = last["test_error"] <= FIG5_ERROR_BOUND and last["test_error"] < first["test_error"] + 1e-12
    measured = (
        f"after {last['epoch']} epochs (seed {seed}): error {last['train_error_100']:.2f} on 100 random "
        f"training digits and {last['test_error_100']:.2f} on 100 random test digits; "
        f"{last['train_error']:.4f} on all {d['n_train']} training digits and {last['test_error']:.4f} on "
        f"all {d['n_test']} held-out digits (epoch 1: {first['test_error']:.4f}); "
        f"EP training {sum(e['seconds'] for e in result['epochs']):.1f} s"
    )
    if xcfg is not None:
        dev = result["device"]
        measured += (f"; in situ on {dev['model']['model']} (w_max {xcfg['w_max']}, {xcfg['signed']}, "
                     f"{xcfg['scheme']} rounding): {dev['pulses']} pulses, {dev['energy_j']:.3g} J")
    claims = [Claim(
        study="classification",
        claim="Figure 5: EP alone trains the 784-500-5 layered network (digits 0-4, 600 training "
              "digits per class, Scellier & Bengio's settings) to a low error on training and test digits",
        measured=measured, holds=holds, command=command, plots=plots,
        notes=(f"Criterion: held-out error <= {FIG5_ERROR_BOUND} at the last epoch and below epoch 1's "
               f"(the paper gives no number; its figure is read as errors of a few percent)."),
    )]
    if bp is not None:
        claims.append(Claim(
            study="classification",
            claim="(reference, not a claim of the paper) backpropagation on the same layer sizes and split",
            measured=(f"backprop feed-forward {'-'.join(map(str, [d['n_inputs'], *result['config']['ep']['hidden'], d['n_classes']]))}: "
                      f"held-out error {bp['test_error']:.4f} (training {bp['train_error']:.4f}) vs EP "
                      f"{last['test_error']:.4f}; same rates, schedule, minibatch and epochs"),
            holds=None, command=command, plots=plots,
        ))
    text = (
        f"Protocol: {d['source']}, digits 0-4 shuffled (seed {result['config']['data']['split_seed']}), 600 random training "
        f"digits per class, the other {d['n_test']} digits 0-4 held out. 784-500-5 layered network, "
        f"Glorot init, Eq. (21) with epsilon 0.5, 20 free and 4 nudged iterations, beta 1 (one-sided), "
        f"alphas 0.1 and 0.05 halved after every epoch, minibatch 20, persistent free states, "
        f"{result['config']['ep']['epochs']} epochs (Scellier & Bengio's 25 unless --quick/--epochs). Classification: "
        f"argmax of the outputs after {result['config']['ep']['eval_steps']} iterations from the zero state. The curves "
        f"plot the error on 100 random training and 100 random test digits drawn afresh each epoch "
        f"(as Figure 5) and on the whole sets. Run time {result['seconds']:.1f} s on "
        f"{result['threads']} thread(s)."
    )
    return Section(study="classification", title=TITLE, claims=claims, text=text)


def summary_line(result: dict[str, Any]) -> str:
    """One line for ``memprop train classify``: the final errors and the reference's."""
    last = result["epochs"][-1]
    bp = result["backprop_reference"]
    d = result["data"]
    sizes = [d["n_inputs"], *result["config"]["ep"]["hidden"], d["n_classes"]]
    line = (f"EP {'-'.join(map(str, sizes))} after {last['epoch']} epochs: held-out error "
            f"{last['test_error']:.4f} ({d['n_test']} digits), training error {last['train_error']:.4f}")
    if bp is not None:
        line += f"; backprop reference: held-out error {bp['test_error']:.4f}"
    if "device" in result:
        dev = result["device"]
        line += f"; in situ on {dev['model']['model']}: {dev['pulses']} pulses, {dev['energy_j']:.3g} J"
    return line + f"; {result['seconds']:.1f} s"
