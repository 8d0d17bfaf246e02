r"""Published device parameter sets (docs/devices.md, "Presets": NeuroSim V3.0 manual, Table II).

Each preset is an :class:`~memprop.devices.ExpStepDevice` instance built from the table: G_max =
1 / R_on, G_min = G_max / (on/off ratio), the number of states, NeuroSim's nonlinearity labels
(their signs as published) and the cycle-to-cycle spread as sigma_c2c (fraction of the range per
pulse, NeuroSim's convention). Where the table gives different LTP and LTD state counts, n_states
and the asymmetry a are chosen so that P / (1 + a) and P / (1 - a) pulses (P = n_states - 1)
match them to within one pulse. "< x %" spreads are taken at their bound x. The table has no
pulse energies: ``energy_per_pulse`` is the estimate of :func:`~memprop.devices.base.pulse_energy`
(2 V, 10 ns at the mean conductance) and should be replaced by a measured value when known.

:data:`PRESET_SOURCES` holds each preset's source as text; :func:`preset_table` lists the presets
with their parameters and sources and :func:`preset_toml` writes one as a device TOML file's text
(what ``memprop device list`` and ``memprop device show`` print). :func:`resolve_device` turns a
command-line string into a device: ``"ideal"``, a preset name (case-insensitive, see
:data:`PRESETS`) or the path of a device TOML file.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import AbstractDevice, pulse_energy
from .exponential import ExpStepDevice
from .ideal import IdealDevice
from .nonideal import NonIdeal
from .toml import device_to_toml


def _table_row(*, r_on: float, on_off: float, n_states: int, nl_up: float, nl_down: float,
               c2c: float, asymmetry: float = 0.0) -> ExpStepDevice:
    g_max = 1.0 / r_on
    g_min = g_max / on_off
    return ExpStepDevice(g_min=g_min, g_max=g_max, n_states=n_states, asymmetry=asymmetry,
                         nl_up=nl_up, nl_down=nl_down, energy_per_pulse=pulse_energy(g_min, g_max),
                         nonideal=NonIdeal(c2c=c2c))


AG_A_SI_JO2010 = _table_row(r_on=26e6, on_off=12.5, n_states=99, asymmetry=0.0154,
                            nl_up=2.4, nl_down=-4.88, c2c=0.035)
"""Ag:a-Si memristor (Jo et al., Nano Lett. 10, 1297, 2010), NeuroSim V3.0 Table II: 97 / 100
states (here 96.5 / 99.5 pulses: n_states 99, a 0.0154), NL 2.4 / -4.88, R_on 26 MOhm, on/off
12.5, cycle-to-cycle 3.5 %."""

TAOX_HFOX_WU2018 = _table_row(r_on=100e3, on_off=10.0, n_states=128,
                              nl_up=0.04, nl_down=-0.63, c2c=0.037)
"""TaOx/HfOx RRAM (Wu et al., VLSI Technology 2018), NeuroSim V3.0 Table II: 128 states, NL 0.04
/ -0.63, R_on 100 kOhm, on/off 10, cycle-to-cycle 3.7 %."""

PCMO_PARK2013 = _table_row(r_on=23e6, on_off=6.84, n_states=50,
                           nl_up=3.68, nl_down=-6.76, c2c=0.01)
"""Pr0.7Ca0.3MnO3 RRAM (Park et al., IEDM 2013), NeuroSim V3.0 Table II: 50 states, NL 3.68 /
-6.76, R_on 23 MOhm, on/off 6.84, cycle-to-cycle < 1 % (taken as 1 %)."""

ALOX_HFO2_WOO2016 = _table_row(r_on=16.9e3, on_off=4.43, n_states=40,
                               nl_up=1.94, nl_down=-0.61, c2c=0.05)
"""AlOx/HfO2 RRAM (Woo et al., IEEE EDL 37, 994, 2016), NeuroSim V3.0 Table II: 40 states, NL
1.94 / -0.61, R_on 16.9 kOhm, on/off 4.43, cycle-to-cycle 5 %."""

GST_PCM_KUZUM2011 = _table_row(r_on=4.71e3, on_off=19.8, n_states=110,
                               nl_up=0.105, nl_down=2.4, c2c=0.015)
"""Ge2Sb2Te5 phase-change memory (Kuzum et al., Nano Lett. 12, 2179, 2012 [online 2011]),
NeuroSim V3.0 Table II: 100-120 states (here 110), NL 0.105 / 2.4, R_on 4.71 kOhm, on/off 19.8,
cycle-to-cycle 1.5 %. Drift is off here; PCM drifts with nu about 0.05-0.1 (set
``NonIdeal(drift_nu=...)``)."""

EPIRAM_CHOI2018 = _table_row(r_on=81e3, on_off=50.2, n_states=64,
                             nl_up=0.5, nl_down=-0.5, c2c=0.02)
"""Epitaxial SiGe RAM (Choi et al., Nat. Mater. 17, 335, 2018), NeuroSim V3.0 Table II: 64 states,
NL 0.5 / -0.5, R_on 81 kOhm, on/off 50.2, cycle-to-cycle 2 %."""

HZO_FEFET_JERRY2017 = _table_row(r_on=559e3, on_off=45.0, n_states=32,
                                 nl_up=1.75, nl_down=1.46, c2c=0.005)
"""Hf0.5Zr0.5O2 ferroelectric FET (Jerry et al., IEDM 2017), NeuroSim V3.0 Table II: 32 states,
NL 1.75 / 1.46, R_on 559 kOhm, on/off 45, cycle-to-cycle < 0.5 % (taken as 0.5 %)."""

PRESETS: dict[str, ExpStepDevice] = {
    "ag-a-si": AG_A_SI_JO2010,
    "taox-hfox": TAOX_HFOX_WU2018,
    "pcmo": PCMO_PARK2013,
    "alox-hfo2": ALOX_HFO2_WOO2016,
    "gst-pcm": GST_PCM_KUZUM2011,
    "epiram": EPIRAM_CHOI2018,
    "hzo-fefet": HZO_FEFET_JERRY2017,
}
"""The published devices by lowercase name (the values of ``--device``)."""

_TABLE = "parameters from the MLP+NeuroSim V3.0 user manual (Chen, Peng and Yu, Georgia Tech), Table II"
PRESET_SOURCES: dict[str, str] = {
    "ag-a-si": f"S. H. Jo et al., Nano Letters 10(4), 1297-1301 (2010); {_TABLE}",
    "taox-hfox": f"W. Wu et al., IEEE Symposium on VLSI Technology (2018); {_TABLE}",
    "pcmo": f"S. Park et al., IEEE International Electron Devices Meeting (IEDM 2013); {_TABLE}",
    "alox-hfo2": f"J. Woo et al., IEEE Electron Device Letters 37(8), 994-997 (2016); {_TABLE}",
    "gst-pcm": f"D. Kuzum et al., Nano Letters 12(5), 2179-2186 (2012, online 2011); {_TABLE}",
    "epiram": f"S. Choi et al., Nature Materials 17, 335-340 (2018); {_TABLE}",
    "hzo-fefet": f"M. Jerry et al., IEEE International Electron Devices Meeting (IEDM 2017); {_TABLE}",
}
"""The source of each preset (same keys as :data:`PRESETS`): the device paper, then the table the
parameters were taken from."""


def _preset_key(name: str) -> str:
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(map(repr, PRESETS))}; got {name!r}")
    return key


def preset_table() -> list[dict[str, object]]:
    """One row per preset, in :data:`PRESETS` order, ready for a table or JSON.

    Keys: ``name``, ``model``, ``n_states``, ``g_min`` and ``g_max`` (siemens), ``nl_up`` and
    ``nl_down`` (NeuroSim nonlinearity labels), ``asymmetry``, ``c2c`` (cycle-to-cycle spread,
    fraction of the range per pulse), ``energy_per_pulse`` (joules, an estimate) and ``source``.
    """
    return [{"name": name, "model": dev.MODEL, "n_states": dev.n_states, "g_min": dev.g_min,
             "g_max": dev.g_max, "nl_up": dev.nl_up, "nl_down": dev.nl_down,
             "asymmetry": dev.asymmetry, "c2c": dev.nonideal.c2c,
             "energy_per_pulse": dev.energy_per_pulse, "source": PRESET_SOURCES[name]}
            for name, dev in PRESETS.items()]


def preset_toml(name: str) -> str:
    """The preset ``name`` (case-insensitive) as device TOML text, its source in a comment.

    :func:`~memprop.devices.load_device` reads the text back into a device equal to the preset.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    key = _preset_key(name)
    return device_to_toml(PRESETS[key], comment=f"memprop preset {key!r}\nsource: {PRESET_SOURCES[key]}")


def resolve_device(spec: str | AbstractDevice) -> AbstractDevice:
    """A device from ``"ideal"``, a preset name (case-insensitive) or a ``.toml`` file path.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones) or a bad TOML file.
    """
    if isinstance(spec, AbstractDevice):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"device must be 'ideal', a preset name or a .toml path, got {spec!r}")
    key = spec.strip().lower()
    if key == "ideal":
        return IdealDevice()
    if key in PRESETS:
        return PRESETS[key]
    if spec.lower().endswith(".toml") or Path(spec).is_file():
        from .toml import load_device

        return load_device(spec)
    raise ConfigError(
        f"device must be 'ideal', one of {', '.join(map(repr, PRESETS))} or a .toml file; got {spec!r}"
    )
