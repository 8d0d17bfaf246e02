r"""Connectivity masks for symmetric recurrent networks.

The paper's band connectivity (Zoppo et al. 2020, Sec. "Pattern reconstruction") cuts the K
outer diagonals on each side of W, keeping the entries with |i - j| <= N - 1 - K. It leaves
N^2 - K (K + 1) matrix entries (the paper's "N2K(K+1)"), diagonal included; with no
self-connections the diagonal is then zeroed as well.
"""

from __future__ import annotations

import torch

from .._validate import positive_int
from ..errors import ConfigError


def full_mask(n: int, *, self_connections: bool = False, device=None) -> torch.Tensor:
    """All-to-all connectivity, (n, n) bool; the diagonal only with ``self_connections``."""
    positive_int("n", n)
    mask = torch.ones(n, n, dtype=torch.bool, device=device)
    if not self_connections:
        mask.fill_diagonal_(False)
    return mask


def band_mask(n: int, k: int, *, self_connections: bool = False, device=None) -> torch.Tensor:
    """The paper's band mask: keep |i - j| <= n - 1 - k (k outer diagonals cut on each side)."""
    positive_int("n", n)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n - 1:
        raise ConfigError(f"K (diagonals cut) must be an integer in [0, {n - 1}] for n={n}, got {k!r}")
    idx = torch.arange(n, device=device)
    mask = (idx[:, None] - idx[None, :]).abs() <= n - 1 - k
    if not self_connections:
        mask.fill_diagonal_(False)
    return mask


def band_synapses(n: int, k: int) -> int:
    """The paper's synapse count of the band mask, N^2 - K (K + 1) (diagonal entries included)."""
    positive_int("n", n)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n - 1:
        raise ConfigError(f"K must lie in [0, {n - 1}] for n={n}, got {k!r}")
    return n * n - k * (k + 1)


def check_mask(mask: object, n: int, *, name: str = "mask", configs: int | None = None) -> torch.Tensor:
    """Validate a user's connectivity mask: a symmetric (n, n) boolean tensor, or one per
    configuration, (configs, n, n), for weights with a configuration dimension."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ConfigError(f"{name} must be a boolean torch.Tensor, got {type(mask).__name__}"
                          + (f" of dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else ""))
    allowed = [(n, n)] + ([(configs, n, n)] if configs is not None else [])
    if tuple(mask.shape) not in allowed:
        raise ConfigError(f"{name} must have shape {' or '.join(map(str, allowed))}, got {tuple(mask.shape)}")
    if not bool((mask == mask.mT).all()):
        raise ConfigError(f"{name} must be symmetric (mask[i, j] == mask[j, i]); it is not")
    return mask


def symmetric_gradient(grad: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    r"""Gradient with respect to the shared parameters of a symmetric matrix.

    W is parametrised by w_ij = w_ji (one parameter per pair). If ``grad`` is the gradient with
    respect to W's entries taken as independent (any shape (..., n, n)), the gradient with respect
    to the shared off-diagonal parameter is grad_ij + grad_ji, and a diagonal entry keeps grad_ii.
    Masked entries are set to exactly 0. The result is exactly symmetric in floating point.
    """
    out = grad + grad.mT
    out.diagonal(dim1=-2, dim2=-1).copy_(grad.diagonal(dim1=-2, dim2=-1))
    if mask is not None:  # a select, not a product with the boolean mask (6x slower: a cast per entry)
        out = torch.where(mask, out, 0.0)
    return out


def init_symmetric(
    n: int,
    *,
    scale: float = 0.1,
    mask: torch.Tensor | None = None,
    configs: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Symmetric weights uniform in [-scale, scale] (the paper's [-0.1, 0.1]), masked.

    Returns (n, n), or (configs, n, n) with an independent draw per configuration, on ``device``.
    """
    positive_int("n", n)
    shape = (n, n) if configs is None else (positive_int("configs", configs), n, n)
    u = torch.rand(*shape, generator=generator, dtype=torch.float64) * 2.0 - 1.0
    upper = torch.triu(u)  # draw each pair once, mirror it: exactly symmetric
    w = (upper + torch.triu(u, 1).mT) * scale
    mask = full_mask(n) if mask is None else mask
    return (w * mask.cpu()).to(device=device, dtype=dtype)  # drawn in float64 on the CPU: the same numbers anywhere


def check_weights(W: object, mask: torch.Tensor | None, *, symmetric: bool, name: str = "W") -> torch.Tensor:
    """Validate recurrent weights (n, n) or (C, n, n): square, finite, symmetric, zero off-mask."""
    from .._validate import tensor as check_tensor

    W = check_tensor(name, W, ndim=(2, 3))
    if not W.is_floating_point():
        raise ConfigError(f"{name} must be a floating-point tensor, got dtype {W.dtype}")
    n = W.shape[-1]
    if W.shape[-2] != n:
        raise ConfigError(f"{name} must be square in its last two dimensions, got shape {tuple(W.shape)}")
    if symmetric and not bool((W == W.mT).all()):
        err = float((W - W.mT).abs().max())
        raise ConfigError(
            f"{name} must be symmetric (max |W - W^T| = {err:.3g}); symmetrise it with "
            f"(W + W.mT) / 2 or pass symmetric=False where the model allows it"
        )
    if mask is not None:
        check_mask(mask, n, configs=W.shape[0] if W.ndim == 3 else None)
        off = W.masked_select(~mask.to(W.device).expand_as(W))
        if off.numel() and bool((off != 0).any()):
            raise ConfigError(f"{name} has non-zero entries where the mask is False; multiply by the mask")
    return W
