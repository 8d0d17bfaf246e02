"""The claims map: intervals and verdicts, cells and readings, the sweep spec, one task per cell kind."""

from __future__ import annotations

import json
import math

import pytest

from memprop.errors import ConfigError
from memprop.experiments.claims import CELLS, ClaimsConfig, judge, readings, spec, sweep_task
from memprop.experiments.claims.config import Reading, well_posed
from memprop.experiments.claims.run import _summarise, judge_all
from memprop.experiments.reconstruction import TrainConfig


def test_t_interval_matches_the_textbook_values():
    m, lo, hi = judge.interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(2) = 4.303
    assert m == 2.0 and hi - m == pytest.approx(4.303 / math.sqrt(3), rel=1e-4) and lo == pytest.approx(2 * m - hi)
    assert judge.interval([0.5]) == (0.5, -math.inf, math.inf)
    assert judge.t975(4) == 2.776 and judge.t975(100) == 1.96


def test_a_verdict_needs_the_whole_interval_on_one_side():
    assert judge.side([0.97, 0.98, 0.99], 0.9)[0] == judge.HOLDS
    assert judge.side([0.5, 0.6, 0.55], 0.9)[0] == judge.FAILS
    assert judge.side([0.8, 1.0], 0.9)[0] == judge.UNDECIDED
    assert judge.side([0.95], 0.9)[0] == judge.UNDECIDED  # one seed: no interval
    assert judge.side([0.1, 0.12], 0.5, above=False)[0] == judge.HOLDS
    assert judge.combine([judge.HOLDS, judge.UNDECIDED]) == judge.UNDECIDED
    assert judge.combine([judge.HOLDS, judge.FAILS]) == judge.FAILS


def _metrics(ep: list[float], rbp: list[float], *, sparse_ep=0.6, sparse_rbp=0.2, hebb=0.1, epochs=(0, 50, 150, 300)):
    """Synthetic task results of the cells of the readings once / beta 1 / one-sided (both protocols,
    both RBP rates alike)."""
    out = {}
    for s, (a, b) in enumerate(zip(ep, rbp)):
        e, r, st = {"N": 100}, {}, {}
        for q in ("initial", "input"):
            e.update({f"ep|{q}|t1": a, f"ep|{q}|f2|0|0.1": a, f"ep|{q}|f2|90|0.1": sparse_ep + 0.01 * s})
            for t in epochs:
                e[f"ep|{q}|f3|{t}"] = a if t >= 50 else 0.0
            for v in ("rbp", "rbp_paper"):
                r.update({f"{v}|{q}|t1": b, f"{v}|{q}|f2|0|0.1": b, f"{v}|{q}|f2|90|0.1": sparse_rbp})
                for t in epochs:
                    r[f"{v}|{q}|f3|{t}"] = b if t >= 300 else 0.5
            st.update({f"hebbian|{q}|t1": hebb, f"storkey|{q}|t1": hebb})
        out[("ep/one_sided/1/once", s)] = e
        out[("rbp/once", s)] = r
        out[("stored", s)] = st
        out[("fig5/one_sided/1", s)] = {"fig5|test_error": 0.03 + 0.001 * s}
    return out


READING = Reading("once", 1.0, "one_sided", "initial", "default")


def test_table1_holds_only_when_both_rules_reconstruct_and_the_stored_ones_fail():
    assert judge.table1(_metrics([0.99, 0.98, 0.99], [0.97, 0.96, 0.98]), READING)["verdict"] == judge.HOLDS
    assert judge.table1(_metrics([0.99, 0.98, 0.99], [0.6, 0.7, 0.65]), READING)["verdict"] == judge.FAILS
    assert judge.table1(_metrics([0.99] * 3, [0.97] * 3, hebb=0.9), READING)["verdict"] == judge.FAILS


def test_figure2_is_judged_from_the_difference_over_the_sparse_working_range():
    m = _metrics([0.99, 0.98, 0.99], [0.97, 0.96, 0.98])
    curve = judge.fig2_curve(m, READING)
    assert [p["K"] for p in curve["points"]] == [0, 90]
    assert [p["in_range"] for p in curve["points"]] == [False, True]  # K = 0 keeps every synapse
    assert judge.fig2(m, READING)["verdict"] == judge.HOLDS
    assert judge.fig2(_metrics([0.99] * 3, [0.97] * 3, sparse_ep=0.2, sparse_rbp=0.6), READING)["verdict"] == judge.FAILS
    # Where both rules fail (<= 0.5) there is nothing to compare.
    out = judge.fig2(_metrics([0.99] * 3, [0.97] * 3, sparse_ep=0.1, sparse_rbp=0.05), READING)
    assert out["verdict"] == judge.UNDECIDED and "no K" in out["detail"]


def test_figure3_needs_its_epochs_and_checks_all_three_conditions():
    m = _metrics([0.99, 0.98, 0.99], [0.97, 0.96, 0.98])
    assert judge.fig3(m, READING)["verdict"] == judge.HOLDS
    short = _metrics([0.99] * 2, [0.97] * 2, epochs=(0, 10, 20))
    out = judge.fig3(short, READING)
    assert out["verdict"] == judge.UNDECIDED and "needs the accuracy at epochs" in out["detail"]


def test_every_reading_gets_a_verdict_for_every_claim_and_ill_posed_ones_say_so():
    rows = judge_all(_metrics([0.99] * 3, [0.97] * 3))
    assert len(rows) == len(readings()) * 4 == 192
    centred1 = [q for q in rows if q["estimator"] == "centred" and q["beta"] == 1.0 and q["claim"] != "fig5"]
    assert centred1 and all(q["verdict"] == judge.NA for q in centred1)
    mine = [q for q in rows if q["reading"] == READING.key]
    assert {q["claim"]: q["verdict"] for q in mine} == {"table1": "holds", "fig2": "holds", "fig3": "holds",
                                                         "fig5": "holds"}
    missing = [q for q in rows if q["presentation"] == "until-memorised" and q["claim"] == "table1"
               and q["verdict"] != judge.NA]
    assert all(q["verdict"] == judge.UNDECIDED and "missing" in q["detail"] for q in missing)


def test_summaries_name_the_choices_that_decide():
    every = [r.key for r in readings()]
    assert _summarise(every) == "every reading"
    assert _summarise([]) == "none"
    once = [k for k in every if k.startswith("once|")]
    assert _summarise(once) == "presentation once"
    pick = [k for k in every if "|beta=0.1|" in k and ("|initial|" in k or "|one_sided|" in k)]
    assert _summarise(pick) == "(beta 0.1, protocol initial) or (beta 0.1, estimator one_sided)"
    # Table 1 of a measured map: the initial protocol with RBP's default rate or until-memorised
    na = [k for k in every if "|beta=1|centred|" in k]
    holds = [k for k in every if "|initial|" in k and k not in na
             and (k.endswith("rbp=default") or k.startswith("until-memorised|"))]
    assert _summarise(holds, na) == ("(protocol initial, RBP rate default) or "
                                     "(presentation until-memorised, protocol initial)")
    assert _summarise(holds) != _summarise(holds, na)  # without the don't-cares it needs more terms
    assert _summarise([k for k in every if k not in na], na) == "every reading"


def test_cells_and_readings():
    assert len(readings()) == 48
    assert "ep/centred/1/once" not in CELLS and "fig5/centred/1" in CELLS
    assert len(CELLS) == 10 + 2 + 1 + 6
    assert not well_posed("centred", 1.0) and well_posed("centred", 0.5) and well_posed("one_sided", 1.0)


@pytest.mark.parametrize("presentation", ["once", "until-memorised"])
def test_the_presentation_reading_trains_both_rbp_rates(presentation):
    # the "RBP rate" reading varies the rate only: rbp and rbp_paper share the cell's presentation
    from memprop.experiments.claims.task import sweep_config

    cfg = sweep_config({"cell": f"rbp/{presentation}"}, 0)
    assert cfg.presentation_of("rbp") == cfg.presentation_of("rbp_paper") == presentation
    assert cfg.eta_of("rbp", 100) == 0.02 and cfg.eta_of("rbp_paper", 100) == 0.01


def test_centred_ep_with_beta_one_is_refused_in_reconstruction():
    with pytest.raises(ConfigError, match="beta = 1 with estimator 'centred'"):
        TrainConfig(estimator="centred", beta=1.0)
    TrainConfig(estimator="centred", beta=0.5)


def test_the_example_spec_is_the_full_map():
    from pathlib import Path

    from memprop.sweeps import load_spec, parse_spec

    path = Path(__file__).resolve().parents[1] / "examples" / "claims_sweep.toml"
    mine = parse_spec(spec(ClaimsConfig())).checked().tasks()
    assert [t.key for t in load_spec(path).checked().tasks()] == [t.key for t in mine] and len(mine) == 19 * 5


def test_a_k_grid_that_does_not_fit_the_patterns_is_refused_before_anything_runs():
    from memprop.experiments.claims import check

    with pytest.raises(ConfigError, match=r"K values must lie in \[0, 99\].*got \[200\]"):
        check(ClaimsConfig(K=(0, 200)))
    with pytest.raises(ConfigError, match="K must include 0"):
        check(ClaimsConfig(K=(80, 90)))
    check(ClaimsConfig(K=(0, 90)))


def test_bad_settings_name_the_argument():
    with pytest.raises(ConfigError, match="seeds"):
        ClaimsConfig(seeds=0)
    with pytest.raises(ConfigError, match="cell"):
        sweep_task({"cell": "ep/bogus"}, 0)
    with pytest.raises(ConfigError, match="K must be comma-separated"):
        sweep_task({**TINY, "cell": "stored", "K": "0,x"}, 0)


TINY = ClaimsConfig(seeds=2, epochs=2, K=(0, 90), p_fig2=(0.1,), fig3_epochs=(0, 2), samples_table1=4,
                    samples_fig2=4, samples_fig3=4, fig5_epochs=1, quick=True).settings()


@pytest.mark.parametrize("cell", ["ep/centred/0.5/until-memorised", "rbp/once", "stored"])
def test_a_reconstruction_cell_reports_every_test_under_both_protocols(cell):
    m = sweep_task({**TINY, "cell": cell}, 1)
    variants = {"ep/centred/0.5/until-memorised": ["ep"], "rbp/once": ["rbp_paper", "rbp"],
                "stored": ["hebbian", "storkey"]}[cell]
    for v in variants:
        for q in ("initial", "input"):
            keys = [f"{v}|{q}|t1", f"{v}|{q}|f2|0|0.1", f"{v}|{q}|f2|90|0.1"]
            if cell != "stored":
                keys += [f"{v}|{q}|f3|0", f"{v}|{q}|f3|2"]
            for k in keys:
                assert 0.0 <= m[k] <= 1.0, k
        if cell != "stored":
            assert m[f"{v}|updates|0"] == 0.0 and m[f"{v}|updates|2"] >= 2 * 16
    if cell.startswith("ep/"):
        assert m["ep|updates|2"] > 2 * 16  # until-memorised: repeated presentations were counted
    if cell == "rbp/once":  # a task is a function of (settings, seed)
        again = sweep_task({**TINY, "cell": cell}, 1)
        assert {k: v for k, v in m.items() if "seconds" not in k} == {k: v for k, v in again.items()
                                                                     if "seconds" not in k}


def test_run_judges_what_the_sweep_engine_returns():
    from memprop.experiments.claims import run, section

    fake = _metrics([0.99, 0.98, 0.99], [0.97, 0.96, 0.98])
    calls = []

    def sweep(spec_data, store, *, workers, progress, fresh):
        calls.append((spec_data["study"], store, workers, fresh))
        rows = [({"cell": c}, s, m) for (c, s), m in fake.items()]
        return rows, {"total": 95, "submitted": 10, "skipped": 85}

    r = run(ClaimsConfig(store="x.db"), workers=2, sweep=sweep)
    assert calls == [("claims", "x.db", 2, False)]
    assert len(r["verdicts"]) == 192 and r["tasks"]["ran"] == 10
    text = section(r, command="memprop reproduce claims").text
    assert "Criteria (written from the paper's words" in text and "once" in text
    with pytest.raises(ConfigError, match="sweep engine"):
        run(ClaimsConfig())


@pytest.mark.slow
def test_the_quick_map_runs_end_to_end_from_the_command_line_and_resumes(tmp_path):
    from memprop.cli import main
    from memprop.sweeps import ResultStore

    out = tmp_path / "claims"
    assert main(["reproduce", "claims", "--quick", "--quiet", "--out", str(out), "--workers", "2"]) == 0
    for name in ("claims.json", "claims.csv", "claims.png", "report.md"):
        assert (out / name).exists(), name
    with ResultStore(out / "claims.db", readonly=True) as store:
        assert len(store.rows(status="done")) == 19 * 2


def test_the_sweep_engine_checks_every_task_of_the_map_before_it_starts():
    from memprop.experiments.claims import quick_claims
    from memprop.sweeps import parse_spec
    from memprop.sweeps.tasks import check_tasks

    check_tasks("claims", parse_spec(spec(quick_claims())).checked().tasks())  # reconstruction and Figure 5 cells


def test_the_sweep_submits_every_cell_once_the_longest_kinds_first():
    from memprop.experiments.claims.config import SCHEDULE

    assert sorted(SCHEDULE) == sorted(CELLS) and len(SCHEDULE) == len(CELLS)
    cells = spec(ClaimsConfig())["grid"]["cell"]
    assert cells == list(SCHEDULE)
    last_until = max(i for i, c in enumerate(cells) if c.endswith("until-memorised"))
    assert last_until < min(i for i, c in enumerate(cells) if c.endswith("/once"))
    assert cells[-1] == "stored"


def test_the_shipped_full_map_judges_again_to_its_shipped_verdicts(tmp_path):
    """docs/claims_map holds the full map's store and its verdicts (docs/claims.md): judging a copy
    of the store trains nothing and gives the same verdict and estimate for every reading and
    claim, so a change to a criterion or to the judge shows here."""
    import csv
    import shutil
    from pathlib import Path

    from memprop.cli import main

    shipped = Path(__file__).resolve().parents[1] / "docs" / "claims_map"
    shutil.copy(shipped / "claims.db", tmp_path / "claims.db")
    assert main(["reproduce", "claims", "--quiet", "--out", str(tmp_path)]) == 0

    def table(path):
        with open(path, newline="") as f:
            return {(q["reading"], q["claim"]): (q["verdict"], q["estimate"], q["seeds"]) for q in csv.DictReader(f)}

    again, before = table(tmp_path / "claims.csv"), table(shipped / "claims.csv")
    assert len(before) == 192 and again == before
    assert json.loads((tmp_path / "claims.json").read_text())["tasks"]["ran"] == 0
