"""Figure 5 from a classification result (``fig5.json`` or ``classify.json``); never reruns anything."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import PALETTE, figure, integer_ticks, load


def plot_fig5(result: Mapping[str, Any] | str | os.PathLike):
    """Error rates per epoch: 100 random training digits (orange) and 100 random test digits
    (blue), as the paper's Figure 5, with the whole-set errors dashed and the backprop
    reference's held-out error as a grey line."""
    result = load(result)
    epochs = result["epochs"]
    e = [r["epoch"] for r in epochs]
    fig = figure(figsize=(6.0, 4.0), dpi=120)
    ax = fig.subplots()
    train, test = PALETTE[1], PALETTE[0]
    ax.plot(e, [r["train_error_100"] for r in epochs], "s-", color=train, ms=4,
            label="100 random training digits")
    ax.plot(e, [r["test_error_100"] for r in epochs], "o-", color=test, ms=4,
            label="100 random test digits")
    ax.plot(e, [r["train_error"] for r in epochs], "--", color=train, lw=1,
            label=f"all {result['data']['n_train']} training digits")
    ax.plot(e, [r["test_error"] for r in epochs], "--", color=test, lw=1,
            label=f"all {result['data']['n_test']} held-out digits")
    bp = result.get("backprop_reference")
    if bp:
        ax.axhline(bp["test_error"], color="0.5", lw=1, ls=":",
                   label=f"backprop reference, held-out ({bp['test_error']:.3f})")
    sizes = "-".join(str(n) for n in [result["data"]["n_inputs"], *result["config"]["ep"]["hidden"],
                                      result["data"]["n_classes"]])
    ax.set_title(f"EP, {sizes}: error rates per epoch")
    integer_ticks(ax.xaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error rate")
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
