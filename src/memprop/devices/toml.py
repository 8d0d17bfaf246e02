"""Devices as TOML files: ``load_device(path)``, ``save_device(device, path)``.

A device file names its model and sets any of the model's fields; the non-idealities go in a
``[nonideal]`` table. Missing fields take the model's defaults; unknown keys are an error. The
same table may also sit under ``[device]`` in a larger experiment file::

    model = "exponential"      # ideal | constant-step | soft-bounds | exponential | power
    g_min = 1e-06              # siemens
    g_max = 1e-05              # siemens
    n_states = 64
    asymmetry = 0.0
    nl_up = 2.4
    nl_down = -4.88
    energy_per_pulse = 1e-12   # joules

    [nonideal]
    c2c = 0.035

Reading needs ``tomllib`` (Python >= 3.11) or the ``tomli`` package on Python 3.10; writing
needs neither (the text is emitted here).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes
from ..errors import ConfigError
from ..limits import FILE_BYTES_ENV, limit
from .base import AbstractDevice
from .constant import ConstantStepDevice
from .exponential import ExpStepDevice
from .ideal import IdealDevice
from .nonideal import NonIdeal
from .power import PowerStepDevice
from .softbounds import SoftBoundsDevice

MODELS: dict[str, type[AbstractDevice]] = {
    cls.MODEL: cls
    for cls in (IdealDevice, ConstantStepDevice, SoftBoundsDevice, ExpStepDevice, PowerStepDevice)
}
"""Device models by name (the ``model`` key of a device file)."""


def _tomllib():
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as e:
            raise ConfigError(
                "reading TOML files needs Python >= 3.11 or the 'tomli' package "
                "(pip install tomli)"
            ) from e
    return tomllib


def _check_keys(source: str, data: dict, fields: set[str], where: str, *, extra: set[str] = frozenset()) -> None:
    """ConfigError naming the unknown keys of a TOML table and the valid ones."""
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))} {where}; "
            f"valid keys: {', '.join(sorted(fields | extra))}"
        )


def device_from_dict(data: dict[str, Any], *, source: str = "device") -> AbstractDevice:
    """Build a device from a dict like a device file's (``model`` plus fields)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a device must be a table, got {type(data).__name__}")
    data = dict(data)
    model = data.pop("model", None)
    if model not in MODELS:
        raise ConfigError(f"{source}: model must be one of {', '.join(map(repr, MODELS))}; got {model!r}")
    cls = MODELS[model]
    fields = {f.name for f in dataclasses.fields(cls)}
    _check_keys(source, data, fields, f"for model {model!r}", extra={"model"})
    if "nonideal" in data:
        nd = data["nonideal"]
        if not isinstance(nd, dict):
            raise ConfigError(f"{source}: nonideal must be a table, got {type(nd).__name__}")
        _check_keys(source, nd, {f.name for f in dataclasses.fields(NonIdeal)}, "in [nonideal]")
        try:
            data["nonideal"] = NonIdeal(**nd)
        except ConfigError as e:
            raise ConfigError(f"{source}: [nonideal] {e}") from e
    try:
        return cls(**data)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from e


def device_to_dict(device: AbstractDevice) -> dict[str, Any]:
    """The fields of ``device`` with its model name (nonideal as a nested dict)."""
    out: dict[str, Any] = {"model": device.MODEL}
    for f in dataclasses.fields(device):
        value = getattr(device, f.name)
        out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return out


def load_device(path: str | os.PathLike) -> AbstractDevice:
    """Read a device TOML file (top level, or a ``[device]`` table)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"device file {str(path)!r} is a folder; give a device .toml file")
    if not path.exists():
        raise ConfigError(f"device file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"device file {str(path)!r} is not a plain file")
    cap = limit(FILE_BYTES_ENV)
    if path.stat().st_size > cap:
        raise ConfigError(f"device file {str(path)!r}: larger than the limit {cap:,} bytes; set "
                          f"{FILE_BYTES_ENV} to raise it")
    tomllib = _tomllib()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    if "device" in data and isinstance(data["device"], dict):
        data = data["device"]
    return device_from_dict(data, source=str(path))


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"cannot write the non-finite value {v!r} to TOML")
        return repr(v)  # shortest round-tripping form; valid TOML (e.g. 1e-06, 0.035)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    raise ConfigError(f"cannot write a {type(v).__name__} to TOML")


def device_to_toml(device: AbstractDevice, *, comment: str | None = None) -> str:
    """The TOML text of ``device`` (round-trips through :func:`load_device`)."""
    data = device_to_dict(device)
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    tables = {}
    for key, value in data.items():
        if isinstance(value, dict):
            tables[key] = value
        else:
            lines.append(f"{key} = {_value(value)}")
    for name, table in tables.items():
        lines.extend(["", f"[{name}]"])
        lines.extend(f"{k} = {_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def save_device(device: AbstractDevice, path: str | os.PathLike, *, comment: str | None = None) -> Path:
    """Write ``device`` as a TOML file (atomically: temporary file, then rename) and return the path."""
    return atomic_write_bytes(path, device_to_toml(device, comment=comment).encode("utf-8"))
