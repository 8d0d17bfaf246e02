"""Presentation "until-memorised": the memorised check, the per-configuration cap, stacking."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from memprop.errors import ConfigError
from memprop.experiments.reconstruction import ReconstructionConfig, TrainConfig
from memprop.experiments.reconstruction.config import load_pattern_set
from memprop.experiments.reconstruction.run import Row, train_stack
from memprop.experiments.reconstruction.training import memorised
from memprop.networks import EnergyNetwork


def test_memorised_means_the_network_holds_the_pattern_without_input():
    xi = torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    n = xi.shape[1]
    strong = 2.0 * (xi.T @ xi) / n * (1 - torch.eye(n, dtype=torch.float64)) * n / 2
    nets = EnergyNetwork(torch.stack([torch.zeros(n, n, dtype=torch.float64), strong]))
    held = memorised(nets, xi.expand(2, 1, n), TrainConfig())
    assert held.tolist() == [[False], [True]]  # W = 0: the state decays to 0 and loses the signs


@pytest.fixture(scope="module")
def letters():
    cfg = ReconstructionConfig(training=TrainConfig(epochs=2), rbp_presentation="until-memorised")
    return cfg, load_pattern_set(cfg.patterns, torch.float32).patterns


def test_a_configuration_trains_the_same_alone_or_beside_others_of_another_presentation(letters):
    cfg, x = letters
    rows = [Row("rbp_paper", 0.01, 0, 0), Row("rbp", 0.015, 0, 0), Row("rbp", 0.015, 90, 0)]
    both = train_stack("rbp", rows, x, cfg)
    alone_once = train_stack("rbp", rows[:1], x, dataclasses.replace(cfg, rbp_presentation=None))
    alone_until = train_stack("rbp", rows[2:], x, cfg)
    assert torch.equal(both["W"][0], alone_once["W"][0])  # once, in a mixed stack = the once path
    assert torch.equal(both["W"][2], alone_until["W"][0])
    h = both["history"]
    assert h["presentations"][0].tolist() == [1.0, 1.0]
    assert all(1.0 <= v <= 5.0 for v in h["presentations"][1:].flatten().tolist())
    # A sparse network cannot hold letters without its input: shown the cap (5) every time.
    assert h["presentations"][2].tolist() == [5.0, 5.0] and h["capped"][2].tolist() == [16.0, 16.0]
    assert h["capped"][0].tolist() == [0.0, 0.0]


def test_presentation_settings_are_checked():
    with pytest.raises(ConfigError, match="presentation"):
        TrainConfig(presentation="twice")
    with pytest.raises(ConfigError, match="max_presentations"):
        TrainConfig(max_presentations=0)
    with pytest.raises(ConfigError, match="rbp_presentation"):
        ReconstructionConfig(rbp_presentation="sometimes")
    cfg = ReconstructionConfig(training=TrainConfig(presentation="until-memorised"))
    assert cfg.presentation_of("rbp") == cfg.presentation_of("ep") == "until-memorised"
    assert ReconstructionConfig(rbp_presentation="until-memorised").presentation_of("rbp_paper") == "once"


def test_the_command_line_takes_the_presentation():
    from memprop.cli import main

    with pytest.raises(SystemExit):
        main(["reproduce", "reconstruction", "--presentation", "twice"])
