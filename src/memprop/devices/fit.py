r"""Fit a device model to measured conductance against pulse number.

Data (CSV, one header row; ``#`` lines are comments): an optional ``pulse`` column (pulse number;
default: the row number) and one column per measured sweep, in siemens: potentiation sweeps
named ``ltp...``, ``pot...`` or ``up...`` (conductance rising), depression sweeps ``ltd...``,
``dep...`` or ``down...`` (falling); several cycles as ``ltp_1, ltd_1, ltp_2, ...``. A column may
be shorter than the others (trailing cells empty). The columns are taken in order as one
continuous cycling of the device: the first sweep starts at the bound it moves away from (G_min
for potentiation), each later sweep where the previous one ended. For the models with hard
bounds (``constant-step``, ``exponential``), as in the standard protocol and NeuroSim's fit, one
sweep spans the range: P_+ and P_- are the longest sweeps' pulse counts (the range and the
number of states cannot be told apart otherwise); ``soft-bounds`` and ``power`` fit them.

Method: the noise-free model is u_k = f(p_k; theta), chained over the sweeps with the device's
own closed form (``_pulse_train``), and g = G_min + (G_max - G_min) u. For fixed shape parameters
theta the data are linear in (G_min, G_max - G_min), which are solved for in closed form
(variable projection); theta is found by a grid over its range (random points for ``power``)
and refined with L-BFGS from the best few. The cycle-to-cycle spread comes from the one-step
residuals: from each
measured point, the model's prediction for the next one, e_k = g_{k+1} - g_hat_{k+1}, gives
sigma_c2c = rms(e_k / sqrt(Delta p_k)) / (G_max - G_min) (the write noise of
:mod:`memprop.devices.nonideal` adds N(0, sigma_c2c (G_max - G_min)) per pulse).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..limits import FILE_BYTES_ENV, limit
from .base import AbstractPulsedDevice, pulse_energy
from .constant import ConstantStepDevice
from .exponential import NL_MAX, ExpStepDevice
from .nonideal import NonIdeal
from .power import GAMMA_MAX, PowerStepDevice
from .softbounds import SoftBoundsDevice

FIT_MODELS: dict[str, type[AbstractPulsedDevice]] = {
    cls.MODEL: cls for cls in (ConstantStepDevice, SoftBoundsDevice, ExpStepDevice, PowerStepDevice)
}
"""Models ``memprop device fit --model`` accepts."""

MIN_POINTS = 5
"""Fewest points a sweep may have (the start plus four pulses)."""
MIN_RANK_CORRELATION = 0.5
"""|Spearman rank correlation| with the pulse number a sweep needs to count as monotone."""

_UP_PREFIXES = ("ltp", "pot", "up")
_DOWN_PREFIXES = ("ltd", "dep", "down")
_PULSE_NAMES = ("pulse", "pulses", "pulse_number", "n")


@dataclass(frozen=True, slots=True)
class Sweep:
    """One measured sweep: conductances g (siemens) after ``pulses`` pulses (first = 0)."""

    name: str
    direction: int
    """+1 potentiation, -1 depression."""
    pulses: np.ndarray
    g: np.ndarray


@dataclass(frozen=True, slots=True)
class Sweeps:
    """The sweeps of one measurement file."""

    source: str
    sweeps: tuple[Sweep, ...]

    def longest(self, direction: int) -> float:
        return max(float(s.pulses[-1]) for s in self.sweeps if s.direction == direction)


@dataclass(frozen=True, slots=True)
class FitResult:
    """A fitted device and how well it fits."""

    device: AbstractPulsedDevice
    rmse: float
    """Root-mean-square deviation of the noise-free model from the data, in siemens."""
    c2c: float
    """Cycle-to-cycle spread per pulse from the one-step residuals, fraction of the range."""
    n_points: int
    source: str
    shape: dict[str, float]
    """The fitted shape parameters before rounding (P_up, P_down and the model's own)."""

    def summary(self) -> dict[str, object]:
        """JSON-ready summary: model, fitted fields, rmse and points."""
        fields = {f.name: getattr(self.device, f.name) for f in dataclasses.fields(self.device)
                  if f.name != "nonideal"}
        return {"source": self.source, "model": self.device.MODEL, **fields, "c2c": self.c2c,
                "rmse_siemens": self.rmse, "relative_rmse": self.rmse / (self.device.g_max - self.device.g_min),
                "points": self.n_points, "fitted_shape": self.shape}


# ------------------------------------------------------------------------------ reading data
def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (for Spearman's rank correlation)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return 0.0 if denom == 0 else float((rx * ry).sum()) / denom


def _direction(name: str) -> int | None:
    low = name.lower()
    if low.startswith(_UP_PREFIXES):
        return 1
    if low.startswith(_DOWN_PREFIXES):
        return -1
    return None


def read_sweeps(path: str | os.PathLike) -> Sweeps:
    """Read and check a measurement CSV (format in the module docstring).

    Raises:
        DataError: a missing file, an unknown column, a non-number, NaN, a gap, too few points,
            a sweep that does not rise (potentiation) or fall (depression), or a missing
            direction; the message names the file, the column and the problem.
    """
    path = Path(path)
    src = str(path)
    if path.is_dir():
        raise DataError(f"{src}: is a folder; give the CSV file of the measured sweeps")
    if not path.is_file():
        raise DataError(f"{src}: no such file" if not path.exists() else f"{src}: not a plain file")
    cap = limit(FILE_BYTES_ENV)
    if path.stat().st_size > cap:
        raise DataError(f"{src}: larger than the limit {cap:,} bytes; set {FILE_BYTES_ENV} to raise it")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)
                    and not r[0].lstrip().startswith("#")]
    except UnicodeDecodeError as e:
        raise DataError(f"{src}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except (OSError, csv.Error) as e:
        raise DataError(f"{src}: cannot read as CSV ({e})") from None
    if len(rows) < 2:
        raise DataError(f"{src}: needs a header row and data rows, found {len(rows)} row(s)")
    header = [h.strip() for h in rows[0]]
    if len(set(h.lower() for h in header)) != len(header):
        raise DataError(f"{src}: duplicate column names in the header {header}")
    body = rows[1:]
    pulse_col = next((i for i, h in enumerate(header) if h.lower() in _PULSE_NAMES), None)

    def column(i: int) -> np.ndarray:
        name = header[i]
        values: list[float] = []
        ended_at = None
        for r, row in enumerate(body, start=2):
            cell = row[i].strip() if i < len(row) else ""
            if cell == "":
                ended_at = ended_at or r
                continue
            if ended_at is not None:
                raise DataError(f"{src}: column {name!r} has an empty cell at row {ended_at} followed by "
                                f"data at row {r} (only trailing cells may be empty)")
            try:
                v = float(cell)
            except ValueError:
                raise DataError(f"{src}: column {name!r}, row {r}: {cell!r} is not a number") from None
            if math.isnan(v) or math.isinf(v):
                raise DataError(f"{src}: column {name!r}, row {r} is {cell!r} (NaN/Inf); remove or "
                                f"re-measure the point")
            values.append(v)
        return np.asarray(values, dtype=np.float64)

    if pulse_col is not None:
        pulse_all = column(pulse_col)
        if len(pulse_all) < len(body):
            raise DataError(f"{src}: column {header[pulse_col]!r} must have a value on every row")
        if not bool(np.all(np.diff(pulse_all) > 0)):
            raise DataError(f"{src}: column {header[pulse_col]!r} is not strictly increasing")
    else:
        pulse_all = np.arange(len(body), dtype=np.float64)

    sweeps = []
    for i, name in enumerate(header):
        if i == pulse_col:
            continue
        direction = _direction(name)
        if direction is None:
            raise DataError(
                f"{src}: column {name!r} is neither a potentiation sweep ({', '.join(p + '*' for p in _UP_PREFIXES)}) "
                f"nor a depression sweep ({', '.join(p + '*' for p in _DOWN_PREFIXES)}) nor the pulse column"
            )
        g = column(i)
        if len(g) < MIN_POINTS:
            raise DataError(f"{src}: column {name!r} has too few points ({len(g)}; at least {MIN_POINTS} needed)")
        if bool((g < 0).any()):
            raise DataError(f"{src}: column {name!r} has negative conductances; give siemens >= 0")
        p = pulse_all[: len(g)] - pulse_all[0]
        rho = _spearman(p, g)
        if rho * direction < MIN_RANK_CORRELATION:
            trend = "increase" if direction > 0 else "decrease"
            raise DataError(
                f"{src}: column {name!r} is not monotone: a {'potentiation' if direction > 0 else 'depression'} "
                f"sweep must {trend} with the pulse number (Spearman rank correlation {rho:.2f}; needs "
                f"{'>=' if direction > 0 else '<='} {direction * MIN_RANK_CORRELATION:+.1f})"
            )
        sweeps.append(Sweep(name=name, direction=direction, pulses=p, g=g))
    if not any(s.direction > 0 for s in sweeps) or not any(s.direction < 0 for s in sweeps):
        raise DataError(f"{src}: needs at least one potentiation (ltp*) and one depression (ltd*) column; "
                        f"found {[s.name for s in sweeps]}")
    return Sweeps(source=src, sweeps=tuple(sweeps))


def write_sweeps_csv(sweeps: Sweeps, path: str | os.PathLike) -> Path:
    """Write sweeps in the format :func:`read_sweeps` reads (pulse column + one per sweep)."""
    path = Path(path)
    n = max(len(s.g) for s in sweeps.sweeps)
    pulse = max(sweeps.sweeps, key=lambda s: len(s.g)).pulses
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["pulse", *(s.name for s in sweeps.sweeps)])
        for k in range(n):
            w.writerow([repr(float(pulse[k])), *(repr(float(s.g[k])) if k < len(s.g) else "" for s in sweeps.sweeps)])
    return path


def synthetic_sweeps(device: AbstractPulsedDevice, *, cycles: int = 1, pulses_up: int | None = None,
                     pulses_down: int | None = None, generator: torch.Generator | None = None) -> Sweeps:
    """Sweeps measured on a simulated ``device`` (with its write noise): the fit's test data.

    Starts at G_min; each cycle applies ``pulses_up`` single potentiating pulses, then
    ``pulses_down`` depressing ones (default: the pulses that span the range), recording the
    conductance after each. A noisy trajectory depends on every step, so this loops over pulses;
    it is a test utility, not on the training path.
    """
    P = device.n_states - 1
    up = pulses_up or max(int(round(P / (1 + device.asymmetry))), MIN_POINTS)
    down = pulses_down or max(int(round(P / (1 - device.asymmetry))), MIN_POINTS)
    g = torch.tensor([device.g_min], dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    out = []
    for c in range(1, cycles + 1):
        for direction, count, label in ((1, up, "ltp"), (-1, down, "ltd")):
            trace = [float(g)]
            for _ in range(count):
                g = device.update(g, direction * one, generator=generator)
                trace.append(float(g))
            out.append(Sweep(name=f"{label}_{c}", direction=direction,
                             pulses=np.arange(count + 1, dtype=np.float64), g=np.asarray(trace)))
    return Sweeps(source=f"synthetic {device.MODEL}", sweeps=tuple(out))


# ------------------------------------------------------------------------------- the fit
def _stack(sweeps: Sweeps) -> tuple[list[tuple[torch.Tensor, int]], torch.Tensor]:
    """The sweeps as (pulses, direction) tensors, and all conductances concatenated."""
    parts = [(torch.as_tensor(s.pulses, dtype=torch.float64), s.direction) for s in sweeps.sweeps]
    y = torch.as_tensor(np.concatenate([s.g for s in sweeps.sweeps]), dtype=torch.float64)
    return parts, y


def _project(f: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least squares y ~ alpha + beta f per row of f (K, M): (sse, alpha, beta), beta > 0 or inf sse."""
    fm = f.mean(-1, keepdim=True)
    ym = y.mean()
    fc = f - fm
    var = (fc * fc).mean(-1)
    beta = (fc * (y - ym)).mean(-1) / var.clamp_min(1e-300)
    alpha = ym - beta * fm.squeeze(-1)
    sse = ((y - alpha[:, None] - beta[:, None] * f) ** 2).mean(-1)
    bad = (var < 1e-12) | (beta <= 0) | ~torch.isfinite(sse)
    return torch.where(bad, torch.full_like(sse, math.inf), sse), alpha, beta


class _Problem:
    """The shape parameters of one model: their transforms, grid and fixed values."""

    def __init__(self, model: str, L_up: float, L_down: float, generator: torch.Generator):
        self.model = model
        self.cls = FIT_MODELS[model]
        self.proto = self.cls()
        P = 2.0 / (1.0 / L_up + 1.0 / L_down)
        self.fixed = {"P": P, "asymmetry": P / L_up - 1.0}
        L = max(L_up, L_down)
        self.starts = 6 if model == "power" else 2
        """Best grid points refined by L-BFGS (the power model's surface has local minima)."""
        if model == "exponential":
            self.names = ("nl_up", "nl_down")
            nl = torch.linspace(-NL_MAX, NL_MAX, 25, dtype=torch.float64)
            grid = torch.cartesian_prod(nl, nl)
            self.grid = torch.atanh((grid / NL_MAX).clamp(-0.999, 0.999))
        elif model == "constant-step":
            self.names = ()
            self.grid = torch.zeros(1, 0, dtype=torch.float64)
        elif model == "soft-bounds":
            self.names = ("P", "asymmetry")
            self.fixed = {}
            logP = torch.linspace(math.log(2.0), math.log(50.0 * L), 40, dtype=torch.float64)
            a = torch.linspace(-0.9, 0.9, 19, dtype=torch.float64)
            g = torch.cartesian_prod(logP, a)
            self.grid = torch.stack([g[:, 0], torch.atanh(g[:, 1] / 0.95)], -1)
        else:  # power
            self.names = ("P", "asymmetry", "gamma_up", "gamma_down")
            self.fixed = {}
            u = torch.rand(2000, 4, generator=generator, dtype=torch.float64)
            logP = math.log(2.0) + u[:, 0] * (math.log(50.0 * L) - math.log(2.0))
            a = (2 * u[:, 1] - 1) * 0.9
            gam = u[:, 2:] * 4.0
            self.grid = torch.stack([logP, torch.atanh(a / 0.95), *self._gamma_inv(gam).unbind(-1)], -1)

    @staticmethod
    def _gamma_inv(g: torch.Tensor) -> torch.Tensor:
        x = (g / GAMMA_MAX).clamp(1e-6, 1 - 1e-6)
        return torch.log(x / (1 - x))

    def params(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Shape parameters (K, 1) from unconstrained z (K, n_theta)."""
        out = {k: torch.full((z.shape[0], 1), v, dtype=z.dtype) for k, v in self.fixed.items()}
        for j, name in enumerate(self.names):
            zj = z[:, j : j + 1]
            if name.startswith("nl_"):
                out[name] = NL_MAX * torch.tanh(zj)
            elif name == "P":
                out[name] = torch.exp(zj)
            elif name == "asymmetry":
                out[name] = 0.95 * torch.tanh(zj)
            else:
                out[name] = GAMMA_MAX * torch.sigmoid(zj)
        return out

    def curves(self, z: torch.Tensor, sweeps: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        """Normalised model sweeps (K, M), chained: each sweep starts where the previous ended."""
        params = self.params(z)
        u = torch.full((z.shape[0], 1), 0.0 if sweeps[0][1] > 0 else 1.0, dtype=z.dtype)
        out = []
        for p, direction in sweeps:  # a handful of sweeps; each is one closed-form expression
            n = (direction * p)[None, :]
            curve = self.proto._pulse_train(u.expand(-1, p.numel()), n, params)
            out.append(curve)
            u = curve[:, -1:]
        return torch.cat(out, dim=-1)


MAX_SIEMENS = 1e3
"""Largest conductance a fit accepts: far above any device, far below float overflow."""


def fit_device(sweeps: Sweeps, model: str = "exponential", *, energy_per_pulse: float | None = None,
               seed: int = 0) -> FitResult:
    """Fit ``model`` to measured sweeps (method in the module docstring).

    Args:
        energy_per_pulse: joules per pulse for the fitted device (default: the estimate of
            :func:`~memprop.devices.base.pulse_energy`).
        seed: seed of the random start points of the ``power`` model's search.
    """
    if model not in FIT_MODELS:
        raise ConfigError(f"model must be one of {', '.join(map(repr, FIT_MODELS))}; got {model!r}")
    parts, y = _stack(sweeps)
    lo, hi = float(y.min()), float(y.max())
    if max(abs(lo), abs(hi)) > MAX_SIEMENS:
        raise DataError(f"{sweeps.source}: conductances up to {max(abs(lo), abs(hi)):.3g}; expected values in "
                        f"siemens, at most {MAX_SIEMENS:g} (memristive devices: about 1e-9 to 1e-1 S)")
    if hi <= lo:
        raise DataError(f"{sweeps.source}: all conductances are equal; nothing to fit")
    yn = (y - lo) / (hi - lo)  # work in [0, 1]: well-scaled for L-BFGS
    L_up, L_down = sweeps.longest(1), sweeps.longest(-1)
    prob = _Problem(model, L_up, L_down, torch.Generator().manual_seed(seed))

    # grid search, in chunks to bound memory; keep the best few points as L-BFGS starts
    sse = torch.cat([_project(prob.curves(chunk, parts), yn)[0] for chunk in prob.grid.split(512)])
    order = torch.argsort(sse)[: prob.starts]
    order = order[torch.isfinite(sse[order])]
    if order.numel() == 0:
        raise DataError(f"{sweeps.source}: the {model} model does not fit these data (no rising fit found)")
    best_z, best_sse = prob.grid[order[:1]].clone(), float(sse[order[0]])
    for k in order.tolist() if prob.names else []:
        z, value = _refine(prob, prob.grid[k : k + 1], parts, yn)
        if value < best_sse:
            best_z, best_sse = z, value

    with torch.no_grad():
        f = prob.curves(best_z, parts)
        sse, alpha, beta = _project(f, yn)
        theta = {k: float(v) for k, v in prob.params(best_z).items()}
    g_min = lo + (hi - lo) * float(alpha)
    g_max = g_min + (hi - lo) * float(beta)
    if g_min < 0:
        warnings.warn(f"{sweeps.source}: fitted G_min = {g_min:.3g} S < 0, set to 0", stacklevel=2)
        g_min = 0.0
    rmse = math.sqrt(float(sse)) * (hi - lo)

    P, a = theta["P"], theta["asymmetry"]
    n_states = max(2, int(round(P)) + 1)
    if model in ("exponential", "constant-step"):  # keep P_+ = the potentiation sweep's length
        a = (n_states - 1) / L_up - 1.0
    a = min(max(a, -0.95), 0.95)
    fields = {k: v for k, v in theta.items() if k not in ("P", "asymmetry")}
    energy = pulse_energy(g_min, g_max) if energy_per_pulse is None else energy_per_pulse
    device = prob.cls(g_min=g_min, g_max=g_max, n_states=n_states, asymmetry=a,
                      energy_per_pulse=energy, **fields)
    c2c = _c2c(device, sweeps)
    device = dataclasses.replace(device, nonideal=NonIdeal(c2c=c2c))
    shape = {"P_up": P / (1 + theta["asymmetry"]), "P_down": P / (1 - theta["asymmetry"]), **fields}
    return FitResult(device=device, rmse=rmse, c2c=c2c, n_points=int(y.numel()),
                     source=sweeps.source, shape=shape)


def _refine(prob: _Problem, z0: torch.Tensor, parts, yn: torch.Tensor) -> tuple[torch.Tensor, float]:
    """L-BFGS on the projected sum of squares from ``z0``; (z, sse), sse inf if it failed."""
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], max_iter=100, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _project(prob.curves(z, parts), yn)[0].sum()
        if torch.isfinite(loss):
            loss.backward()
        return loss

    try:
        opt.step(closure)
    except RuntimeError:  # pragma: no cover - a failed line search keeps the start point
        return z0, math.inf
    with torch.no_grad():
        sse = float(_project(prob.curves(z, parts), yn)[0])
    return z.detach(), sse if math.isfinite(sse) else math.inf


def _c2c(device: AbstractPulsedDevice, sweeps: Sweeps) -> float:
    """Per-pulse write-noise spread from the one-step residuals (module docstring)."""
    span = device.g_max - device.g_min
    errs = []
    for s in sweeps.sweeps:
        g = torch.as_tensor(s.g, dtype=torch.float64)
        dp = torch.as_tensor(np.diff(s.pulses), dtype=torch.float64)
        pred = device.update(g[:-1], s.direction * dp)  # noise-free: the fitted device has c2c = 0
        errs.append((g[1:] - pred) / dp.sqrt())
    e = torch.cat(errs)
    return float(torch.sqrt((e * e).mean())) / span


def model_curves(device: AbstractPulsedDevice, sweeps: Sweeps) -> list[np.ndarray]:
    """The fitted device's noise-free sweeps (chained as in the fit) at the measured pulses."""
    quiet = dataclasses.replace(device, nonideal=NonIdeal())
    g = device.g_min if sweeps.sweeps[0].direction > 0 else device.g_max
    out = []
    for s in sweeps.sweeps:
        g0 = torch.full((len(s.pulses),), g, dtype=torch.float64)
        curve = quiet.update(g0, torch.as_tensor(s.direction * s.pulses, dtype=torch.float64)).numpy()
        out.append(curve)
        g = float(curve[-1])
    return out
