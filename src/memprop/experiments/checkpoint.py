"""Training checkpoints: written atomically, loaded without executing code.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and
dicts, so that ``torch.load(..., weights_only=True)`` reads it without unpickling arbitrary
objects. It holds:

- ``params``: the network's parameters by name (W0, W1, ..., b1, b2, ...);
- ``epoch``: the number of completed epochs (the learning-rate schedule is a function of it);
- ``schedule``: the learning rates of the next epoch and the schedule's settings (a record for
  the reader; the trainer recomputes them from the config and ``epoch``);
- ``persistent``: the stored free-phase states (one tensor, e.g. unit-major (n_state, n_train)),
  or none;
- ``rng``: the states of the random generators by name (``torch.Generator.get_state()``);
- ``config`` and ``history``: the run's config and per-epoch records, as JSON text;
- ``format`` and ``version``, checked on load.

The file is written to a temporary file in the same directory, fsynced and renamed into place
(:func:`memprop.io.atomic_write_bytes`), so an interrupted write leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_write_bytes
from ..errors import DataError

FORMAT = "memprop.checkpoint"
VERSION = 1


@dataclass(kw_only=True, slots=True)
class Checkpoint:
    """The contents of a checkpoint file (see the module docstring)."""

    kind: str
    """What was trained (e.g. ``"classification-ep"``); checked on resume."""
    epoch: int
    params: dict[str, torch.Tensor]
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    persistent: torch.Tensor | None = None
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Atomically write ``ckpt`` to ``path`` (parent directories are created)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": ckpt.kind,
        "epoch": int(ckpt.epoch),
        "params": {k: v.detach().cpu().clone() for k, v in ckpt.params.items()},
        "persistent": None if ckpt.persistent is None else ckpt.persistent.detach().cpu().clone(),
        "rng": {k: v.detach().cpu().clone() for k, v in ckpt.rng.items()},
        "schedule": json.dumps(ckpt.schedule),
        "config": json.dumps(ckpt.config),
        "history": json.dumps(ckpt.history),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (no code is executed).

    Raises:
        DataError: if the file is missing, not a checkpoint, damaged, or of another format or
            version; the message names the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such checkpoint (start without --resume, or check --out)")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(f"{p}: not a readable memprop checkpoint ({type(e).__name__}: {first[:200]})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DataError(f"{p}: not a memprop checkpoint (format {raw.get('format') if isinstance(raw, dict) else None!r})")
    if raw.get("version") != VERSION:
        raise DataError(f"{p}: checkpoint version {raw.get('version')!r}, this memprop reads version {VERSION}")
    try:
        return Checkpoint(
            kind=str(raw["kind"]),
            epoch=int(raw["epoch"]),
            params=dict(raw["params"]),
            config=json.loads(raw["config"]),
            history=json.loads(raw["history"]),
            persistent=raw["persistent"],
            rng=dict(raw["rng"]),
            schedule=json.loads(raw["schedule"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{p}: damaged memprop checkpoint ({type(e).__name__}: {e})") from None
