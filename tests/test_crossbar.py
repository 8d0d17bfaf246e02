"""Crossbars: weight mapping, pulse schemes, pairing, programming, counters, in situ training."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch

from memprop import EnergyNetwork, EquilibriumPropagation, LayeredNetwork, sgd_step
from memprop.crossbar import (
    Crossbar,
    CrossbarConfig,
    CrossbarStack,
    conductances_to_weights,
    pulse_counts,
    run_counters,
    weights_to_conductances,
)
from memprop.crossbar import crossbar as crossbar_module
from memprop.devices import PRESETS, ConstantStepDevice, ExpStepDevice, IdealDevice, NonIdeal
from memprop.errors import ConfigError
from memprop.networks import band_mask, init_symmetric

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def linear_device(n_states=101, **nonideal):
    return ConstantStepDevice(n_states=n_states, energy_per_pulse=2e-12, nonideal=NonIdeal(**nonideal))


# ------------------------------------------------------------------------------- mapping
@pytest.mark.parametrize("signed", ["differential", "reference"])
def test_weight_conductance_mapping_round_trips_inside_the_range(signed):
    w = (torch.rand(200, generator=gen(), dtype=F64) * 2 - 1) * 0.7
    g, clipped = weights_to_conductances(w, signed=signed, g_min=1e-6, g_max=1e-5, w_max=0.7)
    assert not bool(clipped.any())
    assert bool(((g >= 1e-6 - 1e-18) & (g <= 1e-5 + 1e-18)).all())
    back = conductances_to_weights(g, signed=signed, g_min=1e-6, g_max=1e-5, w_max=0.7)
    torch.testing.assert_close(back, w, rtol=0, atol=1e-12)  # float64 rounding of ~1e-16 relative
    # +/- w_max uses the whole range; beyond it, weights are clipped
    g, clipped = weights_to_conductances(torch.tensor([0.7, -0.7, 2.0], dtype=F64), signed=signed,
                                         g_min=1e-6, g_max=1e-5, w_max=0.7)
    assert clipped.tolist() == [False, False, True]
    assert float(g.max()) == pytest.approx(1e-5) and float(g.min()) == pytest.approx(1e-6)


# ------------------------------------------------------------------------------- pulses
def test_stochastic_rounding_is_unbiased():
    # 200000 draws: the standard error of the mean count is sqrt(f (1 - f) / N) <= 0.0011;
    # a tolerance of 0.006 is > 5 standard errors.
    N = 200_000
    for r in (0.3, -0.3, 2.7, -1.05, 0.0):
        req = torch.full((N,), r, dtype=F64)
        n = pulse_counts(req, "stochastic", generator=gen(5))
        assert float(n.mean()) == pytest.approx(r, abs=0.006)
        assert set(n.unique().tolist()) <= {math.floor(r), math.ceil(r)}
    mixed = torch.rand(N, generator=gen(1), dtype=F64) * 6 - 3
    n = pulse_counts(mixed, "stochastic", generator=gen(2))
    assert float((n - mixed).mean()) == pytest.approx(0.0, abs=0.006)


def test_deterministic_and_amplitude_schemes_and_the_cap():
    r = torch.tensor([0.4, 0.6, -1.5, 2.5, -7.2, 0.0], dtype=F64)
    assert pulse_counts(r, "deterministic").tolist() == [0.0, 1.0, -2.0, 2.0, -7.0, 0.0]
    assert torch.equal(pulse_counts(r, "amplitude"), r)
    assert pulse_counts(r, "deterministic", max_pulses=2).tolist() == [0.0, 1.0, -2.0, 2.0, -2.0, 0.0]


# ------------------------------------------------------------- ideal: bit-identical to sgd_step
def _energy_problem(n=10, configs=None):
    W = init_symmetric(n, generator=gen(1), dtype=F64, configs=configs)
    x = torch.randn(4, n, generator=gen(2), dtype=F64) * 0.5
    return W, x, torch.tanh(2 * x)


def test_ideal_crossbar_training_is_bit_identical_to_sgd_step():
    W, x, y = _energy_problem()
    rule = EquilibriumPropagation(beta=0.2)
    ref = EnergyNetwork(W.clone())
    net = EnergyNetwork(W.clone())
    device_gen = gen(99)
    state = device_gen.get_state()
    xbars = net.on_crossbars(CrossbarConfig(device=IdealDevice()), generator=device_gen)
    assert torch.equal(net.W, ref.W) and net.holder("W") is xbars["W"]
    for step in range(4):
        g_ref = rule.gradients(ref, x, y, generator=gen(step))
        g_net = rule.gradients(net, x, y, generator=gen(step))
        sgd_step(ref, g_ref, 0.05)
        stats = sgd_step(net, g_net, 0.05)
        assert torch.equal(net.W, ref.W), step  # bit-for-bit, not approximately
    assert torch.equal(device_gen.get_state(), state)  # an ideal crossbar draws no random numbers
    assert stats == {}  # exact: in-place arithmetic, no programming
    c = run_counters(xbars)
    assert c["pulses"] == 0 and c["energy_j"] == 0.0 and c["devices"] > 0


def test_ideal_crossbar_matches_sgd_step_with_rates_per_layer():
    net_ref = LayeredNetwork.glorot([6, 5, 3], generator=gen(0))  # float32, as the classifier
    net = LayeredNetwork.glorot([6, 5, 3], generator=gen(0))
    net.on_crossbars(CrossbarConfig(), names=["W0", "W1"])  # biases stay digital
    assert set(net.holders()) == {"W0", "W1"}
    lr = {"W0": 0.1, "W1": 0.05, "b1": 0.1, "b2": 0.05}
    for step in range(3):
        grads = {k: torch.randn(v.shape, generator=gen(10 + step)) for k, v in net.trainable().items()}
        sgd_step(net_ref, grads, lr)
        sgd_step(net, grads, lr)
        for k in net.weight_names:
            assert torch.equal(net.trainable()[k], net_ref.trainable()[k]), k
    with pytest.raises(ConfigError, match="lr"):
        sgd_step(net, grads, -0.1)


# --------------------------------------------------------------------- pairing and masks
def test_one_device_per_pair_keeps_symmetry_two_devices_break_it():
    W, x, y = _energy_problem(12)
    mask = band_mask(12, 3)
    W = W * mask
    dev = linear_device(33, c2c=0.05, d2d=0.2)
    grad = torch.randn(12, 12, generator=gen(3), dtype=F64)
    grad = (grad + grad.T) * mask
    for pairing, symmetric_after in (("one", True), ("two", False)):
        xb = Crossbar(W, CrossbarConfig(device=dev, w_max=0.5, pairing=pairing), mask=mask,
                      symmetric=True, generator=gen(4))
        xb.apply_gradient(grad, 0.05)
        Wh = xb.weights()
        assert torch.equal(Wh, Wh.T) == symmetric_after
        assert bool((Wh[~mask] == 0).all())  # no devices off the mask: exactly zero, diagonal too
        n_pairs = int(mask.triu().sum())
        assert xb.n_devices == 2 * (n_pairs if pairing == "one" else int(mask.sum()))


def test_crossbars_for_detects_symmetric_recurrent_weights_and_masks():
    W, _, _ = _energy_problem(8)
    mask = band_mask(8, 2)
    net = EnergyNetwork(W * mask, mask=mask)
    xbars = net.on_crossbars(CrossbarConfig(device=linear_device(), w_max=0.5), generator=gen())
    xb = xbars["W"]
    assert xb.symmetric and torch.equal(xb.mask, mask)
    layered = LayeredNetwork.glorot([4, 4, 2], generator=gen(1))
    lx = layered.on_crossbars(CrossbarConfig(device=linear_device(), w_max=2.0), generator=gen())
    assert not lx["W0"].symmetric and set(lx) == {"W0", "W1", "b1", "b2"}
    assert set(dict(layered.named_parameters())) == set()  # every weight now on hardware (buffers)


# --------------------------------------------------------------------------- programming
def test_initial_weights_and_clipping_warning():
    W, _, _ = _energy_problem(8)
    xb = Crossbar(W, CrossbarConfig(device=linear_device(), w_max=0.2), symmetric=True)
    torch.testing.assert_close(xb.weights(), W, rtol=0, atol=1e-12)
    with pytest.warns(UserWarning, match="w_max"):
        Crossbar(W, CrossbarConfig(device=linear_device(), w_max=0.01), symmetric=True)


@pytest.mark.parametrize("signed", ["differential", "reference"])
def test_deterministic_programming_of_a_linear_device(signed):
    # One pulse changes a weight by 2 w_max / (n_states - 1) per update on a reference device;
    # a differential pair splits it (+1/2 on G+, -1/2 on G-), so an update of k LSB sends k pulses
    # to each device of the pair.
    n_states, w_max = 101, 1.0
    lsb = 2 * w_max / (n_states - 1)
    W = torch.zeros(3, 4, dtype=F64)
    xb = Crossbar(W, CrossbarConfig(device=linear_device(n_states), w_max=w_max, signed=signed,
                                    scheme="deterministic"))
    k = torch.tensor([[0, 1, 2, -3], [4, -1, 0, 0], [1, 1, 1, 1]], dtype=F64)
    stats = xb.program(k * lsb)
    torch.testing.assert_close(xb.weights(), k * lsb, rtol=0, atol=1e-12)
    per_device = 2 if signed == "differential" else 1
    assert stats.pulses == per_device * int(k.abs().sum())
    assert stats.events == per_device * int((k != 0).sum())
    assert stats.energy_j == pytest.approx(stats.pulses * 2e-12)
    c = xb.counters()
    assert (c["pulses"], c["events"], c["updates"]) == (stats.pulses, stats.events, 1)
    assert c["pulses_per_device_max"] == 4
    counts, edges = xb.conductance_histogram(bins=10)
    assert int(counts.sum()) == xb.n_devices and edges.numel() == 11
    xb.reset_counters()
    assert xb.counters()["pulses"] == 0


def test_zero_update_moves_nothing():
    W, _, _ = _energy_problem(6)
    xb = Crossbar(W, CrossbarConfig(device=linear_device(17, c2c=0.1)), symmetric=True, generator=gen())
    before = xb.g.clone()
    stats = xb.program(torch.zeros_like(W))
    assert torch.equal(xb.g, before) and stats.pulses == 0 and stats.events == 0


def test_stochastic_programming_is_unbiased_on_average():
    # 20000 devices each asked for 0.3 LSB: the mean weight change is 0.3 LSB within 5 standard
    # errors (sqrt(0.21 / N) LSB = 0.0032 LSB per device; differential pairs average two draws).
    n_states, w_max, N = 65, 1.0, 20000
    lsb = 2 * w_max / (n_states - 1)
    W = torch.zeros(N, dtype=F64)
    for signed in ("differential", "reference"):
        xb = Crossbar(W, CrossbarConfig(device=linear_device(n_states), w_max=w_max, signed=signed,
                                        scheme="stochastic"), generator=gen(11))
        xb.program(torch.full_like(W, 0.3 * lsb))
        assert float(xb.weights().mean()) / lsb == pytest.approx(0.3, abs=0.016)
        det = Crossbar(W, CrossbarConfig(device=linear_device(n_states), w_max=w_max, signed=signed,
                                         scheme="deterministic"))
        det.program(torch.full_like(W, 0.3 * lsb))
        assert float(det.weights().abs().max()) == 0.0  # rounds to nothing without stochastic rounding


def test_amplitude_modulation_counts_one_pulse_per_device():
    W = torch.zeros(5, dtype=F64)
    xb = Crossbar(W, CrossbarConfig(device=linear_device(11), signed="reference", scheme="amplitude"))
    stats = xb.program(torch.full_like(W, 0.05))  # 0.25 of a nominal step
    torch.testing.assert_close(xb.weights(), torch.full_like(W, 0.05), rtol=0, atol=1e-12)
    assert stats.pulses == 5 and stats.energy_j == pytest.approx(5 * 0.25 * 2e-12)


def test_stuck_devices_never_move():
    W = torch.zeros(4000, dtype=F64)
    dev = linear_device(33, stuck_fraction=0.3)
    xb = Crossbar(W, CrossbarConfig(device=dev, signed="reference"), generator=gen(2))
    frac = float(xb.stuck.double().mean())
    assert frac == pytest.approx(0.3, abs=0.03)  # binomial SE sqrt(0.21 / 4000) = 0.007
    at_bound = (xb.g[xb.stuck] == dev.g_min) | (xb.g[xb.stuck] == dev.g_max)
    assert bool(at_bound.all())
    before = xb.g.clone()
    xb.program(torch.full_like(W, 0.2))
    assert torch.equal(xb.g[xb.stuck], before[xb.stuck])
    assert bool((xb.g[~xb.stuck] > before[~xb.stuck]).all())


def test_read_noise_and_fresh_reads():
    W, _, _ = _energy_problem(8)
    dev = linear_device(257, read_noise=0.02)
    net = EnergyNetwork(W.clone())
    xbars = net.on_crossbars(CrossbarConfig(device=dev, w_max=0.3), generator=gen(1))
    xb = xbars["W"]
    assert torch.equal(xb.weights(), xb.weights())  # the stored state is noise-free
    first = net.W.clone()
    assert not torch.equal(first, xb.weights())  # the network got one noisy read
    torch.testing.assert_close(first, first.T, rtol=0, atol=0)  # one device per pair: symmetric
    net.refresh(generator=gen(7))
    assert not torch.equal(first, net.W)
    v = torch.randn(3, 8, dtype=F64)
    torch.testing.assert_close(xb.read_matvec(v, generator=gen(3)), v @ xb.read(generator=gen(3)).T)


def test_drift_scales_weights_by_the_power_law():
    # Both devices of a pair drift by the same factor, so w(t) = w_0 (t / t_0)^-nu exactly.
    W, _, _ = _energy_problem(6)
    dev = linear_device(65, drift_nu=0.1)
    xb = Crossbar(W, CrossbarConfig(device=dev, w_max=0.2, seconds_per_update=0.0), symmetric=True)
    w0 = xb.weights()
    xb.advance(100.0)
    torch.testing.assert_close(xb.weights(), w0 * 100.0 ** -0.1, rtol=1e-12, atol=1e-15)


def test_batched_configurations_with_a_mask():
    C, n = 3, 7
    W = init_symmetric(n, generator=gen(1), dtype=F64, configs=C)
    mask = band_mask(n, 2)
    W = W * mask
    xb = Crossbar(W, CrossbarConfig(device=PRESETS["epiram"], w_max=0.3), mask=mask, symmetric=True,
                  generator=gen(2))
    grad = torch.randn(C, n, n, generator=gen(3), dtype=F64)
    xb.apply_gradient((grad + grad.mT) * mask, 0.1)
    Wh = xb.weights()
    assert Wh.shape == (C, n, n) and torch.equal(Wh, Wh.mT) and bool((Wh[:, ~mask] == 0).all())
    with pytest.raises(ConfigError, match="delta_w"):
        xb.program(torch.zeros(n, n, dtype=F64))


def test_in_situ_training_with_many_states_follows_the_ideal_path():
    # 1025-state linear devices with stochastic rounding: the in situ weights stay within a few
    # LSB (2 w_max / 1024 = 0.001) of the exact SGD weights after a few EP steps.
    W, x, y = _energy_problem(10)
    rule = EquilibriumPropagation(beta=0.2)
    ref = EnergyNetwork(W.clone())
    net = EnergyNetwork(W.clone())
    xbars = net.on_crossbars(CrossbarConfig(device=linear_device(1025), w_max=0.5), generator=gen(5))
    for _ in range(5):
        sgd_step(ref, rule.gradients(ref, x, y), 0.05)
        sgd_step(net, rule.gradients(net, x, y), 0.05)
    assert float((net.W - ref.W).abs().max()) < 5e-3
    assert run_counters(xbars)["pulses"] > 0 and run_counters(xbars)["energy_j"] > 0


def test_config_validation():
    with pytest.raises(ConfigError, match="pairing"):
        CrossbarConfig(pairing="three")
    with pytest.raises(ConfigError, match="scheme"):
        CrossbarConfig(scheme="random")
    with pytest.raises(ConfigError, match="w_max"):
        CrossbarConfig(w_max=0.0)
    with pytest.raises(ConfigError, match="device"):
        CrossbarConfig(device="ideal")
    with pytest.raises(ConfigError, match="symmetric"):
        Crossbar(torch.randn(4, 4, generator=gen()), symmetric=True)
    assert dataclasses.replace(CrossbarConfig(), scheme="amplitude").scheme == "amplitude"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Crossbar(torch.zeros(3, dtype=F64), CrossbarConfig(device=ExpStepDevice()))


def test_a_stack_trains_each_configuration_as_its_own_crossbar():
    # Configuration c of a stack equals a crossbar of configs[c] alone with the same generator,
    # and an ideal configuration takes the exact update.
    C, n = 3, 6
    W = init_symmetric(n, generator=gen(1), dtype=F64, configs=C)
    configs = [CrossbarConfig(), CrossbarConfig(device=linear_device(33), w_max=0.3),
               CrossbarConfig(device=linear_device(9, c2c=0.02), w_max=0.3)]
    stack = CrossbarStack(W, configs, symmetric=True, generators=[gen(10 + c) for c in range(C)])
    alone = [Crossbar(W[c], configs[c], symmetric=True, generator=gen(10 + c)) for c in range(C)]
    delta = torch.randn(C, n, n, generator=gen(3), dtype=F64) * 0.01
    delta = delta + delta.mT
    stack.program(delta)
    for c in range(C):
        alone[c].program(delta[c])
        assert torch.equal(stack.weight[c], alone[c].weight), c
    assert torch.equal(stack.weight[0], W[0] + delta[0]) and stack.programmed == [1, 2]
    assert not stack.exact and len(stack.counters()) == C


def _stack_design(w_max=1.0):
    """Configurations that fall into groups of two or more (and some that stay alone)."""
    def xb(device, scheme="stochastic", pairing="one", signed="differential", **kw):
        return CrossbarConfig(device=device, w_max=w_max, scheme=scheme, pairing=pairing, signed=signed, **kw)

    base = dict(g_min=1e-6, g_max=1e-5)
    return [
        xb(IdealDevice()),
        xb(ConstantStepDevice(n_states=4, **base), "deterministic"),
        xb(ConstantStepDevice(n_states=16, **base), "deterministic"),
        xb(ConstantStepDevice(n_states=4, **base)),
        xb(ConstantStepDevice(n_states=64, asymmetry=0.2, **base)),
        xb(ConstantStepDevice(n_states=256, **base), max_pulses=3),
        xb(ConstantStepDevice(n_states=256, nonideal=NonIdeal(c2c=0.03), **base)),
        xb(ConstantStepDevice(n_states=32, nonideal=NonIdeal(c2c=0.1), **base)),
        xb(ConstantStepDevice(n_states=256, nonideal=NonIdeal(d2d=0.3), **base)),
        xb(ConstantStepDevice(n_states=128, nonideal=NonIdeal(d2d=0.1), **base)),
        xb(ConstantStepDevice(n_states=256, nonideal=NonIdeal(stuck_fraction=0.05), **base)),
        xb(ConstantStepDevice(n_states=64, nonideal=NonIdeal(stuck_fraction=0.1), **base)),
        xb(ConstantStepDevice(n_states=256, **base), pairing="two"),
        xb(ConstantStepDevice(n_states=100, **base), pairing="two"),
        xb(ConstantStepDevice(n_states=64, **base), signed="reference"),
        xb(ConstantStepDevice(n_states=20, **base), signed="reference"),
        xb(ExpStepDevice(n_states=50, nl_up=2.0, nl_down=-2.0, **base), "amplitude"),
        xb(ExpStepDevice(n_states=80, nl_up=1.0, nl_down=-3.0, **base), "amplitude"),
        xb(PRESETS["taox-hfox"]),
        xb(PRESETS["pcmo"]),
        xb(ConstantStepDevice(n_states=64, nonideal=NonIdeal(read_noise=0.01), **base)),
    ]


@pytest.mark.parametrize("chunk", [None, 2, 1], ids=["whole-groups", "chunks-of-2", "one-by-one"])
def test_stack_programs_groups_as_one_tensor_bit_identical_to_each_crossbar_alone(chunk, monkeypatch):
    """Configurations of one model, scheme and encoding are programmed as one tensor (per-config
    states, bounds, caps, noise, device draws, faults), in chunks of any size; every number
    equals its crossbar alone, over several updates, whatever shares the stack."""
    n = 12
    if chunk is not None:  # at most ``chunk`` differential pairs of n x n devices per tensor
        monkeypatch.setattr(crossbar_module, "CHUNK_ELEMENTS", chunk * 2 * n * n if chunk > 1 else 1)
    configs = _stack_design()
    C = len(configs)
    W = init_symmetric(n, scale=0.3, generator=gen(1), dtype=F64, configs=C)
    mask = band_mask(n, 2)
    stack = CrossbarStack(W, configs, mask=mask, symmetric=True, generators=[gen(10 + c) for c in range(C)])
    sizes = sorted(len(g.rows) for g in stack._groups)
    assert sum(sizes) == C - 2 and stack._alone == [C - 1]  # all but the ideal and the read-noise one
    limit = crossbar_module.CHUNK_ELEMENTS
    assert all(len(g.rows) == 1 or len(g.rows) * g.xbs[0].g.numel() <= limit for g in stack._groups)
    assert sizes[-1] == (7 if chunk is None else chunk), sizes  # 7: constant step, stochastic, one pair
    alone = [Crossbar(W[c], configs[c], mask=mask, symmetric=True, generator=gen(10 + c)) for c in range(C)]
    for step in range(6):
        delta = torch.randn(C, n, n, generator=gen(3 + step), dtype=F64) * 0.05
        delta = delta + delta.mT
        stats = stack.program(delta)
        for c in range(C):
            st = alone[c].program(delta[c])
            assert torch.equal(stack.weight[c], alone[c].weight), (step, c)
            if c:
                assert (stats[c].pulses, stats[c].events) == (st.pulses, st.events), (step, c)
                assert stats[c].energy_j == pytest.approx(st.energy_j, rel=1e-12)
    for c in range(1, C):
        assert torch.equal(stack.crossbars[c].g, alone[c].g), c
        got, want = stack.crossbars[c].counters(), alone[c].counters()
        assert got == pytest.approx(want, rel=1e-12), c
    # A configuration's numbers do not depend on what shares its group.
    half = CrossbarStack(W[1:4], configs[1:4], mask=mask, symmetric=True, generators=[gen(11 + c) for c in range(3)])
    ref = CrossbarStack(W, configs, mask=mask, symmetric=True, generators=[gen(10 + c) for c in range(C)])
    delta = torch.randn(C, n, n, generator=gen(99), dtype=F64) * 0.05
    delta = delta + delta.mT
    half.program(delta[1:4])
    ref.program(delta)
    assert torch.equal(half.weight, ref.weight[1:4])


def test_a_stack_whose_crossbar_buffers_were_replaced_programs_from_the_new_ones():
    """A group holds its crossbars' state as one tensor with each crossbar's buffer a view; when
    buffers are replaced by new tensors (as moving a module to another device does), the next
    update programs from those, and the stack still equals each crossbar alone."""
    n = 8
    configs = [CrossbarConfig(device=ConstantStepDevice(n_states=s, g_min=1e-6, g_max=1e-5)) for s in (16, 64, 256)]
    C = len(configs)
    W = init_symmetric(n, scale=0.3, generator=gen(1), dtype=F64, configs=C)
    stack = CrossbarStack(W, configs, symmetric=True, generators=[gen(10 + c) for c in range(C)])
    alone = [Crossbar(W[c], configs[c], symmetric=True, generator=gen(10 + c)) for c in range(C)]
    assert [len(g.rows) for g in stack._groups] == [C]
    for step in range(4):
        if step == 2:  # every buffer of every crossbar becomes a new tensor with the same numbers
            for xb in stack.crossbars:
                for name, buf in list(xb.named_buffers(recurse=False)):
                    setattr(xb, name, buf.clone())
        delta = torch.randn(C, n, n, generator=gen(3 + step), dtype=F64) * 0.05
        delta = delta + delta.mT
        stack.program(delta)
        for c in range(C):
            alone[c].program(delta[c])
            assert torch.equal(stack.weight[c], alone[c].weight), (step, c)
            assert torch.equal(stack.crossbars[c].g, alone[c].g), (step, c)
            assert stack.crossbars[c].counters() == pytest.approx(alone[c].counters(), rel=1e-12)


@pytest.mark.parametrize("index", range(len(_stack_design())))
def test_a_crossbar_programmed_in_chunks_gives_the_numbers_of_one_pass(index, monkeypatch):
    """Crossbar.program draws for every device at once and computes in chunks of at most
    CHUNK_ELEMENTS devices: any chunk size gives the same conductances, weights and counts, for
    every device model, scheme, encoding, pairing, noise and fault of the stack design (and
    drift)."""
    n = 12
    configs = _stack_design() + [CrossbarConfig(device=ConstantStepDevice(
        n_states=64, g_min=1e-6, g_max=1e-5, nonideal=NonIdeal(drift_nu=0.05, c2c=0.02)))]
    config = configs[index] if index else configs[-1]  # the ideal point's place: the drifting one
    W = init_symmetric(n, scale=0.3, generator=gen(1), dtype=F64)
    mask = band_mask(n, 3)
    whole, parts = (Crossbar(W, config, mask=mask, symmetric=True, generator=gen(7)) for _ in range(2))
    for step in range(4):
        delta = torch.randn(n, n, generator=gen(3 + step), dtype=F64) * 0.05
        delta = delta + delta.mT
        monkeypatch.setattr(crossbar_module, "CHUNK_ELEMENTS", 1 << 16)
        a = whole.program(delta)
        monkeypatch.setattr(crossbar_module, "CHUNK_ELEMENTS", 37)  # chunks of 18 pairs
        b = parts.program(delta)
        assert (a.pulses, a.events) == (b.pulses, b.events) and a.energy_j == pytest.approx(b.energy_j, rel=1e-12)
        assert torch.equal(whole.weight, parts.weight), step
        whole.advance(2.0), parts.advance(2.0)
    for name in ("g", "pulses", "t_programmed"):
        assert torch.equal(getattr(whole, name), getattr(parts, name)), name
    assert whole.counters() == pytest.approx(parts.counters(), rel=1e-12)


# ------------------------------------------------------------------- moving devices alone
def _models():
    from memprop.devices import PowerStepDevice, SoftBoundsDevice

    base = dict(g_min=1e-6, g_max=1e-5)
    return [ConstantStepDevice(n_states=16, asymmetry=0.2, **base),
            ExpStepDevice(n_states=50, nl_up=2.0, nl_down=-3.0, **base),
            PowerStepDevice(n_states=40, **base), SoftBoundsDevice(n_states=30, **base)]


@pytest.mark.parametrize("model", range(4), ids=["constant", "exponential", "power", "softbounds"])
@pytest.mark.parametrize("per", ["nominal", "configuration", "device"])
def test_moving_devices_alone_get_the_numbers_of_a_pass_over_all(model, per):
    """move_in_place runs the model on the moving devices only, gathered into padded vectors:
    each device gets exactly what the model's pass over every device (move) gives it, with
    parameters per configuration (C, 1, 1, 1) or per device, write noise per configuration,
    stuck devices and a drifted start; the others keep their conductance bit for bit."""
    from memprop.crossbar.crossbar import move_in_place, moving_devices

    dev = _models()[model]
    shape = (3, 2, 7, 9)  # 378 devices: the gathered vectors need padding
    g = dev.g_min + (dev.g_max - dev.g_min) * torch.rand(shape, generator=gen(1), dtype=F64)
    r = torch.randn(shape, generator=gen(2), dtype=F64) * 1.5
    sizes = torch.round(r.abs()) * (torch.rand(shape, generator=gen(3), dtype=F64) < 0.3)  # most stay
    n = torch.copysign(sizes, r)
    nominal = {k: torch.tensor(v, dtype=F64) for k, v in dev.nominal_params().items()}
    if per == "nominal":
        params = nominal
    elif per == "configuration":  # a different value for each configuration, broadcasting
        params = {k: v * torch.tensor([1.0, 1.05, 0.97], dtype=F64).view(3, 1, 1, 1) for k, v in nominal.items()}
    else:
        params = dev.sample_params(shape, generator=gen(4), dtype=F64)
        params = {k: v for k, v in params.items()} if params else {
            k: v * (1 + 0.05 * torch.randn(shape, generator=gen(4), dtype=F64)) for k, v in nominal.items()}
    c2c = torch.tensor([0.0, 0.03, 0.1], dtype=F64).view(3, 1, 1, 1)
    xi = torch.randn(shape, generator=gen(5), dtype=F64)
    start = g * 0.97
    stuck = torch.rand(shape, generator=gen(6)) < 0.1
    expected = torch.where(stuck, g, dev.move(start, n, params, c2c=c2c, xi=xi))
    expected = torch.where(n != 0, expected, g)
    flat, m = moving_devices(sizes)
    assert m == int((sizes != 0).sum()) and flat.numel() % crossbar_module.GATHER_MULTIPLE == 0
    got = g.clone()
    moving, moved = move_in_place(dev, got, sizes, r, params, c2c=c2c, xi=xi, start=start, stuck=stuck)
    assert torch.equal(got, expected)
    assert torch.equal(moving, flat[:m]) and torch.equal(moved, sizes.reshape(-1)[flat[:m]])
    view = g.clone().transpose(1, 3)  # a strided view is updated through its own indices
    move_in_place(dev, view, sizes.transpose(1, 3), r.transpose(1, 3), {k: v.transpose(1, 3) if v.ndim == 4 else v
                  for k, v in params.items()}, c2c=c2c, xi=xi.transpose(1, 3))
    assert torch.equal(view, torch.where(n != 0, dev.move(g, n, params, c2c=c2c, xi=xi), g).transpose(1, 3))


def test_the_gatherer_reads_any_broadcast_shape_at_the_devices():
    from memprop.crossbar.crossbar import gatherer

    shape = (3, 2, 4, 5)
    flat = torch.tensor([0, 7, 19, 33, 64, 101, 119])
    at = gatherer(torch.Size(shape), flat)
    for tshape in [(3, 1, 1, 1), (1, 2, 1, 5), (4, 1), (5,), (3, 2, 4, 5), (1, 1, 1, 1), ()]:
        t = torch.randn(tshape, generator=gen(7), dtype=F64)
        want = t.expand(shape).reshape(-1)[flat] if t.numel() > 1 else t.reshape(())
        assert torch.equal(at(t), want), tshape
    assert at(0.5) == 0.5


@pytest.mark.parametrize("scheme", ["deterministic", "stochastic", "amplitude"])
def test_pulse_sizes_are_the_counts_without_their_sign(scheme):
    from memprop.crossbar.pulses import pulse_sizes

    r = torch.randn(4, 50, generator=gen(8), dtype=F64) * 3
    r[0, :3] = torch.tensor([0.0, -0.0, 2.5])
    cap = torch.tensor([1.0, 2.0, 5.0, 100.0], dtype=F64).view(4, 1)
    draws = torch.rand(4, 50, generator=gen(9), dtype=F64)
    sizes = pulse_sizes(r, scheme, max_pulses=cap, draws=draws)
    rc = torch.maximum(torch.minimum(r, cap), -cap)  # the module docstring's counts, written out
    if scheme == "deterministic":
        want = torch.round(rc)
    elif scheme == "amplitude":
        want = rc
    else:
        m = rc.abs()
        want = torch.sign(rc) * (torch.floor(m) + (draws < m - torch.floor(m)).to(F64))
    assert bool((sizes >= 0).all())
    assert torch.equal(torch.copysign(sizes, r), want)  # -0 equals 0
    assert torch.equal(pulse_counts(r, scheme, max_pulses=cap, draws=draws), want)
