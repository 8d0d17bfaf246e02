"""Figures 1-4, Table 1 and the RBP diagnosis from reconstruction results.

Every function takes one result of :func:`memprop.experiments.reconstruction.run` (or its saved
JSON) and returns a Figure; nothing is recomputed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import PALETTE, figure, integer_ticks, load, text_colour

COLORS = {"ep": PALETTE[0], "rbp": PALETTE[1], "rbp_paper": PALETTE[5], "hebbian": "0.45", "storkey": PALETTE[2]}
RULE_MARKERS = {"ep": "o", "rbp": "s", "rbp_paper": "D", "hebbian": "v", "storkey": "^"}
"""Each rule's colour and marker: two cues, so the figures read without colour vision."""
LABELS = {"ep": "EP", "rbp": "RBP (eta_rbp)", "rbp_paper": "RBP (paper eta)",
          "hebbian": "Hebbian", "storkey": "Storkey"}
P_COLORS = PALETTE


def rbp_eta(c: dict) -> float:
    """The ``rbp`` variant's rate at the result's N (older results: ``eta_rbp``)."""
    return c.get("rbp_eta_at_n", c["eta_rbp"])


def _label(result: dict, rule: str) -> str:
    c = result["config"]
    if rule == "rbp":
        return f"RBP (eta = {rbp_eta(c):.4g})"
    if rule == "rbp_paper":
        return f"RBP (paper eta = {c['eta']:g})"
    if rule == "ep":
        return f"EP (eta = {c['eta']:g})"
    return LABELS.get(rule, rule)


def plot_fig1(result: Mapping[str, Any] | str | os.PathLike):
    """The patterns (left) and their Pearson correlation matrix (right), as the paper's Figure 1."""
    import numpy as np

    r = load(result)
    x = np.asarray(r["patterns"])
    h, w = r["shape"]
    P = x.shape[0]
    cols = int(np.ceil(np.sqrt(P)))
    rows = int(np.ceil(P / cols))
    fig = figure(figsize=(10.0, 4.8), dpi=110)
    gs = fig.add_gridspec(rows, 2 * cols + 1)
    for i in range(P):
        ax = fig.add_subplot(gs[i // cols, i % cols])
        ax.imshow(x[i].reshape(h, w), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(r["classes"][i], fontsize=8)
    ax = fig.add_subplot(gs[:, cols + 1:])
    im = ax.imshow(np.asarray(r["correlation"]), cmap="viridis", vmin=-1, vmax=1)
    ax.set_xticks(range(P))
    ax.set_xticklabels(r["classes"], fontsize=7)
    ax.set_yticks(range(P))
    ax.set_yticklabels(r["classes"], fontsize=7)
    ax.set_title(f"Pearson correlation (off-diagonal mean {r['correlation_offdiag']['mean']:.2f})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"Figure 1: {P} patterns, N = {h * w} ({r['config']['patterns_source']})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_table1(result: Mapping[str, Any] | str | os.PathLike):
    """Table 1 as a heat map: accuracy per class (columns) and rule (rows), means on the right."""
    import numpy as np

    r = load(result)
    rules = list(r["accuracy"])
    a = np.asarray([r["accuracy"][k] + [r["mean"][k]] for k in rules])
    from matplotlib import colormaps

    cmap = colormaps["cividis"]
    fig = figure(figsize=(11.5, 0.6 * len(rules) + 1.6))
    ax = fig.subplots()
    im = ax.imshow(a, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="accuracy")
    ax.set_xticks(range(a.shape[1]))
    ax.set_xticklabels([*r["classes"], "mean"], fontsize=8)
    ax.set_yticks(range(len(rules)))
    ax.set_yticklabels([_label(r, k) for k in rules], fontsize=8)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            ax.text(j, i, f"{a[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color=text_colour(a[i, j], cmap), fontweight="bold" if j == a.shape[1] - 1 else None)
    c = r["config"]
    ax.set_title(f"Table 1: accuracy over {r['samples_per_class']} corrupted patterns per class, p = {r['p']}, "
                 f"protocol {c['protocol']}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig2(result: Mapping[str, Any] | str | os.PathLike):
    """Accuracy against the synapse count (bottom axis) and K (top axis), one panel per trained
    rule, one colour per p; Hebbian (dotted) and Storkey (dashed) for reference in every panel."""
    r = load(result)
    pts = r["points"]
    ps = sorted({q["p"] for q in pts})
    trained = [v for v in ("rbp_paper", "rbp", "ep") if any(q["rule"] == v for q in pts)]
    fig = figure(figsize=(4.6 * len(trained), 4.2))
    axes = fig.subplots(1, len(trained), sharey=True, squeeze=False)
    for ax, v in zip(axes[0], trained):
        for i, p in enumerate(ps):
            col = P_COLORS[i % len(P_COLORS)]
            for rule, ms, fill in ((v, 5, col), ("storkey", 4, "none"), ("hebbian", 4, "none")):
                q = sorted((x for x in pts if x["rule"] == rule and x["p"] == p), key=lambda x: x["synapses"])
                if q:
                    ax.plot([x["synapses"] for x in q], [x["accuracy"] for x in q], RULE_MARKERS[rule],
                            linestyle="none", color=col, mfc=fill, ms=ms, label=f"p = {p:g}" if rule == v else None)
        ax.set_title(_label(r, v), fontsize=10)
        ax.set_xlabel("synapses N^2 - K(K+1)")
        ax.grid(alpha=0.3)
        top = ax.twiny()
        top.set_xlim(ax.get_xlim())
        top.set_xticks(r["synapses"])
        top.set_xticklabels([str(k) for k in r["K"]], fontsize=6, rotation=90)
        top.set_xlabel("K (outer diagonals cut)", fontsize=8)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].set_ylim(-0.02, 1.02)
    axes[0][-1].legend(fontsize=7, title="filled: trained rule; open: Storkey (^), Hebbian (v)\n"
                       "markers only: the K grid has gaps", title_fontsize=6)
    c = r["config"]
    fig.suptitle(f"Figure 2: accuracy vs connectivity ({r['samples_per_class']} corrupted patterns per class and "
                 f"point, protocol {c['protocol']})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_fig3(result: Mapping[str, Any] | str | os.PathLike):
    """Mean accuracy against training epoch: EP in blue, RBP in orange (dashed: the paper's eta)."""
    r = load(result)
    fig = figure(figsize=(6.0, 4.0), dpi=110)
    ax = fig.subplots()
    for v, line in (("ep", "-"), ("rbp", "-"), ("rbp_paper", "--")):
        q = [x for x in r["points"] if x["rule"] == v]
        if q:
            ax.plot([x["epoch"] for x in q], [x["accuracy"] for x in q], RULE_MARKERS[v] + line, color=COLORS[v],
                    ms=4, label=_label(r, v))
    c = r["config"]
    integer_ticks(ax.xaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Figure 3: accuracy over {r['samples_per_class']} patterns per class (p = {c['p']}, "
                 f"{c['seeds']} seed(s))", fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig4(result: Mapping[str, Any] | str | os.PathLike):
    """Image grid as the paper's Figure 4: corrupted, Hebbian, Storkey, RBP (both rates), EP, target."""
    import numpy as np

    r = load(result)
    h, w = r["shape"]
    order = [k for k in ("corrupted", "hebbian", "storkey", "rbp_paper", "rbp", "ep", "target") if k in r["images"]]
    m = len(r["classes"])
    fig = figure(figsize=(1.2 * m + 1.6, 1.2 * len(order)))
    axes = fig.subplots(len(order), m, squeeze=False)
    for i, k in enumerate(order):
        for j in range(m):
            ax = axes[i][j]
            ax.imshow(np.asarray(r["images"][k][j]).reshape(h, w), cmap="gray_r", vmin=-1, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ok = r["correct"].get(k)
            if ok is not None:
                for s in ax.spines.values():  # two cues: colour and line style
                    s.set_edgecolor(PALETTE[0] if ok[j] else PALETTE[5])
                    s.set_linestyle("-" if ok[j] else (0, (2, 1.5)))
                    s.set_linewidth(2.5 if ok[j] else 2)
                if not ok[j]:
                    ax.text(0.96, 0.04, "x", transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                            color=PALETTE[5], fontweight="bold")
            if j == 0:
                ax.set_ylabel(_label(r, k) if k in LABELS else k, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(f"Figure 4: p = {r['config']['p']} (solid blue frame: reconstructed exactly; dashed "
                 f"vermillion frame and x: not)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_rbp(result: Mapping[str, Any] | str | os.PathLike):
    """The RBP diagnosis: training loss and update size per epoch, the update per unit of error
    at the snapshots, and the learning-rate sweep."""
    r = load(result)
    fig = figure(figsize=(16.0, 3.8), dpi=110)
    axes = fig.subplots(1, 4)
    styles = {"ep": "-", "rbp": "-", "rbp_paper": "--"}
    for v, hist in r["history"].items():
        e = range(1, len(hist["loss"]) + 1)
        axes[0].semilogy(e, hist["loss"], styles[v], color=COLORS[v], label=_label(r, v))
        axes[1].semilogy(e, hist["update"], styles[v], color=COLORS[v], label=_label(r, v))
    axes[0].set_title("training loss per pattern", fontsize=9)
    axes[1].set_title("update size |eta dW|_F per pattern", fontsize=9)
    for v, snaps in r["snapshots"].items():
        axes[2].plot([s["epoch"] for s in snaps], [s["gain"] for s in snaps], "o" + styles[v], color=COLORS[v],
                     ms=3, label=_label(r, v))
    axes[2].set_title("update per unit of error (gain)", fontsize=9)
    for ax in axes[:3]:
        integer_ticks(ax.xaxis)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    sw = r["eta_sweep"]
    if sw:
        axes[3].plot([s["eta"] for s in sw], [s["accuracy"] for s in sw], "s-", color=COLORS["rbp"],
                     label=f"mean over {len(sw[0]['per_seed'])} seed(s)")
        for s in sw:
            axes[3].plot([s["eta"]] * len(s["per_seed"]), s["per_seed"], "x", color="0.3", ms=4)
        axes[3].axhline(r["target_accuracy"], color="0.5", ls=":", lw=1)
        axes[3].axvline(rbp_eta(r["config"]), color=COLORS["rbp"], ls="--", lw=1, label="rbp's eta")
        axes[3].legend(fontsize=7)
    axes[3].set_xlabel("RBP eta")
    axes[3].set_ylabel("accuracy (Table 1 protocol)")
    axes[3].set_ylim(-0.02, 1.02)
    axes[3].grid(alpha=0.3)
    axes[3].set_title(f"after {r['config']['training']['epochs']} epochs", fontsize=9)
    fig.suptitle("Why RBP learns slowly (full connectivity, first seed)", fontsize=10)
    fig.tight_layout()
    return fig
