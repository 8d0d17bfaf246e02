"""Independent pieces of a run on worker processes: the same numbers as one process."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from memprop._parallel import Workers, map_workers
from memprop.errors import ConfigError
from memprop.experiments import reconstruction as rec
from memprop.experiments.devices import DevicesConfig
from memprop.experiments.reconstruction.config import TrainConfig

run_devices = importlib.import_module("memprop.experiments.devices.run")


def _square(x):
    return x * x


def _fail(x):
    raise ValueError(f"piece {x} failed")


def _numbers(obj):
    """Every number of a result, timing and worker counts left out."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()
                if k not in {"seconds", "training_seconds", "timing", "workers", "threads"}}
    if isinstance(obj, (list, tuple)):
        return [_numbers(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj


def test_map_workers_keeps_order_and_raises_a_pieces_error():
    with Workers(2) as pool:  # one pool for both maps (a spawned worker takes seconds to start)
        assert map_workers(_square, [(i,) for i in range(7)], workers=pool) == [i * i for i in range(7)]
        with pytest.raises(ValueError, match="piece 1 failed"):
            map_workers(_fail, [(1,), (2,)], workers=pool)
    assert map_workers(_square, [(4,)], workers=1) == [16]
    with pytest.raises(ConfigError, match="workers must be an integer >= 1, got 0"):
        Workers(0)


def test_reconstruction_run_on_two_workers_gives_the_numbers_of_one_process():
    cfg = rec.ReconstructionConfig(training=TrainConfig(epochs=3), samples_table1=3, samples_fig2=2, samples_fig3=4,
                                   K=(0, 8, 15), p_fig2=(0.1, 0.2), fig3_epochs=(0, 3), fig4_examples=2,
                                   rbp_etas=(0.01, 0.03), sweep_seeds=1,
                                   patterns="builtin:letters16")
    one = rec.run(cfg)
    with Workers(2) as pool:
        started, claimed = [], []
        ahead, claim = pool.ahead, pool.claim

        def counted_ahead(key, *args):
            if key not in started:  # a task identical to one started (same rule, set and weights) runs once
                started.append(key)
            ahead(key, *args)

        def counted_claim(key):
            f = claim(key)
            if f is not None:
                claimed.append(key)
            return f

        pool.ahead, pool.claim = counted_ahead, counted_claim
        two = rec.run(cfg, workers=pool)
    assert two["timing"]["workers"] == 2 and one["timing"]["workers"] == 1
    assert _numbers(one) == _numbers(two)
    # Each rule's recall started as its stack finished, the stored rules' after the first stack,
    # and every such task was used, none computed twice. A key is (rule, p, samples, ...): Figure
    # 2 (EP and RBP x 3 K x 2 p, Hebbian and Storkey the same), Table 1 (3 samples: the three
    # variants x 5 seeds, Hebbian and Storkey), Figure 3 (4 samples: 3 variants x 5 seeds x 2
    # epochs, less the 5 epoch-0 weights that RBP's two variants share).
    assert sorted(map(str, claimed)) == sorted(map(str, started))
    per_study = {n: sum(1 for k in started if k[2] == n) for n in (2, 3, 4)}
    assert per_study == {2: 24, 3: 3 * cfg.seeds + 2, 4: 3 * cfg.seeds * 2 - cfg.seeds}, per_study
    assert {k[0] for k in started} == {"ep", "rbp", "hebbian", "storkey"}


def test_device_study_pieces_on_two_workers_give_the_numbers_of_one_process(monkeypatch):
    from memprop.experiments.devices import config as dcfg

    small = dict(dcfg.QUICK, states=(16,), presets=(), c2c=(0.03,), d2d=(), stuck=(), epochs=2, samples=2,
                 classification_states=(16,))
    monkeypatch.setattr(dcfg, "QUICK", small)
    cfg = DevicesConfig(quick=True)
    one = run_devices.run(cfg)
    two = run_devices.run(cfg, workers=2)
    assert _numbers(one["points"]) == _numbers(two["points"])
    assert np.isfinite([p["result"] for p in two["points"]]).all()

