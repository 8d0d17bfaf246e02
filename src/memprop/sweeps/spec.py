"""Sweep specifications in TOML: a study, fixed settings, a grid and/or random samples, seeds.

Example::

    study = "reconstruction"
    name = "fig2"               # optional label (progress bar, status)
    seeds = [0, 1, 2]           # or a count: seeds = 3 means 0, 1, 2

    [fixed]                     # settings shared by every task
    samples_per_class = 5000

    [grid]                      # cartesian product of the lists, in the order written
    K = [0, 10, 20]
    p = [0.10, 0.15]

    [random]                    # random samples over settings, drawn from `seed`
    samples = 8
    seed = 0
    [random.settings]
    eta = { dist = "loguniform", low = 1e-3, high = 1e-1 }
    rule = { dist = "choice", values = ["ep", "rbp"] }

The tasks are (grid points x random samples) x seeds: every random sample is combined with every
grid point (common random numbers), and every such point runs once per seed. A setting may appear
in only one of ``fixed``, ``grid`` and ``random.settings``. Settings are checked against the
study's ``SWEEP_SETTINGS`` (name and type); errors name the key, the value and what is allowed.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from .._validate import SEED_MAX
from ..errors import ConfigError
from .tasks import Scalar, coerce, describe, resolve_settings, settings_hash, study

TOP_KEYS = ("study", "name", "seeds", "fixed", "grid", "random")
RANDOM_KEYS = ("samples", "seed", "settings")
DISTRIBUTIONS: Mapping[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "randint": ("low", "high"),
    "choice": ("values",),
}
"""Distribution name -> its parameters. ``randint`` includes both ends."""


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value))


def _scalar(where: str, value: Any) -> Scalar:
    if not _is_scalar(value):
        raise ConfigError(
            f"{where} must be a number, string or boolean, got {value!r} ({type(value).__name__})"
        )
    return value


def _number(where: str, value: Any, *, integer: bool = False) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        kind = "an integer" if integer else "a finite number"
        raise ConfigError(f"{where} must be {kind}, got {value!r} ({type(value).__name__})")
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class Distribution:
    """A random setting: ``uniform``/``loguniform`` on [low, high), ``randint`` on [low, high]
    (integers), or ``choice`` among ``values`` (equal odds)."""

    dist: str
    low: float | int | None = None
    high: float | int | None = None
    values: tuple[Scalar, ...] = ()
    where: str = "random.settings"
    """The spec key, for error messages."""

    def __post_init__(self) -> None:
        w = self.where
        if self.dist not in DISTRIBUTIONS:
            raise ConfigError(
                f"{w}.dist: unknown distribution {self.dist!r}; allowed: {', '.join(DISTRIBUTIONS)}"
            )
        if self.dist == "choice":
            if not isinstance(self.values, tuple) or not self.values:
                raise ConfigError(f"{w}.values: choice needs a non-empty list of values, "
                                  f"got {self.values!r}")
            for i, v in enumerate(self.values):
                _scalar(f"{w}.values[{i}]", v)
            return
        integer = self.dist == "randint"
        lo = _number(f"{w}.low", self.low, integer=integer)
        hi = _number(f"{w}.high", self.high, integer=integer)
        if not (lo <= hi if integer else lo < hi):
            raise ConfigError(f"{w}: low must be {'<=' if integer else '<'} high, "
                              f"got low={lo!r}, high={hi!r}")
        if self.dist == "loguniform" and lo <= 0:
            raise ConfigError(f"{w}.low must be > 0 for loguniform, got {lo!r}")

    def sample(self, rng: random.Random) -> Scalar:
        """One draw. Uses only ``rng.random()``, whose stream Python keeps stable across versions."""
        u = rng.random()
        if self.dist == "choice":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        lo, hi = self.low, self.high
        assert lo is not None and hi is not None
        if self.dist == "uniform":
            return lo + (hi - lo) * u
        if self.dist == "loguniform":
            return math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
        return int(lo) + min(int(u * (int(hi) - int(lo) + 1)), int(hi) - int(lo))

    def to_dict(self) -> dict[str, Any]:
        if self.dist == "choice":
            return {"dist": "choice", "values": list(self.values)}
        return {"dist": self.dist, "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work: a study's full settings and one seed. ``(hash, seed)`` identifies it."""

    study: str
    settings: dict[str, Scalar]
    seed: int
    hash: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.hash, self.seed)


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepSpec:
    """A validated sweep: what :func:`memprop.sweeps.run_sweep` runs. Build with :func:`load_spec`.

    Raises:
        ConfigError: on construction, for an unknown study, an empty or duplicated grid list, a
            setting given twice, non-scalar values, bad seeds or a bad distribution.
    """

    study: str
    name: str = ""
    fixed: dict[str, Scalar] = field(default_factory=dict)
    grid: dict[str, tuple[Scalar, ...]] = field(default_factory=dict)
    """Setting -> values; the tasks take the cartesian product, in insertion order."""
    random: dict[str, Distribution] = field(default_factory=dict)
    samples: int = 0
    """Number of random samples (>= 1 when ``random`` is given)."""
    sample_seed: int = 0
    """Seed of the random samples (not of the tasks: those get ``seeds``)."""
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        study(self.study)  # unknown study -> ConfigError listing the known ones
        # Lists are accepted from Python callers; stored as tuples.
        object.__setattr__(self, "grid", {k: tuple(v) if isinstance(v, list) else v
                                          for k, v in self.grid.items()})
        if isinstance(self.seeds, list):
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if not isinstance(self.name, str):
            raise ConfigError(f"name must be a string, got {self.name!r}")
        for key, value in self.fixed.items():
            _scalar(f"fixed.{key}", value)
        for key, values in self.grid.items():
            if not isinstance(values, tuple):
                raise ConfigError(f"grid.{key} must be a list of values, got {values!r}")
            if not values:
                raise ConfigError(f"grid.{key}: empty grid list []; give at least one value "
                                  "(or move a single value to [fixed])")
            for i, v in enumerate(values):
                _scalar(f"grid.{key}[{i}]", v)
                if any(type(v) is type(u) and v == u for u in values[:i]):
                    raise ConfigError(f"grid.{key}[{i}]: duplicate value {v!r}; each grid value "
                                      "must appear once")
        _number("random.seed", self.sample_seed, integer=True)
        _number("random.samples", self.samples, integer=True)
        if self.random and self.samples < 1:
            raise ConfigError(f"random.samples must be an integer >= 1 when random.settings is "
                              f"given, got {self.samples!r}")
        if self.samples and not self.random:
            raise ConfigError("random.settings is empty; give at least one distribution or "
                              "remove random.samples")
        seen: dict[str, str] = {}
        for section, keys in (("fixed", self.fixed), ("grid", self.grid),
                              ("random.settings", self.random)):
            for key in keys:
                if not isinstance(key, str) or not key:
                    raise ConfigError(f"{section}: setting names must be non-empty strings, "
                                      f"got {key!r}")
                if key in seen:
                    raise ConfigError(f"{section}.{key}: setting already given in "
                                      f"[{seen[key]}]; give each setting in one place only")
                seen[key] = section
        if not isinstance(self.seeds, tuple) or not self.seeds:
            raise ConfigError(f"seeds must be a non-empty list of integers or a count >= 1, "
                              f"got {self.seeds!r}")
        for i, s in enumerate(self.seeds):
            _number(f"seeds[{i}]", s, integer=True)
            if not 0 <= s <= SEED_MAX:
                raise ConfigError(f"seeds[{i}] must be an integer in 0..{SEED_MAX}, got {s!r}")
            if s in self.seeds[:i]:
                raise ConfigError(f"seeds[{i}]: duplicate seed {s!r}")

    # ----------------------------------------------------------------------------------------

    def checked(self) -> SweepSpec:
        """This spec checked against the study's settings table, values normalised.

        Every setting must be one the study declares, of the declared type (ints given for a
        float setting become floats, so ``p = 1`` and ``p = 1.0`` are the same task).

        Raises:
            ConfigError: naming the key, the value and what is allowed; or saying that the study's
                module does not provide its sweep task yet.
        """
        table = resolve_settings(self.study)

        def kind(where: str, key: str):
            if key not in table:
                raise ConfigError(f"{where}: unknown setting {key!r} of study {self.study!r}; "
                                  f"allowed: {', '.join(sorted(table))}")
            return table[key]

        fixed = {k: coerce(f"fixed.{k}", v, kind(f"fixed.{k}", k)) for k, v in self.fixed.items()}
        grid = {
            k: tuple(coerce(f"grid.{k}[{i}]", v, kind(f"grid.{k}", k)) for i, v in enumerate(vs))
            for k, vs in self.grid.items()
        }
        rand = {}
        for k, d in self.random.items():
            t = kind(f"random.settings.{k}", k)
            if d.dist == "choice":
                values = tuple(coerce(f"random.settings.{k}.values[{i}]", v, t)
                               for i, v in enumerate(d.values))
                rand[k] = replace(d, values=values)
            else:
                produced = int if d.dist == "randint" else float
                if not (t is produced or (t is float and produced is int)):
                    raise ConfigError(f"random.settings.{k}: {d.dist} draws {produced.__name__}s "
                                      f"but setting {k!r} must be {describe(t)}")
                rand[k] = d
        return replace(self, fixed=fixed, grid=grid, random=rand)

    def size(self) -> int:
        """The number of tasks, counted without listing them (an upper bound: equal random draws
        of a ``choice`` are one point)."""
        return math.prod(len(v) for v in self.grid.values()) * max(self.samples, 1) * len(self.seeds)

    def points(self) -> list[dict[str, Scalar]]:
        """Every distinct setting combination, grid-major, in a stable order."""
        grid_points = [dict(zip(self.grid, combo))
                       for combo in itertools.product(*self.grid.values())]
        rng = random.Random(self.sample_seed)
        samples = [{k: d.sample(rng) for k, d in self.random.items()}
                   for _ in range(self.samples)] or [{}]
        out, seen = [], set()
        for g in grid_points:
            for r in samples:
                point = {**self.fixed, **g, **r}
                h = settings_hash(self.study, point)
                if h not in seen:  # two equal random draws of a `choice` are one point
                    seen.add(h)
                    out.append(point)
        return out

    def tasks(self) -> list[Task]:
        """One task per point and seed, point-major."""
        return [Task(self.study, p, s, settings_hash(self.study, p))
                for p in self.points() for s in self.seeds]

    def to_dict(self) -> dict[str, Any]:
        """The spec as TOML-shaped plain data (inverse of :func:`parse_spec`)."""
        out: dict[str, Any] = {"study": self.study, "name": self.name, "seeds": list(self.seeds),
                               "fixed": dict(self.fixed),
                               "grid": {k: list(v) for k, v in self.grid.items()}}
        if self.random:
            out["random"] = {"samples": self.samples, "seed": self.sample_seed,
                             "settings": {k: d.to_dict() for k, d in self.random.items()}}
        return out


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, got {value!r} ({type(value).__name__})")
    return value


def parse_spec(data: Mapping[str, Any], *, source: str = "spec", check: bool = True) -> SweepSpec:
    """Build a :class:`SweepSpec` from TOML-shaped data.

    Args:
        data: the parsed TOML document (see the module docstring for its keys).
        source: where it came from, prefixed to error messages (a file name).
        check: also check the settings against the study's table (:meth:`SweepSpec.checked`).

    Raises:
        ConfigError: ``"SOURCE: KEY ..."`` naming the key, the value and what is allowed.
    """
    try:
        return _parse(data, check)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _parse(data: Mapping[str, Any], check: bool) -> SweepSpec:
    data = _table("the spec", dict(data))
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"unknown key {key!r}; allowed: {', '.join(TOP_KEYS)}")
    if "study" not in data:
        raise ConfigError("study: missing; give the study to run, e.g. study = \"reconstruction\"")
    name = data["study"]
    if not isinstance(name, str):
        raise ConfigError(f"study must be a string, got {name!r}")
    seeds_raw = data.get("seeds", [0])
    if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool):
        if seeds_raw < 1:
            raise ConfigError(f"seeds: a count must be >= 1, got {seeds_raw!r}")
        seeds = tuple(range(seeds_raw))
    elif isinstance(seeds_raw, list):
        seeds = tuple(seeds_raw)
    else:
        raise ConfigError(f"seeds must be a list of integers or a count, got {seeds_raw!r}")
    grid = {}
    for k, v in _table("grid", data.get("grid", {})).items():
        if not isinstance(v, list):
            raise ConfigError(f"grid.{k} must be a list of values, got {v!r} "
                              f"({type(v).__name__}); put single values in [fixed]")
        grid[k] = tuple(v)
    if "grid" in data and not grid:
        raise ConfigError("grid: empty grid table; give at least one setting with a list of "
                          "values, or remove [grid]")
    rand_raw = _table("random", data.get("random", {}))
    for key in rand_raw:
        if key not in RANDOM_KEYS:
            raise ConfigError(f"random: unknown key {key!r}; allowed: {', '.join(RANDOM_KEYS)}")
    dists = {}
    for k, d in _table("random.settings", rand_raw.get("settings", {})).items():
        where = f"random.settings.{k}"
        d = _table(where, d)
        kind = d.get("dist")
        if kind not in DISTRIBUTIONS:
            raise ConfigError(f"{where}.dist: unknown distribution {kind!r}; "
                              f"allowed: {', '.join(DISTRIBUTIONS)}")
        for p in d:
            if p != "dist" and p not in DISTRIBUTIONS[kind]:
                raise ConfigError(f"{where}: unknown parameter {p!r} of {kind}; allowed: "
                                  f"{', '.join(DISTRIBUTIONS[kind])}")
        if kind == "choice":
            values = d.get("values")
            if not isinstance(values, list):
                raise ConfigError(f"{where}.values must be a list, got {values!r}")
            dists[k] = Distribution(dist=kind, values=tuple(values), where=where)
        else:
            dists[k] = Distribution(dist=kind, low=d.get("low"), high=d.get("high"), where=where)
    spec = SweepSpec(
        study=name,
        name=data.get("name", ""),
        fixed=dict(_table("fixed", data.get("fixed", {}))),
        grid=grid,
        random=dists,
        samples=rand_raw.get("samples", 0),
        sample_seed=rand_raw.get("seed", 0),
        seeds=seeds,
    )
    return spec.checked() if check else spec


def load_spec(path: str | Path, *, check: bool = True) -> SweepSpec:
    """Read a sweep specification from a TOML file (errors are prefixed with the file name)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such sweep specification file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the sweep specification ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    return parse_spec(data, source=str(path), check=check)
