"""The reconstruction study's claims, judged from the measured numbers, and its report text."""

from __future__ import annotations

from typing import Any

from ..report import Claim, Section
from .config import FAIL, FEW_CONNECTIONS, GOOD, MARGIN, RBP_TARGET, STAGE_NAMES, TITLE


def _first_epoch(points: list[dict[str, Any]], rule: str, level: float) -> int | None:
    hits = [q["epoch"] for q in points if q["rule"] == rule and q["accuracy"] >= level]
    return min(hits) if hits else None


def _at_epoch(points: list[dict[str, Any]], rule: str, epoch: int) -> str:
    """'<accuracy> (epoch e)' at the last measured epoch e <= ``epoch``."""
    c = [q for q in points if q["rule"] == rule and q["epoch"] <= epoch]
    if not c:
        return "n/a"
    q = max(c, key=lambda q: q["epoch"])
    return f"{q['accuracy']:.3f}" + ("" if q["epoch"] == epoch else f" (epoch {q['epoch']})")


def _change(cfg: dict) -> str:
    """The documented change of variant ``rbp`` in words."""
    pres = cfg.get("rbp_presentation") or cfg["training"]["presentation"]
    a = cfg["rbp_rate_exponent"]
    scale = "" if a == 0 else f" * (100 / N) ** {a:g} = {cfg['rbp_eta_at_n']:.4g} at N = {cfg['N']}"
    return f"eta_rbp = {cfg['eta_rbp']:g}{scale}, presentation {pres}"


def claims(t1: dict, f2: dict, f3: dict, diag: dict | None, *, command: str) -> list[Claim]:
    """The paper's claims, each judged from the measured numbers."""
    cfg = t1["config"]
    m = t1["mean"]
    seeds = cfg["seeds"]
    out = []
    desc = (f"{t1['samples_per_class']} corrupted patterns per class, p = {t1['p']}, protocol "
            f"{cfg['protocol']}, {seeds} training seed(s), seed {cfg['seed']}")
    stored_fail = max(m["hebbian"], m["storkey"]) <= FAIL
    for rbp, label in (("rbp_paper", "paper's eta"), ("rbp", f"documented change {_change(cfg)}")):
        eta = cfg["eta"] if rbp == "rbp_paper" else cfg["rbp_eta_at_n"]
        out.append(Claim(
            study="reconstruction",
            claim=f"Table 1: RBP and EP reconstruct the correlated patterns, Hebbian and Storkey fail (RBP with {label})",
            measured=(f"mean accuracy: EP {m['ep']:.3f}, RBP (eta {eta:g}) {m[rbp]:.3f}, Hebbian "
                      f"{m['hebbian']:.3f}, Storkey {m['storkey']:.3f} ({desc})"),
            holds=min(m["ep"], m[rbp]) >= GOOD and stored_fail, command=command, plots=("fig4.png",),
            notes=(f"Table 1 criterion: EP and RBP mean accuracy >= {GOOD}, Hebbian and Storkey <= {FAIL}."
                   if rbp == "rbp" else ""),
        ))
    n = cfg["N"]
    few = [q for q in f2["points"] if q["synapse_fraction"] <= FEW_CONNECTIONS]
    ks = sorted({q["K"] for q in few})
    for rbp in [v for v in ("rbp_paper", "rbp") if v in cfg["fig2_rules"] and "ep" in cfg["fig2_rules"]]:
        ep_few = [q["accuracy"] for q in few if q["rule"] == "ep"]
        rb_few = [q["accuracy"] for q in few if q["rule"] == rbp]
        full = {r: [q["accuracy"] for q in f2["points"] if q["rule"] == r and q["K"] == 0] for r in ("ep", rbp)}
        if ep_few and rb_few:
            a, b = sum(ep_few) / len(ep_few), sum(rb_few) / len(rb_few)
            holds = a - b > MARGIN
            meas = (f"mean over K in {ks} (<= {FEW_CONNECTIONS:.0%} of the {n * n} synapses) and p in "
                    f"{list(cfg['p_fig2'])}: EP {a:.3f}, RBP (eta {cfg['eta'] if rbp == 'rbp_paper' else cfg['rbp_eta_at_n']:.4g}) "
                    f"{b:.3f}; full connectivity (mean over p): EP {sum(full['ep']) / len(full['ep']):.3f}, "
                    f"RBP {sum(full[rbp]) / len(full[rbp]):.3f}")
            mid = [q for q in f2["points"] if FEW_CONNECTIONS < q["synapse_fraction"] <= 0.5]
            mid_ep = [q["accuracy"] for q in mid if q["rule"] == "ep"]
            mid_rb = [q["accuracy"] for q in mid if q["rule"] == rbp]
            if mid_ep and mid_rb:
                meas += (f"; for comparison, with {FEW_CONNECTIONS:.0%}-50 % of the synapses (K in "
                         f"{sorted({q['K'] for q in mid})}): EP {sum(mid_ep) / len(mid_ep):.3f}, RBP "
                         f"{sum(mid_rb) / len(mid_rb):.3f}")
            meas += f" ({f2['samples_per_class']} per class and point)"
        else:
            holds, meas = None, f"no K in the grid leaves <= {FEW_CONNECTIONS:.0%} of the synapses"
        out.append(Claim(
            study="reconstruction",
            claim=f"Figure 2: with few connections EP does better than RBP ({'paper eta' if rbp == 'rbp_paper' else 'eta_rbp'})",
            measured=meas, holds=holds, command=command, plots=("fig2.png",),
            notes=(f"Figure 2 criterion: EP's mean accuracy over the points with <= {FEW_CONNECTIONS:.0%} of the "
                   f"synapses exceeds RBP's by more than {MARGIN}." if rbp == "rbp" else ""),
        ))
    pts = f3["points"]
    for rbp in ("rbp_paper", "rbp"):
        e_ep, e_rb = _first_epoch(pts, "ep", GOOD), _first_epoch(pts, rbp, GOOD)
        holds = e_ep is not None and e_ep <= 50 and e_rb is not None and e_rb >= 200
        def fmt(e):
            return "never (within the measured epochs)" if e is None else f"epoch {e}"
        out.append(Claim(
            study="reconstruction",
            claim=f"Figure 3: EP is good within 50 epochs, RBP needs about 300 ({'paper eta' if rbp == 'rbp_paper' else 'eta_rbp'})",
            measured=(f"first measured epoch with accuracy >= {GOOD}: EP {fmt(e_ep)}, RBP {fmt(e_rb)}; at epoch 50: "
                      f"EP {_at_epoch(pts, 'ep', 50)}, RBP {_at_epoch(pts, rbp, 50)}; at epoch "
                      f"{f3['epochs'][-1]}: EP {_at_epoch(pts, 'ep', f3['epochs'][-1])}, RBP "
                      f"{_at_epoch(pts, rbp, f3['epochs'][-1])} (epochs measured: {f3['epochs']}; "
                      f"{f3['samples_per_class']} per class, {cfg['seeds']} seed(s))"),
            holds=holds, command=command, plots=("fig3.png",),
            notes=(f"Figure 3 criterion: EP reaches {GOOD} by epoch 50 and RBP first reaches it at epoch 200 "
                   f"or later." if rbp == "rbp" else ""),
        ))
    if diag is not None and diag["eta_sweep"]:
        s = diag["smallest_eta_reaching_target"]
        out.append(Claim(
            study="reconstruction",
            claim=f"(ours, for reference) the smallest RBP learning rate of the sweep with Table 1 accuracy >= {RBP_TARGET}",
            measured=("; ".join(f"eta {q['eta']:g}: {q['accuracy']:.3f} (min {q['accuracy_min']:.3f})"
                                for q in diag["eta_sweep"])
                      + f" over {len(diag['eta_sweep'][0]['per_seed'])} seed(s), presentation "
                        f"{cfg['training']['presentation']} -> smallest reaching it with every seed: "
                        f"{s if s is not None else 'none'}"),
            holds=None, command=command, plots=("rbp.png",),
            notes=("No verdict: the default (" + _change(cfg) + ") was chosen on the development collection "
                   "(`memprop reproduce development`, docs/claims.md), not by this sweep on the reported set."),
        ))
    return out


def finding_text(diag: dict[str, Any], t1: dict[str, Any]) -> str:
    """The RBP finding in words; every statement is chosen by the measured numbers."""
    cfg = t1["config"]
    snaps = diag["snapshots"]
    first = min(x["epoch"] for x in snaps["rbp_paper"])
    last = max(x["epoch"] for x in snaps["rbp_paper"])

    def at(v, e):
        return next(x for x in snaps[v] if x["epoch"] == e)

    r0, r1, e0, e1 = at("rbp_paper", first), at("rbp_paper", last), at("ep", first), at("ep", last)
    hist = diag["history"]
    epochs = cfg["training"]["epochs"]
    lines = [
        f"**The RBP question.** With the paper's eta = {cfg['eta']:g}, RBP (variant `rbp_paper`) reaches a "
        f"Table 1 mean accuracy of {t1['mean']['rbp_paper']:.3f} after {epochs} epochs, EP "
        f"{t1['mean']['ep']:.3f}. Measured (full connectivity, first seed; `rbp.json`, `rbp.png`):",
        f"- Training loss per pattern at the free fixed point (pattern as input): RBP "
        f"{hist['rbp_paper']['loss'][0]:.3g} (epoch 1) -> {hist['rbp_paper']['loss'][-1]:.3g} (epoch {epochs}), EP "
        f"{hist['ep']['loss'][0]:.3g} -> {hist['ep']['loss'][-1]:.3g}; fixed points with every sign right at the "
        f"end: RBP {hist['rbp_paper']['fixed_point_ok'][-1]:.0%}, EP {hist['ep']['fixed_point_ok'][-1]:.0%} of the "
        "patterns.",
    ]
    gain = (f"- Update per unit of error, the gain (RBP: |y| / |T - v*|, y the side network's fixed point; EP: "
            f"|rho(v^beta) - rho(v^0)| / beta / |T - v^0|): RBP {r0['gain']:.3f} (epoch {first}) -> "
            f"{r1['gain']:.3f} (epoch {last}), EP {e0['gain']:.3f} -> {e1['gain']:.3f}; slope at the fixed points: "
            f"RBP g'(h) {r0['slope']:.3f} -> {r1['slope']:.3f}, EP rho'(v) {e0['slope']:.3f} -> {e1['slope']:.3f}.")
    if r1["gain"] < 0.5 * r0["gain"] and r1["slope"] < 0.5 * r0["slope"] and r1["gain"] < e1["gain"]:
        gain += (f" RBP's gain fell {r0['gain'] / r1['gain']:.0f}-fold with its slope: as v* = tanh(W v* + I) "
                 f"approaches the +-1 targets tanh saturates, so y ~ g'(h) J shrinks faster than the error J, and "
                 f"the weights grow ever more slowly. EP's gain fell {e0['gain'] / max(e1['gain'], 1e-12):.1f}-fold "
                 f"only: the energy model's state v reaches +-1 unsquashed, where rho'(v) stays "
                 f"{e1['slope']:.2f}. This is why RBP is slow.")
    else:
        gain += " In this run RBP's gain did not collapse with its slope: saturation does not explain the difference."
    lines.append(gain)
    lines.append(
        f"- Update size |eta dW| per pattern in the last epoch: RBP {hist['rbp_paper']['update'][-1]:.3g}, EP "
        f"{hist['ep']['update'][-1]:.3g}. How firmly W alone (I = 0, the test protocol) holds the patterns, "
        f"mean over patterns of min_i xi_i (W xi)_i at epoch {last}: RBP {r1['margin_mean']:.3f}, EP "
        f"{e1['margin_mean']:.3f}.")
    side = snaps["rbp_paper"]
    n_bad = sum(not x["side_converged"] for x in side)
    steps = sum(x["side_steps_mean"] for x in side) / len(side)
    worst = max(x["side_residual_max"] for x in side)
    if n_bad == 0:
        lines.append(f"- The side network converged in every measured relaxation (mean {steps:.0f} Euler steps, worst "
                     f"residual {worst:.1e} <= tol {cfg['training']['tol']:g}): it is not what slows RBP.")
    else:
        lines.append(f"- The side network did not converge at {n_bad} of {len(side)} snapshots (worst residual "
                     f"{worst:.1e}, tol {cfg['training']['tol']:g}).")
    if diag["eta_sweep"]:
        n = len(diag["eta_sweep"][0]["per_seed"])
        sw = "; ".join(f"{q['eta']:g}: {q['accuracy']:.3f} (min {q['accuracy_min']:.3f})" for q in diag["eta_sweep"])
        s = diag["smallest_eta_reaching_target"]
        lines.append(f"- Learning-rate sweep, RBP with everything else as the paper (Table 1's test, mean and "
                     f"minimum over {n} training seed(s)): {sw}. Smallest eta reaching {RBP_TARGET} with every "
                     f"seed: {s if s is not None else 'none'}.")
    lines.append(
        f"**Documented change:** variant `rbp` trains RBP with {_change(cfg)} (config fields `eta_rbp`, "
        f"`rbp_rate_exponent` and `rbp_presentation`, options `--eta-rbp`, `--rbp-rate-exponent` and "
        f"`--rbp-presentation`), chosen by a rule fixed in advance on "
        f"the development collection, not on this set (`memprop reproduce development`, docs/claims.md); "
        f"everything else is as the paper, and the paper's RBP (eta = {cfg['eta']:g}, presentation "
        f"{cfg['training']['presentation']}) stays in every result as `rbp_paper`. Table 1 mean accuracy: `rbp` "
        f"{t1['mean']['rbp']:.3f}, `rbp_paper` {t1['mean']['rbp_paper']:.3f}.")
    return "\n".join(lines)




def section(results: dict[str, dict[str, Any]], *, command: str) -> Section:
    """The study's report section: settings, the RBP finding, timing and the claims."""
    t1, f2, f3, diag = results["table1"], results["fig2"], results["fig3"], results["rbp"]
    tm = results["timing"]
    c = t1["config"]
    text = "\n\n".join([
        (f"Patterns: {c['patterns_source']} ({len(c['classes'])} patterns, N = {c['N']}; mean off-diagonal "
         f"correlation {results['fig1']['correlation_offdiag']['mean']:.2f}). Training as the paper: symmetric W "
         f"uniform in [-{c['training']['init_scale']}, {c['training']['init_scale']}], no self-connections, tanh, "
         f"eta = {c['eta']:g}, {c['training']['epochs']} epochs, patterns in a fixed order as the constant input "
         f"I ({c['training']['training_input']}), random v(0), RBP side state reset to {c['training']['y0']}. "
         f"EP: {c['training']['estimator']} estimator with beta = {c['training']['beta']:g} (Eq. 19 as printed). "
         f"Relaxations: explicit Euler until max |dv/dt| <= {c['training']['tol']:g} in training (dt "
         f"{c['training']['dt_ep']:g} for the energy model, {c['training']['dt_rbp']:g} for the additive model) and "
         f"<= {c['recall']['tol']:g} in tests (dt {c['recall']['dt_ep']:g} and {c['recall']['dt_rbp']:g}). Test protocol: **{c['protocol']}** ({c['protocol_meaning']}); a "
         f"pattern counts as reconstructed only if every pixel of sign(v*) is right. Hebbian and Storkey recall "
         f"with synchronous sign updates (at most {c['recall']['sign_steps']} steps)."
         + (f" {c['quick_note']}." if c.get("quick_note") else "")),
        finding_text(diag, t1),
        *([(f"In situ on `{t1['device']['model']['model']}` (w_max {t1['device']['w_max']:g}, {t1['device']['signed']}, "
            f"{t1['device']['pairing']} device(s) per pair, {t1['device']['scheme']} rounding): every trained "
            f"network programmed pattern by pattern and every stored one written once; training sent "
            f"{t1['device']['pulses']} pulses, {t1['device']['energy_j']:.3g} J.")] if "device" in t1 else []),
        ("Time: {:.0f} s in all, {} torch thread(s) per process, {} worker process(es): ".format(
            tm["total_seconds"], tm["threads"], tm.get("workers", 1))
         + ", ".join(f"{STAGE_NAMES[k]} {v:.0f} s" for k, v in tm["wall_seconds"].items()) + "."),
    ])
    return Section(study="reconstruction", title=TITLE, claims=claims(t1, f2, f3, diag, command=command), text=text)
