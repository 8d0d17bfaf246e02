"""Choosing RBP's default on the development collection: the rule and one small run."""

from __future__ import annotations

import pytest

from memprop.errors import ConfigError
from memprop.experiments.reconstruction.development import (
    RBP_CANDIDATES,
    TARGET,
    DevelopmentConfig,
    choose,
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
    text = section(r, command="memprop reproduce development").text
    assert "corr20_n100" in text and "Chosen:" in text
