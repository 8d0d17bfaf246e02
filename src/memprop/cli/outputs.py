"""Where a command may write: checked before anything runs, so nothing is overwritten by accident.

The rules, the same for every command:

- an output is never one of the command's inputs;
- an output file that exists already, or an output folder that holds a finished run, is replaced
  only with ``--force`` (or continued with ``--resume`` where the command has it);
- an output that exists but is not a plain file (a folder, ``/dev/null``, ``/dev/full``), or an
  output folder that is a file, is refused outright;
- folders are created only after every check has passed (:func:`make_dir`), and a failure to
  create one is an error naming the option and the path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError, OutputError


def _blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is not a folder (None when there is none)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def output_file(path: str | os.PathLike, option: str, *, force: bool = False,
                inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check that ``path`` (given as ``option``) may be written; returns it as a Path.

    Raises:
        ConfigError: ``path`` is one of ``inputs``; exists and is not a plain file; exists and
            ``force`` is false; or lies under something that is not a folder.
    """
    if not str(path):
        raise ConfigError(f"{option} must name a file, got ''")
    p = Path(path)
    for src in inputs:
        if _same(p, Path(src)):
            raise ConfigError(f"{option} {p}: is the input file {src}; choose another {option}")
    if p.exists() or p.is_symlink():
        if not p.is_file():
            kind = "a folder" if p.is_dir() else "not a plain file"
            raise ConfigError(f"{option} {p}: is {kind}; give the name of a file to write")
        if not force:
            raise ConfigError(f"{option} {p}: exists already; pass --force to replace it, or choose "
                              f"another {option}")
    blocker = _blocking_file(p)
    if blocker is not None:
        raise ConfigError(f"{option} {p}: {blocker} is a file, not a folder")
    return p


def output_dir(path: str | os.PathLike, option: str = "--out", *, force: bool = False,
               finished: Iterable[str] = ("report.md",), resume_hint: bool = False) -> Path:
    """Check that folder ``path`` may receive a run's files; returns it as a Path (not created).

    A folder holding any of the ``finished`` files holds a finished run: refused unless ``force``.

    Raises:
        ConfigError: ``path`` is not a folder, lies under a file, or holds a finished run.
    """
    if not str(path):
        raise ConfigError(f"{option} must name a folder, got '' (use . for this folder)")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {p}: exists and is not a folder; choose a folder for the results")
    blocker = _blocking_file(p)
    if blocker is not None:
        raise ConfigError(f"{option} {p}: {blocker} is a file, not a folder")
    if p.is_dir() and not force:
        found = [name for name in finished if (p / name).exists()]
        if found:
            hint = "pass --resume to continue it, --force to replace it" if resume_hint else \
                "pass --force to replace it"
            raise ConfigError(f"{option} {p}: holds a finished run already ({', '.join(found)}); {hint}, "
                              f"or choose another {option}")
    return p


def make_dir(path: Path, option: str = "--out") -> Path:
    """Create folder ``path`` (and its parents); an OS failure is an :class:`OutputError`."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot create the folder ({e.strerror or e})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: the folder is not writable")
    return path


__all__ = ["make_dir", "output_dir", "output_file"]
