"""Networks are torch.nn.Modules: parameters, state_dict, .to(), deepcopy, weights on crossbars."""

from __future__ import annotations

import copy

import pytest
import torch

from memprop.crossbar import Crossbar, CrossbarConfig
from memprop.devices import ConstantStepDevice, NonIdeal
from memprop.errors import ConfigError
from memprop.learning import EquilibriumPropagation, sgd_step
from memprop.networks import (
    AdditiveNetwork,
    EnergyNetwork,
    HopfieldNetwork,
    LayeredNetwork,
    band_mask,
    init_symmetric,
)
from memprop.solvers import AndersonSolver, EulerSolver, relax


def _energy(n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    mask = band_mask(n, 2)
    return EnergyNetwork(init_symmetric(n, mask=mask, generator=g, dtype=dtype), mask=mask)


def _device(read_noise=0.0):
    return CrossbarConfig(device=ConstantStepDevice(n_states=129, nonideal=NonIdeal(c2c=0.01, read_noise=read_noise)),
                          w_max=0.5)


@pytest.mark.parametrize("make", [
    lambda: _energy(),
    lambda: AdditiveNetwork(init_symmetric(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)),
    lambda: HopfieldNetwork(init_symmetric(6, generator=torch.Generator().manual_seed(1))),
    lambda: LayeredNetwork.glorot([5, 4, 3], generator=torch.Generator().manual_seed(2)),
])
def test_weights_are_parameters_without_autograd_and_masks_are_buffers(make):
    net = make()
    params = dict(net.named_parameters())
    assert set(params) == set(net.weight_names) == set(net.trainable())
    assert all(not p.requires_grad for p in params.values())
    if hasattr(net, "mask"):
        assert "mask" in dict(net.named_buffers())
    state = net.state_dict()
    other = copy.deepcopy(net)
    for p in other.parameters():
        p.data.add_(1.0)
    other.load_state_dict(state)
    assert all(torch.equal(other.trainable()[k], net.trainable()[k]) for k in net.weight_names)


def test_to_dtype_and_deepcopy_give_independent_networks():
    net = _energy(dtype=torch.float32)
    net64 = copy.deepcopy(net).to(torch.float64)
    assert net.W.dtype == torch.float32 and net64.W.dtype == torch.float64
    assert net64.mask.dtype == torch.bool  # .to(dtype) leaves bool buffers alone
    net64.W.data.mul_(2.0)
    assert not torch.equal(net.W.double(), net64.W)
    x = torch.rand(3, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    eq = relax(net64, EulerSolver(dt=0.5, tol=1e-9, max_steps=10_000), x=x)
    assert eq.state.dtype == torch.float64


def test_a_crossbar_is_a_submodule_read_through_the_same_attribute():
    net = _energy()
    W_exact = net.W.detach().clone()
    xbars = net.on_crossbars(_device(), generator=torch.Generator().manual_seed(4))
    assert isinstance(net.W, torch.Tensor) and net.holder("W") is xbars["W"] is net.get_submodule("W")
    assert net.get_submodule("W") is dict(net.named_modules())["W"]
    torch.testing.assert_close(net.W, W_exact, rtol=0, atol=0.5 / 128)  # one LSB of 129 states
    assert "W" not in dict(net.named_parameters())
    keys = set(net.state_dict())
    assert {"W.g", "W.weight_", "W.n_pulses", "mask"} <= keys
    # The dynamics read the hardware: a relaxation equals one on the exact read-out.
    x = torch.rand(2, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    solver = AndersonSolver(tol=1e-10)
    ref = EnergyNetwork(net.W.detach().clone(), mask=net.mask)
    s0 = torch.zeros_like(x)
    torch.testing.assert_close(relax(net, solver, s0, x).state, relax(ref, solver, s0, x).state, rtol=0, atol=0)


def test_state_dict_with_crossbars_round_trips_bitwise_and_training_continues_identically():
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    rule = EquilibriumPropagation(beta=0.3, solver=AndersonSolver(tol=1e-10))

    def fresh():
        net = _energy()
        gen = torch.Generator().manual_seed(7)
        net.on_crossbars(_device(read_noise=0.01), generator=gen)
        return net, gen

    a, ga = fresh()
    for _ in range(2):
        sgd_step(a, rule.gradients(a, x, torch.tanh(x)), 0.1)
    saved, gstate = copy.deepcopy(a.state_dict()), ga.get_state()
    b, gb = fresh()  # a new network of the same construction, then the saved state
    b.load_state_dict(saved)
    gb.set_state(gstate)
    for net in (a, b):
        for _ in range(2):
            sgd_step(net, rule.gradients(net, x, torch.tanh(x)), 0.1)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert a.holder("W").counters()["pulses"] > 0


def test_deepcopy_of_a_network_on_crossbars_copies_the_random_stream():
    net = _energy()
    net.on_crossbars(_device(read_noise=0.02), generator=torch.Generator().manual_seed(8))
    twin = copy.deepcopy(net)
    net.refresh()
    twin.refresh()
    assert torch.equal(net.W, twin.W)  # the same next draw
    assert twin.holder("W").generator is not net.holder("W").generator


def test_place_checks_the_name_and_the_shape():
    net = _energy()
    with pytest.raises(ConfigError, match="not a trainable tensor"):
        net.place("V", Crossbar(net.W.detach().clone(), symmetric=True))
    with pytest.raises(ConfigError, match="holds shape"):
        net.place("W", Crossbar(torch.zeros(3, 3, dtype=torch.float64)))
    with pytest.raises(ConfigError, match="weight holder"):
        net.place("W", torch.zeros(8, 8))


def test_two_devices_per_pair_make_the_dynamics_read_an_asymmetric_matrix():
    net = _energy()
    cfg = CrossbarConfig(device=ConstantStepDevice(n_states=33, nonideal=NonIdeal(d2d=0.3)), w_max=0.5,
                         pairing="two")
    net.on_crossbars(cfg, generator=torch.Generator().manual_seed(9))
    assert not torch.equal(net.W, net.W.T) and not net.readout_symmetric
    s = torch.rand(2, 8, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    d = torch.zeros_like(s)
    f = net.vector_field(s, d, out=torch.empty_like(s))  # the fused in-place field
    g = torch.tanh(s)
    torch.testing.assert_close(f, (1 - g * g) * (g @ net.W.T) - s, rtol=1e-12, atol=1e-12)
