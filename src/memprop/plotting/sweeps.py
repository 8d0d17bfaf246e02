"""Sweep results as figures: lines of a metric against a setting, a band over seeds."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..sweeps.inspect import BANDS, TRAILER, flat_columns, matches, opened, row_order, sort_key
from ..sweeps.store import ResultStore


def plot_sweep(
    store: ResultStore | str | Path,
    x: str,
    y: str,
    *,
    hue: str | None = None,
    facet: str | None = None,
    where: Mapping[str, Any] | None = None,
    band: str = "sd",
):
    """Lines of the mean of ``y`` against ``x``, one per ``hue`` value, one panel per ``facet``
    value, with a band over seeds (``"sd"``: mean +- one standard deviation, ``"range"``: min to
    max, ``"none"``).

    Only done rows are drawn, after keeping rows whose columns equal ``where``'s values. Rows
    that differ in any other setting are pooled with the seeds (with a warning naming them).
    matplotlib is imported here, and only its object API is used (no pyplot, no global backend).

    Returns:
        The ``matplotlib.figure.Figure`` (:func:`memprop.plotting.save` writes it).

    Raises:
        ConfigError: an unknown column (the message lists the available ones), a non-numeric
            ``y``, an unknown ``band``, or no rows left to plot.
    """
    import numpy as np
    from matplotlib.figure import Figure

    if band not in BANDS:
        raise ConfigError(f"band must be one of {', '.join(map(repr, BANDS))}; got {band!r}")
    with opened(store) as st:
        results = sorted(st.rows(status="done"), key=row_order)
    if not results:
        raise ConfigError(f"{store}: no done rows in the store to plot (run the sweep first: memprop sweep "
                          f"status {store})")
    flats = [flat_columns(r) for r in results]
    rows = [f for f, _ in flats]
    setting_cols = {c for _, cols in flats for c in cols}
    columns = sorted({k for r in rows for k in r if k not in TRAILER})
    for name, col in (("x", x), ("y", y), ("hue", hue), ("facet", facet),
                      *(("where", k) for k in (where or {}))):
        if col is not None and col not in columns:
            raise ConfigError(f"{name}: unknown column {col!r}; available: {', '.join(columns)}")
    rows = [r for r in rows if all(matches(r.get(k), v) for k, v in (where or {}).items())]
    if not rows:
        raise ConfigError(f"{store}: no done rows match where={dict(where or {})!r}")
    used = {x, y, hue, facet, *(where or {})}
    pooled = sorted(k for k in setting_cols - used
                    if len({json.dumps(r.get(k), sort_keys=True) for r in rows}) > 1)
    if pooled:
        warnings.warn(f"plot pools rows that differ in {', '.join(pooled)} with the seeds; fix "
                      "them with where= (--where K=V) or use them as hue/facet", stacklevel=2)

    def numeric(v: Any) -> float | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v)

    if any(numeric(r.get(y)) is None and r.get(y) is not None for r in rows):
        raise ConfigError(f"y: column {y!r} is not numeric")
    facets = sorted({r.get(facet) for r in rows}, key=sort_key) if facet else [None]
    hues = sorted({r.get(hue) for r in rows}, key=sort_key) if hue else [None]
    xs_all = sorted({r.get(x) for r in rows}, key=sort_key)
    categorical = any(numeric(v) is None for v in xs_all)
    position = {v: (i if categorical else numeric(v)) for i, v in enumerate(xs_all)}

    fig = Figure(figsize=(4.2 * len(facets), 3.4), layout="constrained")
    axes = fig.subplots(1, len(facets), sharey=True, squeeze=False)[0]
    for ax, fv in zip(axes, facets):
        for hv in hues:
            pts: dict[Any, list[float]] = {}
            for r in rows:
                if (facet and r.get(facet) != fv) or (hue and r.get(hue) != hv):
                    continue
                val = numeric(r.get(y))
                if val is not None and math.isfinite(val):
                    pts.setdefault(r.get(x), []).append(val)
            if not pts:
                continue
            keys = sorted(pts, key=sort_key)
            px = np.array([position[k] for k in keys], dtype=float)
            vals = [np.array(pts[k]) for k in keys]
            mean = np.array([v.mean() for v in vals])
            n_seeds = max(len(v) for v in vals)
            label = f"{hue}={hv}" if hue else y
            (line,) = ax.plot(px, mean, marker="o", ms=3, label=f"{label} (n={n_seeds})")
            if band == "sd":
                sd = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
                lo, hi = mean - sd, mean + sd
            elif band == "range":
                lo = np.array([v.min() for v in vals])
                hi = np.array([v.max() for v in vals])
            if band != "none":
                ax.fill_between(px, lo, hi, alpha=0.2, color=line.get_color(), linewidth=0)
        if categorical:
            ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
        ax.set_xlabel(x)
        if facet:
            ax.set_title(f"{facet} = {fv}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(y)
    axes[0].legend(fontsize="small")
    return fig
