r"""Agreement of RBP and EP with the exact gradient on a random small network (float64).

For each model a random network of ``n`` units and a batch of 4 random input/target pairs are
drawn from ``seed``. The exact reference is :func:`~memprop.learning.implicit_gradient`; the
estimates are RBP (additive model) and EP, one-sided and centred, at beta in {1, 0.1, 0.01,
0.001} (energy and layered models). Agreement is the cosine and the relative error
|est - exact| / |exact| over all parameters concatenated.

Constructions (fixed, documented, not tuned per seed):
- additive: W uniform in [-0.1, 0.1] (the paper's), I uniform in [-1, 1], T uniform in
  [-0.9, 0.9], all n units outputs;
- energy: same W; I uniform in [-1, 1] on the first n/3 units (inputs), outputs the last n/3,
  hidden units between; T uniform in [-0.9, 0.9];
- layered: n inputs -> n hidden -> max(2, n/3) outputs, Glorot weights, x uniform in [0, 1],
  one-hot targets. ``kink_margin`` reports the smallest distance of any unit's input h from the
  hard sigmoid's kinks at 0 and 1 at the free fixed point: J is differentiable, and EP's error
  shrinks like O(beta) / O(beta^2), only for beta small enough that no h crosses a kink.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import choice, positive_int
from ..errors import ConfigError, ConvergenceError
from ..learning import EquilibriumPropagation, RecurrentBackprop, implicit_gradient
from ..networks import AdditiveNetwork, EnergyNetwork, LayeredNetwork, init_symmetric
from ..solvers import AndersonSolver, EulerSolver, relax

TITLE = "RBP and EP against the exact gradient (float64)"

MODELS = ("additive", "energy", "layered")
BETAS = (1.0, 0.1, 0.01, 0.001)
BATCH = 4
TOL = 1e-12  # float64: the estimates' own error (~tol / beta) stays far below what is measured


def agreement(estimate: dict[str, torch.Tensor], exact: dict[str, torch.Tensor]) -> dict[str, float]:
    """Cosine and relative error between two gradient dicts, over all parameters together."""
    a = torch.cat([estimate[k].flatten() for k in exact])
    b = torch.cat([exact[k].flatten() for k in exact])
    cos = float(a @ b / (a.norm() * b.norm()))
    return {"cosine": cos, "rel_error": float((a - b).norm() / b.norm())}


def build(model: str, n: int, seed: int):
    """The random network, input and target of the check (see the module docstring)."""
    choice("model", model, MODELS)
    positive_int("n", n, minimum=3)
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64
    if model == "layered":
        n_out = max(2, n // 3)
        net = LayeredNetwork.glorot([n, n, n_out], generator=g, dtype=dt)
        x = torch.rand(BATCH, n, generator=g, dtype=dt)
        labels = torch.randint(0, n_out, (BATCH,), generator=g)
        target = torch.nn.functional.one_hot(labels, n_out).to(dt)
        return net, x, target
    W = init_symmetric(n, scale=0.1, generator=g, dtype=dt)
    if model == "additive":
        net = AdditiveNetwork(W)
        x = torch.rand(BATCH, n, generator=g, dtype=dt) * 2 - 1
        target = torch.rand(BATCH, n, generator=g, dtype=dt) * 1.8 - 0.9
        return net, x, target
    k = n // 3
    net = EnergyNetwork(W, outputs=slice(n - k, n))
    x = torch.zeros(BATCH, n, dtype=dt)
    x[:, :k] = torch.rand(BATCH, k, generator=g, dtype=dt) * 2 - 1
    target = torch.rand(BATCH, k, generator=g, dtype=dt) * 1.8 - 0.9
    return net, x, target


MAX_N = 2000
"""Largest network of the check (the exact gradient solves dense n x n systems)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GradcheckConfig:
    """Which model, how large, which seed, on which torch device (always float64)."""

    model: str = "additive"
    """``additive`` (RBP), ``energy`` or ``layered`` (EP)."""
    n: int = 30
    """Network size (units; the layered net has n inputs and n hidden units)."""
    seed: int = 0
    torch_device: str = "cpu"

    def __post_init__(self):
        from .._runtime import check_runtime

        choice("model", self.model, MODELS)
        positive_int("n", self.n, minimum=3)
        if self.n > MAX_N:
            raise ConfigError(f"n must be an integer in 3..{MAX_N} (the exact gradient solves dense n x n "
                              f"systems, O(n^3)), got {self.n!r}")
        positive_int("seed", self.seed, minimum=0)
        check_runtime(self.torch_device, None)


def run(cfg: GradcheckConfig, *, progress=None) -> dict:
    """The check of ``cfg.model`` (see :func:`gradcheck`)."""
    return gradcheck(cfg.model, n=cfg.n, seed=cfg.seed, torch_device=cfg.torch_device)


def gradcheck(model: str = "additive", n: int = 30, seed: int = 0, *, torch_device: str = "cpu") -> dict:
    """Run the check for one model; returns the JSON-ready dict of the ``gradcheck`` command."""
    from .._runtime import torch_device as resolve

    net, x, target = build(model, n, seed)
    dev = resolve(torch_device)
    net, x, target = net.to(dev), x.to(dev), target.to(dev)
    solver = AndersonSolver(tol=TOL, max_steps=50_000)
    s0 = net.initial_state((BATCH,), generator=torch.Generator().manual_seed(seed + 1))
    exact = implicit_gradient(net, x, target, solver=solver, s0=s0)
    out: dict = {"model": model, "n": n, "seed": seed, "batch": BATCH, "dtype": "float64", "tol": TOL,
                 "torch_device": str(dev)}
    if model == "additive":
        rule = RecurrentBackprop(solver=solver, side_solver=EulerSolver(dt=0.5, tol=TOL, max_steps=50_000))
        out["rbp"] = agreement(rule.gradients(net, x, target, s0=s0), exact)
        return out
    if model == "layered":
        # The hard sigmoid's kinks: J is smooth only while no unit's input h crosses 0 or 1, so
        # EP estimates at a beta that moves some h across a kink measure a secant, not the
        # gradient. Reported so that users can read the EP agreement against it.
        d = net.drive(x, (BATCH,))
        free = relax(net, solver, s0, drive=d)
        h = net.hidden_input(free.state, d)
        out["kink_margin"] = float(torch.minimum(h.abs(), (h - 1).abs()).min())
    out["ep"] = {}
    for estimator, key in (("one_sided", "one_sided"), ("centred", "centred")):
        rows = {}
        for beta in BETAS:
            rule = EquilibriumPropagation(beta=beta, estimator=estimator, solver=solver)
            try:
                rows[f"{beta:g}"] = agreement(rule.gradients(net, x, target, s0=s0), exact)
            except ConvergenceError as e:  # e.g. -beta = -1 removes the outputs' leak
                rows[f"{beta:g}"] = {"cosine": None, "rel_error": None, "error": str(e)}
        out["ep"][key] = rows
    return out


SWEEP_SETTINGS = {"model": MODELS, "n": int}
"""Settings of a gradcheck sweep task: the model (default additive) and n (default 30)."""


def _flatten(prefix: str, obj, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}/{k}" if prefix else str(k), v, out)
    elif obj is None:
        out[prefix] = float("nan")
    else:
        out[prefix] = obj


def sweep_config(settings: dict, seed: int) -> GradcheckConfig:
    """The config of a sweep task (defaults: model additive, n 30)."""
    return GradcheckConfig(model=settings.get("model", "additive"), n=settings.get("n", 30), seed=seed)


def sweep_task(settings: dict, seed: int) -> dict:
    """:func:`gradcheck` as a sweep task. Metrics: the agreement figures flattened with ``/``,
    e.g. ``rbp/cosine``, ``ep/centred/0.01/cosine``; a failed EP point gives NaN numbers and its
    message in ``.../error``."""
    result = run(sweep_config(settings, seed))
    out: dict = {}
    for key in ("rbp", "ep"):
        if key in result:
            _flatten(key, result[key], out)
    return out
