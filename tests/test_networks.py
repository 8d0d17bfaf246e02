"""Models: closed-form dynamics against autograd of the energy, masks, validation."""

import pytest
import torch

from memprop import ConfigError
from memprop.networks import (
    ACTIVATIONS,
    AdditiveNetwork,
    AdjointNetwork,
    EnergyNetwork,
    LayeredNetwork,
    band_mask,
    band_synapses,
    full_mask,
    init_symmetric,
)

from helpers import make_model


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_prime_matches_autograd(name):
    g = ACTIVATIONS[name]
    u = torch.linspace(-2.3, 2.7, 41, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(g(u).sum(), u)
    # Exact agreement away from the hard sigmoid's kinks (0 and 1 are not on this grid).
    torch.testing.assert_close(g.prime(u.detach()), auto, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["energy", "energy_hidden", "layered"])
@pytest.mark.parametrize("beta", [0.0, 0.7])
def test_vector_field_is_minus_energy_gradient(kind, beta):
    net, x, t = make_model(kind)
    d = net.drive(x, (x.shape[0],))
    g = torch.Generator().manual_seed(3)
    # Interior states for the layered net (away from the clip), any states otherwise.
    s = torch.rand(x.shape[0], net.n_state, generator=g, dtype=torch.float64)
    s = 0.05 + 0.9 * s if kind == "layered" else 2 * s - 1
    s.requires_grad_(True)
    F = net.total_energy(s, d, beta, t if beta else None).sum()
    (grad,) = torch.autograd.grad(F, s)
    field = net.vector_field(s.detach(), d, beta=beta, target=t if beta else None)
    torch.testing.assert_close(field, -grad, rtol=1e-12, atol=1e-12)  # float64: exact up to rounding


@pytest.mark.parametrize("kind", ["energy", "layered"])
def test_energy_grads_match_autograd(kind):
    net, x, _ = make_model(kind)
    s = net.initial_state((x.shape[0],), generator=torch.Generator().manual_seed(0))
    s = s + 0.3 if kind == "layered" else s
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.trainable().items()}
    live = net.with_parameters(params)
    E = live.energy(s, live.drive(x, (x.shape[0],))).mean()
    auto = dict(zip(params, torch.autograd.grad(E, list(params.values()))))
    closed = net.energy_grads(s, x)
    for k in closed:
        ref = auto[k]
        if kind == "energy":  # shared-parameter convention: g_ij + g_ji off the diagonal
            ref = (ref + ref.T) * net.mask
        torch.testing.assert_close(closed[k], ref, rtol=1e-12, atol=1e-12)


def test_band_mask_matches_paper_count():
    n = 100
    for k in [0, 1, 10, 50, 99]:
        m = band_mask(n, k, self_connections=True)
        assert int(m.sum()) == band_synapses(n, k) == n * n - k * (k + 1)
        i, j = torch.nonzero(m, as_tuple=True)
        assert int((i - j).abs().max()) == n - 1 - k
    assert not bool(band_mask(n, 3).diagonal().any())  # no self-connections by default
    assert int(band_mask(n, 99).sum()) == 0  # only the diagonal survives K = N-1, and it is cut


def test_init_symmetric_is_symmetric_masked_and_in_range(generator):
    mask = band_mask(20, 12)
    W = init_symmetric(20, scale=0.1, mask=mask, configs=3, generator=generator)
    assert W.shape == (3, 20, 20)
    assert torch.equal(W, W.mT)
    assert bool((W[:, ~mask] == 0).all())
    assert float(W.abs().max()) <= 0.1
    assert not torch.equal(W[0], W[1])  # independent draws per configuration


@pytest.mark.parametrize("cls", [AdditiveNetwork, EnergyNetwork])
def test_bad_weights_are_rejected_with_names(cls):
    W = init_symmetric(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    asym = W.clone()
    asym[0, 1] += 1.0
    with pytest.raises(ConfigError, match="W must be symmetric"):
        cls(asym)
    with pytest.raises(ConfigError, match="square"):
        cls(torch.zeros(3, 4))
    nan = W.clone()
    nan[1, 2] = nan[2, 1] = float("nan")
    with pytest.raises(ConfigError, match="W contains 2 NaN"):
        cls(nan)
    with pytest.raises(ConfigError, match="non-zero entries where the mask is False"):
        cls(W + 0.0, mask=band_mask(5, 3))
    with pytest.raises(ConfigError, match=r"mask must have shape \(5, 5\)"):
        cls(W, mask=full_mask(4))


def test_asymmetric_additive_allowed_when_asked():
    W = torch.tensor([[0.0, 0.2], [-0.1, 0.0]], dtype=torch.float64)
    net = AdditiveNetwork(W, symmetric=False)
    assert torch.equal(net.W, W) and net.W.data_ptr() == W.data_ptr()  # a Parameter on the same storage


def test_band_mask_rejects_impossible_k():
    with pytest.raises(ConfigError, match=r"K \(diagonals cut\) must be an integer in \[0, 9\]"):
        band_mask(10, 10)


def test_layered_rejects_mismatched_shapes():
    with pytest.raises(ConfigError, match=r"weights\[1\] has 4 rows but layer 1 has 5 units"):
        LayeredNetwork([torch.zeros(3, 5), torch.zeros(4, 2)], [torch.zeros(5), torch.zeros(2)])
    with pytest.raises(ConfigError, match=r"biases\[0\] must have shape \(5,\)"):
        LayeredNetwork([torch.zeros(3, 5)], [torch.zeros(4)])
    net = LayeredNetwork.glorot([3, 5, 2])
    with pytest.raises(ConfigError, match="x must have last dimension 3"):
        net.drive(torch.zeros(2, 4), (2,))


# --------------------------------------------------------------------------------------------
# In-place fields and the fused kernels against the functional field (and autograd)


def _recurrent(model: str, W: torch.Tensor, shape, generator):
    if model == "additive":
        return AdditiveNetwork(W)
    if model == "energy":
        return EnergyNetwork(W)
    gprime = torch.rand(*shape, W.shape[-1], generator=generator, dtype=W.dtype)  # RBP's side network
    return AdjointNetwork(W, gprime)


@pytest.mark.parametrize("model", ["additive", "energy", "adjoint"])
@pytest.mark.parametrize("configs", [None, 3])
@pytest.mark.parametrize("zero_drive", [False, True])
def test_in_place_field_and_kernel_step_match_the_functional_field(model, configs, zero_drive, generator):
    """float32, the same operations in another order: a few ulps."""
    n, b, h = 10, 7, 0.25
    shape = (b,) if configs is None else (configs, b)
    W = init_symmetric(n, scale=0.5, configs=configs, generator=generator)
    net = _recurrent(model, W, shape, generator)
    s = torch.rand(*shape, n, generator=generator) * 4 - 2
    d = torch.zeros_like(s) if zero_drive else torch.rand(*shape, n, generator=generator) * 2 - 1
    for beta in (0.0, 0.7) if model == "energy" else (0.0,):
        target = torch.rand(*shape, n, generator=generator) * 2 - 1 if beta else None
        ref = net.vector_field(s, d, beta=beta, target=target)  # functional
        buf = torch.full_like(s, float("nan"))
        f = net.vector_field(s, d, beta=beta, target=target, out=buf)
        assert f.data_ptr() == buf.data_ptr()
        torch.testing.assert_close(f, ref, rtol=0, atol=1e-6)
        kernel = net.kernel(d, h=h, beta=beta, target=target)
        u, out = s.clone(), torch.full_like(s, float("nan"))
        r = kernel.advance(u, out, True)
        assert torch.equal(u, s)  # the step does not write its input
        torch.testing.assert_close(out, s + h * ref, rtol=0, atol=1e-6)
        torch.testing.assert_close(r, ref.abs().amax(-1), rtol=0, atol=1e-6)
        assert kernel.advance(u, out, False) is None
        # a kernel restricted to rows steps as the whole kernel on those rows
        rows = torch.tensor([0, 2])
        part = torch.full_like(s[rows], float("nan"))
        kernel.take(rows).advance(s[rows], part, False)
        torch.testing.assert_close(part, out[rows], rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["energy", "energy_hidden"])
@pytest.mark.parametrize("beta", [0.0, 0.7])
def test_in_place_energy_field_is_minus_the_energy_gradient(kind, beta):
    """float64: the in-place field (the kernels') against autograd of F = E + beta C."""
    net, x, t = make_model(kind)
    d = net.drive(x, (x.shape[0],))
    s = (torch.rand(x.shape[0], net.n_state, generator=torch.Generator().manual_seed(4),
                    dtype=torch.float64) * 2 - 1).requires_grad_(True)
    F = net.total_energy(s, d, beta, t if beta else None).sum()
    (grad,) = torch.autograd.grad(F, s)
    f = net.vector_field(s.detach(), d, beta=beta, target=t if beta else None, out=torch.empty_like(grad))
    torch.testing.assert_close(f, -grad, rtol=1e-12, atol=1e-12)
    out = torch.empty_like(grad)
    r = net.kernel(d, h=0.5, beta=beta, target=t if beta else None).advance(s.detach(), out, True)
    torch.testing.assert_close(out, s.detach() - 0.5 * grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r, grad.abs().amax(-1), rtol=1e-12, atol=1e-12)


def test_in_place_additive_field_is_eq_3():
    """float64: -v + tanh(W v + I), written out."""
    net, x, _ = make_model("additive")
    s = torch.rand(x.shape[0], net.n_state, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    f = net.vector_field(s, x, out=torch.empty_like(s))
    torch.testing.assert_close(f, -s + torch.tanh(torch.einsum("ij,bj->bi", net.W, s) + x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["additive", "energy"])
@pytest.mark.parametrize("configs", [None, 2])
def test_asymmetric_hardware_matrix_is_used_as_held(model, configs):
    """symmetric=False (two devices per neuron pair): h_i = sum_j W_ij r_j in every form of the
    field (functional, in place, the kernel's step), float64."""
    g = torch.Generator().manual_seed(6)
    n = 6
    W = (torch.rand(*(() if configs is None else (configs,)), n, n, generator=g, dtype=torch.float64) - 0.5)
    W = W * full_mask(n)
    net = (AdditiveNetwork if model == "additive" else EnergyNetwork)(W, symmetric=False)
    shape = (4,) if configs is None else (configs, 4)
    s = torch.rand(*shape, n, generator=g, dtype=torch.float64) * 2 - 1
    d = torch.rand(*shape, n, generator=g, dtype=torch.float64) * 2 - 1
    Wb = W if configs is None else W[:, None]  # (..., n, n) against states (..., b, n)
    if model == "additive":
        ref = torch.tanh((Wb @ s[..., None])[..., 0] + d) - s
    else:
        ref = (1 - torch.tanh(s) ** 2) * ((Wb @ torch.tanh(s)[..., None])[..., 0] + d) - s
    torch.testing.assert_close(net.vector_field(s, d), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.vector_field(s, d, out=torch.empty_like(s)), ref, rtol=1e-12, atol=1e-12)
    out = torch.empty_like(s)
    net.kernel(d, h=0.5).advance(s, out, False)
    torch.testing.assert_close(out, s + 0.5 * ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("configs", [None, 3])
def test_symmetric_gradient_sums_each_pair_keeps_the_diagonal_and_zeroes_masked_entries(configs, generator):
    """grad_ij + grad_ji off the diagonal, grad_ii on it, exactly symmetric; masked entries exactly
    +0 (never -0 or NaN, whatever the unmasked gradient held there)."""
    from memprop.networks.connectivity import symmetric_gradient

    n = 7
    shape = (n, n) if configs is None else (configs, n, n)
    grad = torch.randn(*shape, generator=generator, dtype=torch.float64)
    mask = band_mask(n, 2)
    grad[..., 0, n - 1] = float("nan")  # a masked corner: the band cuts it
    assert not bool(mask[0, n - 1])
    out = symmetric_gradient(grad, mask)
    assert torch.equal(out, out.mT)
    eye = torch.eye(n, dtype=torch.bool)
    want = torch.where(eye, grad, grad + grad.mT)
    keep = mask.expand(shape)
    assert torch.equal(out[keep], want[keep])
    masked = out[~keep]
    assert torch.equal(masked, torch.zeros_like(masked)) and not bool(torch.signbit(masked).any())
