"""The command line: gradcheck's JSON shape and the issue's agreement bounds."""

import json

import pytest

from memprop.cli import main


def test_gradcheck_additive_json(capsys):
    assert main(["gradcheck", "--model", "additive", "--n", "12", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "additive" and out["n"] == 12 and out["seed"] == 1
    assert out["rbp"]["cosine"] >= 0.9999 and out["rbp"]["rel_error"] < 1e-6


def test_gradcheck_energy_json_shape(capsys):
    assert main(["gradcheck", "--model", "energy", "--n", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for est in ("one_sided", "centred"):
        assert set(out["ep"][est]) == {"1", "0.1", "0.01", "0.001"}
    assert out["ep"]["centred"]["0.01"]["cosine"] >= 0.999
    # the one-sided error shrinks with beta
    errs = [out["ep"]["one_sided"][b]["rel_error"] for b in ("0.1", "0.01", "0.001")]
    assert errs[0] > errs[1] > errs[2]


@pytest.mark.slow
def test_gradcheck_defaults_meet_the_issue_bounds(capsys):
    assert main(["gradcheck", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"additive", "energy", "layered"}
    assert out["additive"]["rbp"]["cosine"] >= 0.9999
    assert out["energy"]["ep"]["centred"]["0.01"]["cosine"] >= 0.999


def test_bad_choice_lists_valid_ones(capsys):
    with pytest.raises(SystemExit):
        main(["gradcheck", "--model", "hopfield"])
    assert "invalid choice: 'hopfield'" in capsys.readouterr().err


def test_library_errors_become_clean_messages(capsys):
    assert main(["gradcheck", "--n", "2", "--model", "energy"]) == 2
    assert "n must be an integer >= 3, got 2" in capsys.readouterr().err
