"""The classification study as a sweep task: deterministic, and its settings validated."""

import pytest

from memprop.experiments.classification.sweep import SWEEP_SETTINGS, sweep_task
from memprop.experiments.registry import STUDIES
from memprop.sweeps import parse_spec

TINY = {"per_class": 20, "epochs": 1, "hidden": 16, "estimator": "centred"}


def test_sweep_task_is_a_deterministic_function_of_settings_and_seed():
    a = sweep_task(dict(TINY), 3)
    b = sweep_task(dict(TINY), 3)
    assert a["test_error"] == b["test_error"] and a["train_error"] == b["train_error"]
    assert 0.0 <= a["test_error"] <= 1.0 and a["epochs"] == 1


def test_spec_rejects_unknown_classification_setting():
    assert "estimator" in SWEEP_SETTINGS
    # the registry (which sweeps resolve names through) holds this study's task and settings
    assert STUDIES["classification"].sweep_task is sweep_task
    assert STUDIES["classification"].sweep_settings is SWEEP_SETTINGS
    with pytest.raises(Exception, match="hidden_layers"):
        parse_spec({"study": "classification", "seeds": [0], "grid": {"hidden_layers": [1, 2]}},
                   source="inline", check=True)
