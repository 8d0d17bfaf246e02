"""Models and solvers follow the device and dtype of their tensors (CUDA when present)."""

import pytest
import torch

from memprop.learning import EquilibriumPropagation
from memprop.networks import EnergyNetwork, init_symmetric
from memprop.solvers import AndersonSolver, relax


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_weights(dtype):
    net = EnergyNetwork(init_symmetric(8, generator=torch.Generator().manual_seed(0), dtype=dtype))
    eq = relax(net, AndersonSolver(tol=1e-5), x=torch.ones(2, 8, dtype=dtype))
    assert eq.state.dtype == dtype and eq.residual.dtype == dtype


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_relax_and_learn_on_cuda():
    W = init_symmetric(16, generator=torch.Generator().manual_seed(0)).cuda()
    net = EnergyNetwork(W, mask=torch.ones(16, 16, dtype=torch.bool, device="cuda").fill_diagonal_(False))
    x = torch.rand(4, 16, device="cuda")
    eq = relax(net, AndersonSolver(tol=1e-5), x=x)
    assert eq.state.is_cuda and eq.all_converged
    grads = EquilibriumPropagation(beta=0.1).gradients(net, x, x)
    assert grads["W"].is_cuda
