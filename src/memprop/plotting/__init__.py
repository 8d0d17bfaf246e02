"""Figures from results: each ``plot_*`` takes a result (a dict, or the path of its saved JSON)
and returns a ``matplotlib.figure.Figure``; :func:`save` writes it in the format its path's
suffix asks for (png, pdf, svg, ...).

Plotting never touches matplotlib's global state: figures are made with
``matplotlib.figure.Figure`` directly, not through pyplot, so the backend a notebook or a
script chose is left as it is, and nothing stays open. matplotlib is imported lazily, only here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes
from ..errors import ConfigError
from ..io import read_json

FORMATS = ("png", "pdf", "svg", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")
"""Figure formats by file suffix (those matplotlib writes without an extra package)."""


def figure(**kw):
    """A new figure, outside pyplot (``Figure(**kw)``, default dpi 110)."""
    from matplotlib.figure import Figure

    kw.setdefault("dpi", 110)
    return Figure(**kw)


def load(result: Mapping[str, Any] | str | os.PathLike) -> Mapping[str, Any]:
    """A result dict itself, or the JSON file at a path read into one."""
    return result if isinstance(result, Mapping) else read_json(result)


def check_format(path: str | os.PathLike) -> str:
    """The figure format a path's suffix names; ConfigError for an unknown suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(f"figure path {str(path)!r}: unknown format {('.' + suffix) if suffix else '(no suffix)'}; "
                          f"use one of {', '.join('.' + f for f in FORMATS)}")
    return suffix


def save(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` atomically to ``path`` in the format of its suffix."""
    fmt = check_format(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return atomic_write_bytes(path, buf.getvalue())
