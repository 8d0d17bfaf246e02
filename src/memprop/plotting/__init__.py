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


PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe & Ito's colour-blind-safe palette (blue, orange, green, purple, sky, vermillion, yellow,
black); every figure pairs a colour with a second cue (marker, line or frame style)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
"""Markers in the order of :data:`PALETTE`: the second cue of a colour."""


def integer_ticks(axis) -> None:
    """Put the ticks of a matplotlib axis (``ax.xaxis``) on integers only (epochs, counts)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def text_colour(value: float, cmap, vmin: float = 0.0, vmax: float = 1.0) -> str:
    """Black or white, whichever reads better on the colour ``cmap`` gives ``value``."""
    r, g, b, _ = cmap((value - vmin) / (vmax - vmin) if vmax > vmin else 0.5)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


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
