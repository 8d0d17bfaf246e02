"""The one registry of studies, used by the command line and by sweeps.

Each :class:`Study` names a study's ``run(config, *, progress=None) -> result`` function, its
report section (for the studies of the paper, which ``memprop reproduce`` runs), and its sweep
task with the settings a sweep spec may vary::

    task(settings: dict[str, int | float | str | bool], seed: int) -> dict[str, float | int | str]

A task is a deterministic function of its settings and seed: it draws every random number from
generators seeded by ``seed`` (never from global state), so that a task rerun after a crash gives
the same numbers. Settings absent from ``settings`` take the study's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from . import claims, classification, devices, gradcheck, reconstruction
from .classification import sweep as classification_sweep
from .devices import sweep as devices_sweep
from .reconstruction import development as _development  # noqa: F401 (registers the submodule)
from .reconstruction import sweep as reconstruction_sweep

SettingType = type | tuple
"""A setting's allowed values: ``int``, ``float``, ``str``, ``bool``, or a tuple of literals."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Study:
    """One study: what runs it, what reports it, what sweeps it."""

    name: str
    title: str
    run: Callable[..., Any] | None = None
    """``run(config, *, progress=None[, workers=1]) -> result``."""
    section: Callable[..., Any] | None = None
    """``section(result, *, command) -> report.Section`` for the studies of the paper."""
    check: Callable[[Any], Any] | None = None
    """``check(config)``: what the config alone cannot tell (input files, sizes against memory),
    checked before a run starts or a sweep's store is created; raises a MempropError."""
    sweep_task: Callable[[dict[str, Any], int], dict[str, Any]] | None = None
    sweep_config: Callable[[dict[str, Any], int], Any] | None = None
    """``sweep_config(settings, seed) -> config``: the config a task runs (building it validates
    the settings), so that a sweep is checked completely before it starts."""
    sweep_settings: Mapping[str, SettingType] | None = None
    doc: str = ""
    parallel: bool = False
    """``run`` also takes ``workers``: processes for its independent pieces (same numbers)."""
    sweep_engine: bool = False
    """``run`` also takes ``sweep``: the sweep engine's ``run_collect`` (a layer above the studies),
    for a study that runs as a sweep (the claims map)."""
    default: bool = True
    """A study of the paper that ``memprop reproduce`` runs when no study is named (the main job);
    False: too long for it, run by name (``memprop reproduce NAME``)."""

    @property
    def paper(self) -> bool:
        """A study of the paper: ``memprop reproduce`` runs it and reports its claims."""
        return self.section is not None


STUDIES: Mapping[str, Study] = MappingProxyType({
    "reconstruction": Study(name="reconstruction", title=reconstruction.TITLE, run=reconstruction.run,
                            section=reconstruction.section, check=reconstruction.check,
                            sweep_task=reconstruction_sweep.sweep_task,
                            sweep_config=reconstruction_sweep.sweep_config,
                            sweep_settings=reconstruction_sweep.SWEEP_SETTINGS,
                            doc="pattern reconstruction (Figures 1-4, Table 1)", parallel=True),
    "classification": Study(name="classification", title=classification.TITLE, run=classification.run,
                            section=classification.section, check=classification.check,
                            sweep_task=classification_sweep.sweep_task,
                            sweep_config=classification_sweep.sweep_config,
                            sweep_settings=classification_sweep.SWEEP_SETTINGS, doc="EP classifier (Figure 5)"),
    "devices": Study(name="devices", title=devices.TITLE, run=devices.run, section=devices.section,
                     sweep_task=devices_sweep.sweep_task, sweep_config=devices_sweep.sweep_config,
                     sweep_settings=devices_sweep.SWEEP_SETTINGS,
                     doc="memristive device study", parallel=True, default=False),
    "development": Study(name="development", title=reconstruction.development.TITLE,
                         run=reconstruction.development.run, section=reconstruction.development.section,
                         check=reconstruction.development.check,
                         doc="RBP's default chosen on the development pattern sets", parallel=True, default=False),
    "claims": Study(name="claims", title=claims.TITLE, run=claims.run, section=claims.section, check=claims.check,
                    sweep_task=claims.sweep_task, sweep_config=claims.sweep_config,
                    sweep_settings=claims.SWEEP_SETTINGS, doc="each claim under every reading of the paper",
                    parallel=True, sweep_engine=True, default=False),
    "gradcheck": Study(name="gradcheck", title=gradcheck.TITLE, run=gradcheck.run, sweep_task=gradcheck.sweep_task,
                       sweep_config=gradcheck.sweep_config,
                       sweep_settings=gradcheck.SWEEP_SETTINGS, doc="RBP/EP against the exact gradient"),
})
"""Studies by name, in report order."""


def study(name: str) -> Study:
    """The registry entry of study ``name`` (error listing the known studies)."""
    try:
        return STUDIES[name]
    except KeyError:
        raise ConfigError(f"study: unknown study {name!r}; allowed: {', '.join(sorted(STUDIES))}") from None
