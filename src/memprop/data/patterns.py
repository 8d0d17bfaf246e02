r"""Binary pattern sets for the associative-memory (reconstruction) study.

A pattern set holds :math:`P` binary images of :math:`h \times w` pixels, flattened row-major
to vectors :math:`\xi^\mu \in \{-1, +1\}^N` with :math:`N = h w` (``+1`` = active/ink,
``-1`` = inactive/background).

Correlated random patterns (:func:`random_correlated`) follow the usual prototype model: draw
a prototype :math:`\eta \in \{\pm 1\}^N` uniformly, then for every pattern :math:`\mu` and
pixel :math:`i` independently

.. math::

    \xi^\mu_i = \begin{cases} \eta_i & \text{with probability } q, \\
    \zeta^\mu_i \sim \mathrm{Uniform}\{-1, +1\} & \text{otherwise,} \end{cases}

so that :math:`\mathbb{E}[\xi^\mu_i] = q \eta_i` and, for :math:`\mu \ne \nu`,
:math:`\mathbb{E}[\xi^\mu_i \xi^\nu_i] = q^2`: the expected pairwise (Pearson) correlation is
:math:`c = q^2`, hence :math:`q = \sqrt{c}`.

Corruption (:func:`corrupt`) flips every pixel independently with probability :math:`p`
(binary symmetric channel): :math:`\tilde\xi_i = -\xi_i` with probability :math:`p`.

Files (:func:`load_patterns`):

* ``.txt``: the letters16 text format. Leading lines starting with ``#`` are a header
  (comments). Then, for each pattern, a name line followed by its rows of ``#`` (+1) and
  ``.`` (-1). Blank lines are ignored. A line containing ``#`` or ``.`` is a pixel row, any
  other non-blank line is a name, so names may not contain ``#`` or ``.``.
* ``.npy``: an array ``(P, H, W)`` or ``(P, N)`` (``N`` must then be a perfect square) with
  values in ``{-1, +1}`` or ``{0, 1}`` (0 is mapped to -1). Names are ``"0"``, ``"1"``, ...
* ``.npz``: key ``patterns`` as for ``.npy``, optional key ``names`` (a string array of length
  ``P``; save it as ``numpy.array(["A", "B"])``, not as an object array).
* ``.png``: one image = one pattern, named after the file stem; a directory of ``.png`` files
  gives one pattern per file, sorted by file name, all of the same size. Polarity: **dark ink
  is active** -- a pixel with luminance below 0.5 becomes ``+1``, a light pixel ``-1`` (so a
  black letter on white paper is the letter's active pixels). Colour images are converted to
  luminance with the ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B); transparent pixels
  are composited over white, i.e. count as background.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memprop.errors import ConfigError, DataError
from memprop.limits import FILE_BYTES_ENV, UNITS_ENV, limit

__all__ = [
    "PatternSet",
    "corrupt",
    "default_patterns",
    "load_patterns",
    "random_correlated",
]

_BUILTIN_LETTERS = "letters16.txt"
_SUFFIXES = (".txt", ".npy", ".npz", ".png")
_ROW_CHARS = frozenset("#.")
# ITU-R BT.601 luma weights, the same as Pillow's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114])


def _duplicates(names: tuple[str, ...]) -> list[str]:
    """Names that occur more than once, sorted."""
    return sorted(name for name, k in Counter(names).items() if k > 1)


@dataclass(frozen=True, eq=False)
class PatternSet:
    """An immutable set of ``P`` binary (+1/-1) patterns of ``N = h * w`` units.

    Equality is identity (``eq=False``): comparing tensors element-wise has no single truth
    value; compare ``a.patterns`` with :func:`torch.equal` instead.

    Attributes:
        patterns: ``(P, N)`` float32 tensor with values exactly +1 (active) or -1 (inactive);
            images are flattened row-major.
        names: One name per pattern, unique (any sequence of ``str`` is stored as a tuple).
        shape: Image ``(height, width)``, with ``height * width == N``.
        source: Where the set came from: a file path, ``"builtin:letters16"`` or
            ``"random(...)"``.
    """

    patterns: torch.Tensor
    r"""Patterns :math:`\xi`, ``(P, N)`` float32 with values in {-1, +1}."""
    names: tuple[str, ...]
    """One unique name per pattern."""
    shape: tuple[int, int]
    """Image (height, width); ``height * width == N``."""
    source: str
    """File path, ``"builtin:letters16"`` or ``"random(...)"``."""

    def __post_init__(self) -> None:
        """Validate the fields (and store ``names``/``shape`` as tuples).

        Raises:
            ConfigError: If a field has the wrong type, shape or values.
        """
        x = self.patterns
        if not isinstance(x, torch.Tensor):
            raise ConfigError(f"PatternSet.patterns must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ConfigError(
                f"PatternSet.patterns must have shape (P, N) with P >= 1 and N >= 1, "
                f"got shape {tuple(x.shape)}"
            )
        if x.dtype not in (torch.float32, torch.float64):
            raise ConfigError(
                f"PatternSet.patterns must be float32 or float64, got {x.dtype}; convert with "
                f".to(torch.float32)"
            )
        if not bool(((x == 1) | (x == -1)).all()):
            bad = torch.unique(x[(x != 1) & (x != -1)])[:5].tolist()
            raise ConfigError(
                f"PatternSet.patterns must contain only +1 and -1, found other values (e.g. {bad})"
            )
        n_patterns, n_units = x.shape

        names = self.names
        if isinstance(names, str) or not all(isinstance(s, str) for s in names):
            raise ConfigError(f"PatternSet.names must be a sequence of str, got {names!r}")
        names = tuple(names)
        if len(names) != n_patterns:
            raise ConfigError(
                f"PatternSet.names has {len(names)} entries but there are {n_patterns} "
                f"patterns; give one name per pattern"
            )
        dupes = _duplicates(names)
        if dupes:
            raise ConfigError(f"PatternSet.names must be unique, duplicated: {dupes}")
        object.__setattr__(self, "names", names)

        shape = self.shape
        if (
            isinstance(shape, str)
            or len(shape) != 2
            or not all(isinstance(d, Integral) and not isinstance(d, bool) for d in shape)
            or min(shape) < 1
        ):
            raise ConfigError(
                f"PatternSet.shape must be (height, width) with positive ints, got {shape!r}"
            )
        shape = (int(shape[0]), int(shape[1]))
        if shape[0] * shape[1] != n_units:
            raise ConfigError(
                f"PatternSet.shape {shape} has {shape[0] * shape[1]} pixels but the patterns "
                f"have N = {n_units} units; height * width must equal N"
            )
        object.__setattr__(self, "shape", shape)

        if not isinstance(self.source, str):
            raise ConfigError(f"PatternSet.source must be a str, got {type(self.source).__name__}")

    @property
    def n(self) -> int:
        """Number of units ``N`` (pixels per pattern)."""
        return int(self.patterns.shape[1])

    def __len__(self) -> int:
        """Number of patterns ``P``."""
        return int(self.patterns.shape[0])

    def correlation(self) -> torch.Tensor:
        r"""Pearson correlation matrix between the patterns.

        .. math:: C_{\mu\nu} = \frac{\sum_i (\xi^\mu_i - \bar\xi^\mu)
            (\xi^\nu_i - \bar\xi^\nu)}{\sqrt{\sum_i (\xi^\mu_i - \bar\xi^\mu)^2
            \sum_i (\xi^\nu_i - \bar\xi^\nu)^2}}

        Returns:
            ``(P, P)`` float32 tensor on the patterns' device, 1 on the diagonal. A constant
            pattern (all +1 or all -1) has zero variance, so its row and column are NaN.
        """
        # Computed in float64: N can be large and the result is a small (P, P) matrix.
        x = self.patterns.to(torch.float64)  # (P, N)
        centred = x - x.mean(dim=1, keepdim=True)  # (P, N)
        norm = torch.linalg.vector_norm(centred, dim=1)  # (P,)
        corr: torch.Tensor = (centred @ centred.T) / (norm[:, None] * norm[None, :])  # (P, P)
        return corr.to(torch.float32)

    def __repr__(self) -> str:
        """Short summary (the tensor itself is not printed)."""
        return (
            f"PatternSet(P={len(self)}, N={self.n}, shape={self.shape}, "
            f"names={self.names!r}, source={self.source!r})"
        )


# --------------------------------------------------------------------------------------------
# Loading


def default_patterns() -> PatternSet:
    """Return the shipped default set: 16 binary 10x10 block letters.

    Names ``A F I J K L M Q R S U V W X Y Z``; ``N = 100``; mean pairwise Pearson correlation
    about 0.36 (see the header of ``memprop/data/files/letters16.txt``).

    Returns:
        The letters16 :class:`PatternSet` with ``source == "builtin:letters16"``.

    Raises:
        DataError: If the packaged file is missing or damaged (a broken installation).
    """
    return read_packaged(_BUILTIN_LETTERS, source="builtin:letters16")


def read_packaged(relpath: str, *, source: str) -> PatternSet:
    """A pattern file shipped in ``memprop/data/files`` (``relpath`` below it), parsed.

    Raises:
        DataError: If the packaged file is missing or damaged (a broken installation).
    """
    resource = resources.files("memprop.data") / "files"
    for part in relpath.split("/"):
        resource = resource / part
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:  # pragma: no cover - only for a broken installation
        raise DataError(
            f"packaged pattern file {relpath!r} could not be read ({exc}); reinstall memprop"
        ) from exc
    return _parse_text(text, label=f"builtin {relpath}", source=source)


def load_patterns(path: str | os.PathLike[str] | None = None) -> PatternSet:
    """Load a binary pattern set from a file or directory (format chosen by suffix).

    Supported inputs (see the module docstring for the details of each format):
    ``.txt`` (letters16 text format), ``.npy``, ``.npz`` (key ``patterns``, optional
    ``names``), ``.png`` (one image, named by its stem) or a directory of ``.png`` files
    (sorted by name). Suffixes are matched case-insensitively. In images, **dark pixels
    (luminance < 0.5) are active (+1)** and light pixels are inactive (-1).

    Args:
        path: The file or directory; ``None`` loads the shipped letters (:func:`default_patterns`).

    Returns:
        The :class:`PatternSet`; its ``source`` is ``str(path)``.

    Raises:
        DataError: If the file is missing, has an unknown suffix, or is malformed (ragged rows,
            unknown characters, patterns of different sizes, an empty set, duplicate names,
            values outside {-1, 1}/{0, 1}, ...). The message names the file and, for text
            files, the line number.
    """
    if path is None:
        return default_patterns()
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    if p.is_dir():
        return _load_png_dir(p)
    _check_file(p)
    suffix = p.suffix.lower()
    if suffix == ".txt":
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{p}: not a UTF-8 text file ({exc})") from exc
        return _parse_text(text, label=str(p), source=str(p))
    if suffix == ".npy":
        return _load_npy(p)
    if suffix == ".npz":
        return _load_npz(p)
    if suffix == ".png":
        image = _read_png(p)
        return _from_array(image[None], label=str(p), source=str(p), names=(p.stem,))
    raise DataError(
        f"{p}: unknown pattern file suffix {p.suffix!r}; expected one of "
        f"{', '.join(_SUFFIXES)} or a directory of .png files"
    )


def _parse_text(text: str, *, label: str, source: str) -> PatternSet:
    """Parse the letters16 text format.

    Args:
        text: File contents.
        label: How the file is named in error messages.
        source: Stored as ``PatternSet.source``.

    Returns:
        The parsed pattern set.

    Raises:
        DataError: On any malformation, naming ``label`` and the 1-based line number.
    """
    lines = text.splitlines()
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1  # header comment lines

    # Group lines into (name, name_line, [(line_no, row), ...]).
    blocks: list[tuple[str, int, list[tuple[int, str]]]] = []
    for line_no, raw in enumerate(lines[start:], start=start + 1):
        line = raw.strip()
        if not line:
            continue
        if "#" in line or "." in line:
            if not blocks:
                raise DataError(
                    f"{label}, line {line_no}: pixel row {line!r} before any pattern name; "
                    f"each pattern starts with a name line"
                )
            bad_col = next((i for i, c in enumerate(line) if c not in _ROW_CHARS), None)
            if bad_col is not None:
                indent = len(raw) - len(raw.lstrip())  # report the column in the raw line
                raise DataError(
                    f"{label}, line {line_no}, column {indent + bad_col + 1}: unknown character "
                    f"{line[bad_col]!r} in pixel row {line!r}; rows may only contain "
                    f"'#' (+1, active) and '.' (-1, inactive)"
                )
            blocks[-1][2].append((line_no, line))
        else:
            blocks.append((line, line_no, []))

    if not blocks:
        raise DataError(f"{label}: contains no patterns (empty set)")

    seen: dict[str, int] = {}
    first_shape: tuple[int, int] | None = None
    first_name = ""
    for name, name_line, rows in blocks:
        if name in seen:
            raise DataError(
                f"{label}, line {name_line}: duplicate pattern name {name!r} "
                f"(first used on line {seen[name]})"
            )
        seen[name] = name_line
        if not rows:
            raise DataError(f"{label}, line {name_line}: pattern {name!r} has no pixel rows")
        width = len(rows[0][1])
        for row_line, row in rows[1:]:
            if len(row) != width:
                raise DataError(
                    f"{label}, line {row_line}: ragged rows in pattern {name!r}: this row "
                    f"has {len(row)} characters, the pattern's first row (line "
                    f"{rows[0][0]}) has {width}"
                )
        block_shape = (len(rows), width)
        if first_shape is None:
            first_shape, first_name = block_shape, name
        elif block_shape != first_shape:
            raise DataError(
                f"{label}, line {name_line}: pattern {name!r} is {block_shape[0]}x"
                f"{block_shape[1]} (rows x columns) but the first pattern {first_name!r} is "
                f"{first_shape[0]}x{first_shape[1]}; all patterns must have the same size"
            )

    assert first_shape is not None
    # All rows are validated; convert the whole set at once.
    chars = "".join(row for _, _, rows in blocks for _, row in rows)
    codes = np.frombuffer(chars.encode("ascii"), dtype=np.uint8)  # (P * N,)
    values = np.where(codes == ord("#"), 1.0, -1.0).astype(np.float32)
    patterns = torch.from_numpy(values.reshape(len(blocks), -1))  # (P, N)
    return PatternSet(
        patterns=patterns,
        names=tuple(name for name, _, _ in blocks),
        shape=first_shape,
        source=source,
    )


def _check_file(p: Path) -> None:
    """A plain file no larger than the file-size limit (a device such as /dev/zero never is)."""
    if not p.is_file():
        raise DataError(f"{p}: not a plain file (a device, pipe or socket); give a pattern file")
    size = p.stat().st_size
    cap = limit(FILE_BYTES_ENV)
    if size > cap:
        raise DataError(f"{p}: {size:,} bytes, more than the limit {cap:,} for an input file; set "
                        f"{FILE_BYTES_ENV} to raise it")


def _from_array(
    array: np.ndarray,
    *,
    label: str,
    source: str,
    names: tuple[str, ...] | None = None,
) -> PatternSet:
    """Build a pattern set from a ``(P, H, W)`` or ``(P, N)`` array of +-1 or 0/1 values.

    Args:
        array: The patterns.
        label: How the file is named in error messages.
        source: Stored as ``PatternSet.source``.
        names: Pattern names; ``None`` gives ``"0"``, ``"1"``, ...

    Returns:
        The pattern set.

    Raises:
        DataError: If the shape or the values are not allowed, or names are bad.
    """
    if array.dtype == np.bool_:
        array = array.astype(np.int8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(f"{label}: pattern array has dtype {array.dtype}; expected a numeric array")
    if array.ndim == 3:
        shape = (int(array.shape[1]), int(array.shape[2]))
    elif array.ndim == 2:
        n_units = int(array.shape[1])
        side = math.isqrt(n_units)
        if side * side != n_units:
            raise DataError(
                f"{label}: a (P, N) pattern array needs a square N to infer the image shape, "
                f"got N = {n_units}; save it as (P, H, W) instead"
            )
        shape = (side, side)
    else:
        raise DataError(
            f"{label}: pattern array must have shape (P, H, W) or (P, N), got shape {array.shape}"
        )
    if array.shape[0] == 0 or shape[0] * shape[1] == 0:
        raise DataError(f"{label}: contains no patterns (empty set, shape {array.shape})")
    units = shape[0] * shape[1]
    if units > limit(UNITS_ENV):
        raise DataError(f"{label}: patterns of {units:,} units ({shape[0]} x {shape[1]}), more than the "
                        f"limit {limit(UNITS_ENV):,} (a network of N units holds N^2 weights); set "
                        f"{UNITS_ENV} to raise it")

    if np.isin(array, (-1, 1)).all():
        values = array
    elif np.isin(array, (0, 1)).all():
        values = 2 * array.astype(np.int8) - 1  # 0 -> -1, 1 -> +1
    else:
        bad = np.unique(array[~np.isin(array, (-1, 0, 1))])[:5].tolist()
        if not bad:  # a mix of -1, 0 and 1
            bad = [-1, 0, 1]
        raise DataError(
            f"{label}: pattern values must all be in {{-1, 1}} or all in {{0, 1}}; found {bad}"
        )
    patterns = torch.from_numpy(
        np.ascontiguousarray(values.reshape(array.shape[0], -1), dtype=np.float32)
    )  # (P, N)

    if names is None:
        names = tuple(str(i) for i in range(patterns.shape[0]))
    if len(names) != patterns.shape[0]:
        raise DataError(
            f"{label}: {len(names)} names for {patterns.shape[0]} patterns; give one name per "
            f"pattern"
        )
    dupes = _duplicates(names)
    if dupes:
        raise DataError(f"{label}: duplicate pattern names {dupes}")
    return PatternSet(patterns=patterns, names=names, shape=shape, source=source)


def _np_load(path: Path) -> Any:
    """``numpy.load`` without pickles, turning failures into :class:`DataError`."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as a NumPy file ({exc})") from exc


def _check_npy_header(path: Path) -> None:
    """Refuse a .npy file whose header announces more data than the file holds (read first)."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)  # the header only
            offset = f.tell()
    except Exception:  # a header this check cannot read: np.load reports it (or reads a newer format)
        return
    if dtype.hasobject:
        return  # np.load refuses object arrays itself (no pickles)
    need = math.prod(shape) * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise DataError(f"{path}: the .npy header announces shape {shape} ({need:,} bytes) but the file holds "
                        f"{have:,} bytes of data; the file is truncated or corrupt")


def _load_npy(path: Path) -> PatternSet:
    """Load a ``.npy`` pattern array."""
    _check_npy_header(path)
    array = _np_load(path)
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path}: not a .npy array file")
    return _from_array(array, label=str(path), source=str(path))


def _load_npz(path: Path) -> PatternSet:
    """Load a ``.npz`` archive with key ``patterns`` and optional ``names``."""
    archive = _np_load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not a .npz archive")
    with archive:
        keys = list(archive.files)
        if "patterns" not in keys:
            raise DataError(
                f"{path}: .npz archive has no key 'patterns' (keys: {keys}); save with "
                f"numpy.savez(path, patterns=..., names=...)"
            )
        unpacked = sum(info.file_size for info in archive.zip.infolist())
        if unpacked > limit(FILE_BYTES_ENV):
            raise DataError(f"{path}: unpacks to {unpacked:,} bytes, more than the limit "
                            f"{limit(FILE_BYTES_ENV):,}; set {FILE_BYTES_ENV} to raise it")
        try:
            array = archive["patterns"]
            raw_names = archive["names"] if "names" in keys else None
        except ValueError as exc:  # object arrays need pickles, which we refuse
            raise DataError(
                f"{path}: cannot read array ({exc}); store names as a string array, e.g. "
                f"numpy.array(['A', 'B'])"
            ) from exc
    names: tuple[str, ...] | None = None
    if raw_names is not None:
        if raw_names.ndim != 1 or raw_names.dtype.kind not in "US":
            raise DataError(
                f"{path}: 'names' must be a 1-D string array, got dtype {raw_names.dtype} "
                f"and shape {raw_names.shape}"
            )
        names = tuple(
            s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in raw_names.tolist()
        )
    return _from_array(array, label=str(path), source=str(path), names=names)


def _read_png(path: Path) -> np.ndarray:
    """Read one PNG and binarise it (dark = +1, light = -1).

    Args:
        path: The PNG file.

    Returns:
        ``(H, W)`` int8 array of +1/-1.

    Raises:
        DataError: If the file cannot be decoded or has an unexpected layout.
    """
    import matplotlib.image as mpimg  # lazy: matplotlib is only needed for images
    from PIL import Image

    _check_file(path)
    try:
        with Image.open(path) as im:  # reads the header only: the size before decoding
            width, height = im.size
    except Exception as exc:  # Pillow raises many types (UnidentifiedImageError, OSError...)
        raise DataError(f"{path}: cannot read PNG image ({exc})") from exc
    if width * height > limit(UNITS_ENV):
        raise DataError(f"{path}: a {height} x {width} image, more than the limit {limit(UNITS_ENV):,} "
                        f"units per pattern; set {UNITS_ENV} to raise it")
    try:
        image = mpimg.imread(path)
    except Exception as exc:  # Pillow raises many types (UnidentifiedImageError, OSError...)
        raise DataError(f"{path}: cannot read PNG image ({exc})") from exc
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.integer):  # defensive: imread gives floats for PNG
        image = image / np.iinfo(image.dtype).max
    image = image.astype(np.float64)
    if image.ndim == 2:
        luminance = image
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        luminance = image[..., :3] @ _LUMA  # (H, W)
        if image.shape[2] == 4:
            alpha = image[..., 3]
            luminance = alpha * luminance + (1.0 - alpha)  # composite over white
    else:
        raise DataError(
            f"{path}: unsupported image layout with shape {image.shape}; expected grey, RGB or RGBA"
        )
    if luminance.size == 0:
        raise DataError(f"{path}: image is empty (shape {image.shape})")
    return np.where(luminance < 0.5, 1, -1).astype(np.int8)


def _load_png_dir(directory: Path) -> PatternSet:
    """Load every ``.png`` file of a directory (sorted by name) as one pattern each."""
    files = sorted(
        (f for f in directory.iterdir() if f.is_file() and f.suffix.lower() == ".png"),
        key=lambda f: f.name,
    )
    if not files:
        raise DataError(f"{directory}: directory contains no .png files (empty set)")
    images = [_read_png(f) for f in files]
    for f, image in zip(files, images, strict=True):
        if image.shape != images[0].shape:
            raise DataError(
                f"{f}: image is {image.shape[0]}x{image.shape[1]} (height x width) but the "
                f"first image {files[0].name} is {images[0].shape[0]}x{images[0].shape[1]}; "
                f"all patterns must have the same size"
            )
    names = tuple(f.stem for f in files)
    dupes = _duplicates(names)
    if dupes:
        raise DataError(f"{directory}: duplicate pattern names (file stems) {dupes}")
    return _from_array(np.stack(images), label=str(directory), source=str(directory), names=names)


# --------------------------------------------------------------------------------------------
# Generation and corruption


def _check_int(name: str, value: object, minimum: int) -> int:
    """Validate an integer argument ``>= minimum`` (bools rejected)."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def random_correlated(
    n: int,
    count: int,
    correlation: float,
    seed: int,
    shape: tuple[int, int] | None = None,
) -> PatternSet:
    r"""Draw random +-1 patterns with a target mean pairwise Pearson correlation.

    Implements the prototype model of the module docstring: each pixel copies a shared random
    prototype with probability :math:`q = \sqrt{c}`, else is a fresh fair +-1 draw, so the
    expected correlation between two patterns is :math:`q^2 = c`. The sample correlation of
    a finite set scatters around ``c`` by about ``1 / sqrt(n)``.

    Args:
        n: Units per pattern ``N`` (>= 1).
        count: Number of patterns ``P`` (>= 1).
        correlation: Target mean pairwise correlation ``c``, in ``[0, 1)``.
        seed: Seed of the private :class:`torch.Generator` (no global RNG state is used).
        shape: Image ``(height, width)`` with ``height * width == n``. ``None``: square
            ``(sqrt(n), sqrt(n))`` if ``n`` is a perfect square, else ``(1, n)``.

    Returns:
        The pattern set (CPU, float32), names ``"0"``, ``"1"``, ..., source
        ``"random(n=..., count=..., correlation=..., seed=...)"``.

    Raises:
        ConfigError: If an argument is out of range (the message names it and the range).
    """
    n = _check_int("n", n, 1)
    count = _check_int("count", count, 1)
    if (
        not isinstance(correlation, Real)
        or isinstance(correlation, bool)
        or not 0.0 <= float(correlation) < 1.0
    ):
        raise ConfigError(f"correlation must be a float in [0, 1), got {correlation!r}")
    correlation = float(correlation)
    if not isinstance(seed, Integral) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    if shape is None:
        side = math.isqrt(n)
        shape = (side, side) if side * side == n else (1, n)
    elif (
        isinstance(shape, str)
        or len(shape) != 2
        or not all(isinstance(d, Integral) and not isinstance(d, bool) and d >= 1 for d in shape)
        or shape[0] * shape[1] != n
    ):
        raise ConfigError(
            f"shape must be (height, width) of positive ints with height * width == n = {n}, "
            f"got {shape!r}"
        )

    generator = torch.Generator().manual_seed(int(seed))
    q = math.sqrt(correlation)
    prototype = torch.randint(0, 2, (n,), generator=generator).to(torch.float32) * 2 - 1  # (N,)
    fresh = torch.randint(0, 2, (count, n), generator=generator).to(torch.float32) * 2 - 1
    copy = torch.rand((count, n), generator=generator) < q  # (P, N)
    patterns = torch.where(copy, prototype, fresh)  # (P, N)
    return PatternSet(
        patterns=patterns,
        names=tuple(str(i) for i in range(count)),
        shape=(int(shape[0]), int(shape[1])),
        source=f"random(n={n}, count={count}, correlation={correlation}, seed={int(seed)})",
    )


def corrupt(
    patterns: torch.Tensor,
    p: float,
    *,
    generator: torch.Generator,
    samples: int | None = None,
) -> torch.Tensor:
    """Flip each pixel of +-1 patterns independently with probability ``p``.

    A flip is a sign change, so the patterns should be +-1 coded. Random numbers are drawn on
    the generator's device and moved to the patterns' device; the result is deterministic
    given the generator's state.

    Args:
        patterns: ``(P, N)`` tensor (any shape if ``samples`` is None).
        p: Flip probability, in ``[0, 1]``. ``p = 0`` returns an unchanged copy, ``p = 1``
            the negated patterns.
        generator: Source of randomness (advanced by the call).
        samples: Number ``S`` of independently corrupted copies per pattern, or ``None`` for
            one copy of the input's shape.

    Returns:
        ``(P, S, N)`` if ``samples`` is given, else a tensor of the input's shape; same dtype
        and device as ``patterns``.

    Raises:
        ConfigError: If ``patterns`` is not a tensor (of rank 2 when ``samples`` is given),
            ``p`` is outside ``[0, 1]`` or ``samples < 1``.
    """
    if not isinstance(patterns, torch.Tensor):
        raise ConfigError(f"patterns must be a torch.Tensor, got {type(patterns).__name__}")
    if not isinstance(p, Real) or isinstance(p, bool) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"p (flip probability) must be a float in [0, 1], got {p!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if samples is None:
        x = patterns
    else:
        samples = _check_int("samples", samples, 1)
        if patterns.ndim != 2:
            raise ConfigError(
                f"patterns must have shape (P, N) when samples is given, got shape "
                f"{tuple(patterns.shape)}"
            )
        x = patterns[:, None, :].expand(-1, samples, -1)  # (P, S, N)
    # float32 draws whatever the patterns' dtype (or torch's default): the same flips for every precision
    u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=torch.float32)
    flip = (u < float(p)).to(patterns.device)
    return torch.where(flip, -x, x)
