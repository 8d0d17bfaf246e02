r"""The development collection: pattern sets on which the reconstruction study's defaults are chosen.

Training defaults of the pattern-reconstruction study (Hopfield-like recurrent network storing
+-1 images) are chosen on this *development collection*, by a rule fixed before looking at the
results, and the reported results are then measured on the shipped default set ``letters16``.
``letters16`` is therefore **not** part of the collection: defaults are not tuned on the set
used for the reported results.

The collection (package data in ``memprop/data/files/dev``, text format of
:mod:`memprop.data.patterns`, statistics in each file's header and in ``README.md`` there):

* ``alphabet26`` -- the 26 uppercase letters A-Z, 10x10, thin 1-pixel strokes in a 7x10 box
  (hand-drawn for memprop from scratch; not edits of letters16).
* ``lower16`` -- 16 lowercase letters (a b c d e f g h k m p r s t u x), 10x10, thin strokes
  with ascenders and descenders (hand-drawn for memprop from scratch).
* ``corrCC_nN`` for ``CC`` in 20, 30, 40 and ``N`` in 100 (10x10), 256 (16x16) -- 16 random
  patterns each from :func:`memprop.data.patterns.random_correlated` with target mean
  pairwise Pearson correlation ``c = CC / 100``, named ``p00`` .. ``p15``.

The generated sets follow the prototype model of :mod:`memprop.data.patterns`: a prototype
:math:`\eta \in \{\pm 1\}^N` is drawn uniformly, and each pixel of each pattern copies
:math:`\eta_i` with probability :math:`q = \sqrt{c}`, else is a fresh fair +-1 draw, so the
expected Pearson correlation of two patterns is :math:`q^2 = c`. The seed of each set was
fixed in advance by the rule ``seed = 1000 + 10 * round(100 * c) + (0 if N == 100 else 1)``
(one seed per set, never re-drawn to hit a value); the realised mean correlation is recorded,
not tuned. :data:`GENERATED` holds the exact generator arguments and :func:`regenerate`
rebuilds a file's text (the test suite checks the shipped files equal it).

Every shipped set is loaded by name with :func:`load_builtin` (``"builtin:letters16"``,
``"builtin:dev/alphabet26"``, ...); :func:`builtin_names` lists the names.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from memprop.data.patterns import PatternSet, default_patterns, random_correlated, read_packaged
from memprop.errors import ConfigError, DataError

__all__ = [
    "DEVELOPMENT_SETS",
    "GENERATED",
    "HAND_DRAWN",
    "builtin_names",
    "load_builtin",
    "measured_line",
    "regenerate",
    "set_statistics",
    "write_generated",
]

_PREFIX = "builtin:"
_DEV_DIR = "dev"

DEVELOPMENT_SETS: tuple[str, ...] = (
    "alphabet26",
    "lower16",
    "corr20_n100",
    "corr30_n100",
    "corr40_n100",
    "corr20_n256",
    "corr30_n256",
    "corr40_n256",
)
"""Names of the development sets, in order (load one with ``load_builtin("builtin:dev/NAME")``)."""

HAND_DRAWN: tuple[str, ...] = ("alphabet26", "lower16")
"""The hand-drawn development sets (drawn for memprop, MIT licence)."""

# Seed rule, fixed before generating: seed = 1000 + 10 * round(100 * c) + (0 if N == 100 else 1).
GENERATED: dict[str, dict[str, Any]] = {
    "corr20_n100": {"n": 100, "count": 16, "correlation": 0.2, "seed": 1200, "shape": (10, 10)},
    "corr30_n100": {"n": 100, "count": 16, "correlation": 0.3, "seed": 1300, "shape": (10, 10)},
    "corr40_n100": {"n": 100, "count": 16, "correlation": 0.4, "seed": 1400, "shape": (10, 10)},
    "corr20_n256": {"n": 256, "count": 16, "correlation": 0.2, "seed": 1201, "shape": (16, 16)},
    "corr30_n256": {"n": 256, "count": 16, "correlation": 0.3, "seed": 1301, "shape": (16, 16)},
    "corr40_n256": {"n": 256, "count": 16, "correlation": 0.4, "seed": 1401, "shape": (16, 16)},
}
"""Generated set name -> the exact keyword arguments of its ``random_correlated`` call."""


def builtin_names() -> tuple[str, ...]:
    """Every shipped pattern set loadable as ``builtin:NAME``.

    Returns:
        ``("letters16", "dev/alphabet26", "dev/lower16", "dev/corr20_n100", ...)``.
    """
    return ("letters16", *(f"{_DEV_DIR}/{name}" for name in DEVELOPMENT_SETS))


def load_builtin(spec: str) -> PatternSet:
    """Load a shipped pattern set by its ``builtin:`` name (works from an installed wheel).

    Args:
        spec: ``"builtin:letters16"`` or ``"builtin:dev/NAME"`` with ``NAME`` one of
            :data:`DEVELOPMENT_SETS`.

    Returns:
        The :class:`PatternSet`; its ``source`` is ``spec``.

    Raises:
        ConfigError: If ``spec`` is not one of the ``builtin:`` names of :func:`builtin_names`.
        DataError: If the packaged file is missing or damaged (a broken installation).
    """
    allowed = builtin_names()
    name = spec[len(_PREFIX):] if isinstance(spec, str) and spec.startswith(_PREFIX) else None
    if name not in allowed:
        listed = ", ".join(_PREFIX + n for n in allowed)
        raise ConfigError(f"unknown built-in pattern set {spec!r}; allowed: {listed}")
    if name == "letters16":
        return default_patterns()
    filename = name.split("/", 1)[1] + ".txt"
    return read_packaged(f"{_DEV_DIR}/{filename}", source=spec)


def set_statistics(patterns: PatternSet | torch.Tensor) -> dict[str, Any]:
    """Correlation and distance statistics of a pattern set (as written in the file headers).

    The correlation is Pearson's, as :meth:`PatternSet.correlation`, computed in float64 over
    the distinct pairs ``mu != nu``; the Hamming distance counts differing pixels.

    Args:
        patterns: A :class:`PatternSet` or a ``(P, N)`` +-1 tensor with ``P >= 2``.

    Returns:
        ``{"P", "N", "mean", "min", "max", "min_hamming", "duplicates", "constant"}``:
        ``duplicates`` lists the index pairs of identical patterns, ``constant`` the indices
        of all-+1 / all--1 patterns (their correlation is undefined: ``mean``/``min``/``max``
        are then NaN).
    """
    x = patterns.patterns if isinstance(patterns, PatternSet) else patterns
    x = x.to(torch.float64)  # (P, N)
    n_patterns, n_units = x.shape
    centred = x - x.mean(dim=1, keepdim=True)  # (P, N)
    norm = torch.linalg.vector_norm(centred, dim=1)  # (P,)
    corr = (centred @ centred.T) / (norm[:, None] * norm[None, :])  # (P, P)
    off = ~torch.eye(n_patterns, dtype=torch.bool)
    hamming = (n_units - x @ x.T) / 2  # (P, P)
    i, j = torch.triu_indices(n_patterns, n_patterns, offset=1)
    return {
        "P": int(n_patterns),
        "N": int(n_units),
        "mean": float(corr[off].mean()),
        "min": float(corr[off].min()),
        "max": float(corr[off].max()),
        "min_hamming": int(round(float(hamming[off].min()))),
        "duplicates": [(int(a), int(b)) for a, b in zip(i, j) if hamming[a, b] == 0],
        "constant": [k for k in range(n_patterns) if bool((x[k] == x[k, 0]).all())],
    }


def measured_line(stats: dict[str, Any]) -> str:
    """The ``# Measured: ...`` header line of a set file (parsed by the tests)."""
    return (
        f"# Measured: P = {stats['P']}, N = {stats['N']}; Pearson correlation between distinct "
        f"patterns: mean {stats['mean']:.3f}, min {stats['min']:.3f}, max {stats['max']:.3f}; "
        f"minimum pairwise Hamming distance {stats['min_hamming']}."
    )


def regenerate(name: str) -> str:
    """The exact text of the shipped file of a generated development set.

    Args:
        name: A key of :data:`GENERATED`, e.g. ``"corr30_n100"``.

    Returns:
        The file content (header, then ``p00`` .. ``p15`` with their pixel rows).

    Raises:
        ConfigError: If ``name`` is not a generated set.
        DataError: If the generator call gives a duplicate or constant pattern (the set would
            be unusable; this is reported, never hidden by changing the seed).
    """
    if name not in GENERATED:
        raise ConfigError(
            f"unknown generated development set {name!r}; allowed: {', '.join(GENERATED)}"
        )
    kwargs = GENERATED[name]
    ps = random_correlated(**kwargs)
    stats = set_statistics(ps)
    if stats["duplicates"] or stats["constant"]:
        raise DataError(
            f"generated development set {name!r} (random_correlated({_call(kwargs)})) has "
            f"duplicate pattern pairs {stats['duplicates']} and constant patterns "
            f"{stats['constant']}"
        )
    height, width = ps.shape
    count = len(ps)
    names = [f"p{k:02d}" for k in range(count)]
    header = [
        f"# {name}: {count} random binary {height}x{width} patterns with target mean pairwise "
        f"Pearson correlation {kwargs['correlation']}, part of the memprop development collection "
        f"(memprop/data/files/dev/README.md); not used for the reported results.",
        f"# Made by memprop.data.patterns.random_correlated({_call(kwargs)}), patterns renamed "
        f"'0'..'{count - 1}' -> '{names[0]}'..'{names[-1]}'. Seed rule fixed in advance: seed = "
        f"1000 + 10 * round(100 * correlation) + (0 if n == 100 else 1). Do not edit: the tests "
        f"check this file equals memprop.data.development.regenerate({name!r}).",
        "# Prototype model: each pixel copies a shared random prototype with probability "
        "q = sqrt(correlation), else is a fresh fair +-1 draw; expected pairwise correlation "
        "q^2 = correlation.",
        f"# Format: a line with the pattern's name, then {height} rows of {width} characters; "
        f"'#' = +1 (active), '.' = -1 (inactive). Row-major flattening gives N = {ps.n} units.",
        measured_line(stats) + " No duplicate or constant pattern.",
    ]
    body: list[str] = []
    images = ps.patterns.reshape(count, height, width)  # (P, H, W)
    for label, image in zip(names, images):
        body.append(label)
        body.extend("".join("#" if v > 0 else "." for v in row.tolist()) for row in image)
    return "\n".join(header + body) + "\n"


def _call(kwargs: dict[str, Any]) -> str:
    """``n=100, count=16, ...``: keyword arguments as written in a call."""
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())


def write_generated(directory: str | Path | None = None) -> list[Path]:
    """Write the generated development sets' files (``NAME.txt``) into a directory.

    Args:
        directory: Target directory; ``None``: the package's ``files/dev`` (source checkout).

    Returns:
        The paths written.
    """
    target = Path(directory) if directory is not None else Path(__file__).parent / "files" / _DEV_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in GENERATED:
        path = target / f"{name}.txt"
        path.write_text(regenerate(name), encoding="utf-8", newline="\n")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m memprop.data.development [DIRECTORY]
    for path in write_generated(sys.argv[1] if len(sys.argv) > 1 else None):
        print(path)
