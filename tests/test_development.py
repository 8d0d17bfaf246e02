"""Choosing RBP's default on the development collection: the rule and one small run."""

from __future__ import annotations

import pytest

from memprop.errors import ConfigError, DataError
from memprop.experiments.reconstruction.config import ReconstructionConfig, rbp_rate
from memprop.experiments.reconstruction.development import (
    RATE_EXPONENTS,
    RBP_CANDIDATES,
    TARGET,
    DevelopmentConfig,
    choose,
    choose_first,
    run,
    section,
)


def test_the_rule_takes_the_first_candidate_reaching_the_target_everywhere():
    table = {c: [0.5, 0.6] for c in RBP_CANDIDATES}
    table[RBP_CANDIDATES[4]] = [0.96, 0.99]
    table[RBP_CANDIDATES[5]] = [0.97, 0.99]
    assert choose(table) == (RBP_CANDIDATES[4], True)
    table[RBP_CANDIDATES[1]] = [TARGET, 1.0]
    assert choose(table) == (RBP_CANDIDATES[1], True)


def test_without_a_candidate_reaching_it_the_best_worst_case_is_taken_and_flagged():
    table = {c: [0.5, 0.6] for c in RBP_CANDIDATES}
    table[RBP_CANDIDATES[3]] = [0.9, 0.94]
    assert choose(table) == (RBP_CANDIDATES[3], False)


def test_unknown_sets_are_refused():
    with pytest.raises(ConfigError, match="unknown development set 'letters16'"):
        DevelopmentConfig(sets=("letters16",))


def test_a_small_run_trains_every_candidate_and_ep_on_each_set():
    cfg = DevelopmentConfig(sets=("corr20_n100",), seeds=1, samples=4, epochs=2)
    r = run(cfg)
    rules = [(q["rule"], q["presentation"], q["eta"]) for q in r["rows"]]
    assert len(rules) == 1 + len(RBP_CANDIDATES)
    assert ("ep", "once", 0.01) in rules
    assert all(0.0 <= q["accuracy"] <= 1.0 for q in r["rows"])
    assert (r["chosen"]["presentation"], r["chosen"]["eta"]) in RBP_CANDIDATES
    assert r["round2"] is None and r["chosen"]["exponent"] is None  # no set with N != 100
    text = section(r, command="memprop reproduce development").text
    assert "corr20_n100" in text and "Round 1 chose" in text and "Round 2 was not run" in text


def test_round_two_trains_each_exponent_of_the_rate_at_n_256():
    cfg = DevelopmentConfig(sets=("corr20_n256",), seeds=1, samples=2, epochs=1)
    r = run(cfg)
    base = ReconstructionConfig()
    r2 = [q for q in r["rows"] if q["exponent"] is not None]
    assert sorted(q["exponent"] for q in r2) == sorted(RATE_EXPONENTS)
    for q in r2:  # eta(N) = eta_rbp * (100 / N) ** a, with round 1's presentation
        assert q["eta"] == pytest.approx(base.eta_rbp * (100 / 256) ** q["exponent"])
        assert q["presentation"] == base.rbp_presentation
    assert r["round1"] is None and r["chosen"]["exponent"] in RATE_EXPONENTS
    assert {(q["rule"], q["presentation"], q["eta"]) for q in r["rows"] if q["exponent"] is None} == {
        ("ep", "once", base.eta), ("rbp", "once", base.eta)}  # EP and rbp_paper beside them
    assert "Round 1 was not run" in section(r, command="x").text


def test_the_exponent_rule_prefers_the_first_reaching_the_target_else_the_best_worst_case():
    assert choose_first([(1.0, [0.2, 0.99]), (1.5, [0.96, 0.97]), (2.0, [0.99, 1.0])]) == (1.5, True)
    assert choose_first([(1.0, [0.2, 0.99]), (1.5, [0.90, 0.97]), (2.0, [0.93, 0.94])]) == (2.0, False)


def test_the_rate_scales_with_n_and_is_the_set_rate_at_n_100():
    assert rbp_rate(0.02, 1.5, 100) == 0.02
    assert rbp_rate(0.02, 1.0, 200) == pytest.approx(0.01)
    assert rbp_rate(0.02, 2.0, 50) == pytest.approx(0.08)
    cfg = ReconstructionConfig(eta_rbp=0.03, rbp_rate_exponent=1.0)
    assert cfg.eta_of("rbp", 300) == pytest.approx(0.01)
    assert cfg.eta_of("rbp_paper", 300) == cfg.eta == 0.01  # the paper's rate is never scaled
    with pytest.raises(ConfigError, match="rbp_rate_exponent"):
        ReconstructionConfig(rbp_rate_exponent=-1.0)


def test_check_sets_train_the_shipped_defaults_beside_the_rule_and_never_enter_it(tmp_path):
    import numpy as np

    from memprop.data.patterns import random_correlated

    f = tmp_path / "n64.npy"
    np.save(f, np.asarray(random_correlated(64, 6, 0.3, seed=5, shape=(8, 8)).patterns))
    cfg = DevelopmentConfig(sets=("corr20_n100",), check=(str(f),), seeds=1, samples=2, epochs=1)
    r = run(cfg)
    assert {q["set"] for q in r["rows"]} == {"corr20_n100"}  # the rule sees the collection only
    d = ReconstructionConfig()
    got = {q["variant"]: q["eta"] for q in r["check_rows"]}
    assert got == {"ep": d.eta, "rbp_paper": d.eta, "rbp": pytest.approx(d.eta_of("rbp", 64))}
    text = section(r, command="x").text
    assert "Check sets" in text and str(f) in text
    from memprop.experiments.reconstruction.development import csv_rows

    assert [q["role"] for q in csv_rows(r)] == ["rule"] * len(r["rows"]) + ["check"] * 3
    only = run(DevelopmentConfig(sets=(), check=(str(f),), seeds=1, samples=2, epochs=1))
    assert only["rows"] == [] and len(only["check_rows"]) == 3
    assert "Check sets" in section(only, command="x").text


def test_a_check_set_that_cannot_be_read_is_refused_before_anything_runs(tmp_path):
    from memprop.experiments.reconstruction.development import check

    bad = tmp_path / "bad.npy"
    bad.write_text("not an array")
    with pytest.raises(DataError, match=r"check\[0\]: .*bad.npy"):
        check(DevelopmentConfig(sets=(), check=(str(bad),)))
    with pytest.raises(ConfigError, match="sets must name at least one development set"):
        DevelopmentConfig(sets=())


def test_the_nearest_pattern_reference_is_the_ml_decoder_and_appears_in_the_report():
    import torch

    from memprop.experiments.reconstruction.recall import nearest_pattern

    pats = torch.tensor([[1.0, 1, 1, 1, 1, 1], [1, 1, 1, -1, -1, -1]])
    x = torch.tensor([[1.0, 1, 1, 1, 1, -1],  # one flip from pattern 0: right
                      [1, 1, 1, 1, -1, -1],  # equidistant (a tie): wrong
                      [1, 1, 1, -1, -1, 1]])  # nearer pattern 1 than its original 0: wrong
    assert nearest_pattern(x, pats, pats[[0, 0, 0]]).tolist() == [True, False, False]
    r = run(DevelopmentConfig(sets=("lower16",), seeds=1, samples=3, epochs=1))
    assert 0.0 <= r["nearest_pattern"]["lower16"] <= 1.0
    assert "nearest pattern" in section(r, command="x").text


def test_round_three_screens_every_candidate_and_confirms_the_passing_ones_in_order(monkeypatch):
    from memprop.experiments.reconstruction import round3

    cfg = DevelopmentConfig(sets=("lower16", "corr20_n100"), seeds=1, samples=2, epochs=1, round3=True)
    monkeypatch.setattr(round3, "TARGET", -1.0)  # every candidate passes: the first is confirmed and chosen
    r = run(cfg)
    screened = {(q["rule"], q["presentation"], q["training_input"]) for q in r["rows"] if q["set"] == "lower16"}
    assert screened == {(rule, *c) for rule in round3.RULES for c in round3.CANDIDATES} | {("ep", *round3.REFERENCE)}
    confirmed = {(q["rule"], q["presentation"], q["training_input"]) for q in r["rows"] if q["set"] == "corr20_n100"}
    assert confirmed == {(rule, *round3.CANDIDATES[0]) for rule in round3.RULES}
    assert r["chosen"] == {rule: list(round3.CANDIDATES[0]) for rule in round3.RULES}
    rbp = {q["eta"] for q in r["rows"] if q["rule"] == "rbp"}
    assert rbp == {ReconstructionConfig().eta_of("rbp", 100)}  # rates unchanged: round 2's law
    text = section(r, command="memprop reproduce development --round3").text
    assert "Chosen: until-memorised, clean." in text and "corr20_n100" in text


def test_round_three_keeps_a_rules_default_when_no_candidate_reaches_the_target(monkeypatch):
    from memprop.experiments.reconstruction import round3

    monkeypatch.setattr(round3, "TARGET", 2.0)
    r = run(DevelopmentConfig(sets=("lower16", "corr20_n100"), seeds=1, samples=2, epochs=1, round3=True))
    assert r["chosen"] == {"ep": None, "rbp": None}
    assert {q["set"] for q in r["rows"]} == {"lower16"}  # nothing passed the screening: nothing confirmed
    assert "Default unchanged (target missed)." in section(r, command="x").text


def test_round_three_needs_an_alphabet_and_refuses_check_sets():
    with pytest.raises(ConfigError, match="round 3 screens on alphabet26, lower16"):
        run(DevelopmentConfig(sets=("corr20_n100",), seeds=1, samples=2, epochs=1, round3=True))
    with pytest.raises(ConfigError, match="check: round 3 runs on the development sets only"):
        DevelopmentConfig(sets=("lower16",), check=("x.npy",), round3=True)


def test_the_cli_flag_selects_round_three_and_quick_screens_on_an_alphabet():
    import argparse

    from memprop.cli.reproduce import _development_config, _development_options

    p = argparse.ArgumentParser()
    _development_options(p)
    p.add_argument("--quick", action="store_true")
    for name, default in (("seed", 0), ("torch_device", "cpu"), ("dtype", None)):
        p.add_argument("--" + name.replace("_", "-"), dest=name, default=default)
    cfg = _development_config(p.parse_args(["--round3", "--quick"]))
    assert cfg.round3 and cfg.sets == ("lower16",)
    assert not _development_config(p.parse_args([])).round3
