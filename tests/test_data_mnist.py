"""Tests for memprop.data.mnist: shipped subset, IDX files, class selection and splits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from memprop.data import (
    MNIST_DIR_ENV,
    load_builtin_mnist,
    load_mnist_idx,
    parse_classes,
    read_idx,
    select_classes,
    split_train_test,
    to_inputs,
)
from memprop.errors import ConfigError, DataError

MNIST_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]

# IDX dtype byte for each numpy dtype used in these tests.
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX: magic 0x0000TTDD, big-endian uint32 dims, big-endian data."""
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, _CODES[big.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + big.tobytes()


def _write_idx(path: Path, array: np.ndarray) -> Path:
    data = _idx_bytes(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def _fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def _write_split(directory: Path, prefix: str, n: int, *, gz: bool, seed: int = 0) -> None:
    images, labels = _fake_mnist(n, seed)
    ext = ".gz" if gz else ""
    _write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
    _write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)


# --------------------------------------------------------------------------------------------
# Shipped subset


def test_builtin_mnist() -> None:
    images, labels = load_builtin_mnist()
    assert images.shape == (10000, 28, 28)
    assert images.dtype == torch.uint8
    assert labels.shape == (10000,)
    assert labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == MNIST_COUNTS
    assert int(images.max()) == 255
    assert int(images.min()) == 0


def test_to_inputs() -> None:
    images = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)  # (1, 2, 2)
    x = to_inputs(images)
    assert x.dtype == torch.float32
    assert x.shape == (1, 4)
    assert torch.allclose(x, torch.tensor([[0.0, 1.0, 0.2, 0.4]]))
    with pytest.raises(ConfigError, match="uint8 tensor of shape"):
        to_inputs(images.to(torch.float32))
    with pytest.raises(ConfigError, match="uint8 tensor of shape"):
        to_inputs(images[0])


# --------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("name", ["arr.idx", "arr.idx.gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, 1, 4, 1, 5], dtype=np.uint8),
        np.array([[-7, 2**30], [0, 5]], dtype=">i4"),
        np.array([1.5, -2.25], dtype=">f4"),
    ],
)
def test_read_idx_roundtrip(tmp_path: Path, name: str, array: np.ndarray) -> None:
    path = _write_idx(tmp_path / name, array)
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable  # safe for torch.from_numpy


def test_read_idx_truncated(tmp_path: Path) -> None:
    data = _idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))  # 16-byte header + 24 bytes
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(data[:-5])
    with pytest.raises(DataError, match=r"short-idx3-ubyte: .*truncated.*need 24 bytes.* has 19"):
        read_idx(path)


def test_read_idx_trailing(tmp_path: Path) -> None:
    data = _idx_bytes(np.zeros(5, dtype=np.uint8))
    path = tmp_path / "long.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(data + b"\x00\x00")
    with pytest.raises(DataError, match=r"long\.gz: .*trailing bytes.*need 5 bytes.* has 7"):
        read_idx(path)


@pytest.mark.parametrize(
    "head",
    [
        b"\x01\x00\x08\x01",  # first byte not zero
        b"\x00\x00\x07\x01",  # unknown dtype byte
        b"\x00\x00\x08\x00",  # zero dimensions
    ],
)
def test_read_idx_bad_magic(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "bad-magic"
    path.write_bytes(head + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match=r"bad-magic: bad IDX magic number 0x"):
        read_idx(path)


def test_read_idx_short_header_and_bad_gzip(tmp_path: Path) -> None:
    path = tmp_path / "hdr"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 2))  # 3 dims announced, 1 given
    with pytest.raises(DataError, match=r"hdr: truncated IDX header"):
        read_idx(path)
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match=r"tiny: file too short"):
        read_idx(path)
    path = tmp_path / "fake.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match=r"fake\.gz: cannot read"):
        read_idx(path)
    with pytest.raises(DataError, match=r"missing: no such file"):
        read_idx(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# load_mnist_idx


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx(tmp_path: Path, gz: bool) -> None:
    _write_split(tmp_path, "train", 30, gz=gz, seed=1)
    _write_split(tmp_path, "t10k", 20, gz=gz, seed=2)
    images, labels = load_mnist_idx(tmp_path)
    ref_images, ref_labels = _fake_mnist(30, 1)
    assert images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    assert torch.equal(images, torch.from_numpy(ref_images))
    assert torch.equal(labels, torch.from_numpy(ref_labels.astype(np.int64)))
    test_images, test_labels = load_mnist_idx(str(tmp_path), split="test")
    assert test_images.shape == (20, 28, 28)
    assert test_labels.shape == (20,)


def test_load_mnist_idx_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_split(tmp_path, "train", 10, gz=True)
    monkeypatch.setenv(MNIST_DIR_ENV, str(tmp_path))
    images, _ = load_mnist_idx()
    assert images.shape == (10, 28, 28)
    monkeypatch.delenv(MNIST_DIR_ENV)
    with pytest.raises(
        DataError, match=f"pass data_dir=... or set the environment variable {MNIST_DIR_ENV}"
    ):
        load_mnist_idx()


def test_load_mnist_idx_missing(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", 10, gz=False)
    with pytest.raises(
        DataError, match=r"looked for 't10k-images-idx3-ubyte' and 't10k-images-idx3-ubyte\.gz'"
    ):
        load_mnist_idx(tmp_path, split="test")
    with pytest.raises(DataError, match="does not exist"):
        load_mnist_idx(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"split must be one of \['test', 'train'\]"):
        load_mnist_idx(tmp_path, split="validation")


def test_load_mnist_idx_count_mismatch(tmp_path: Path) -> None:
    images, labels = _fake_mnist(10, 0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:9])
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte has 10 images but .*train-labels-idx1-ubyte "
        r"has 9 labels",
    ):
        load_mnist_idx(tmp_path)


def test_load_mnist_idx_bad_content(tmp_path: Path) -> None:
    images, labels = _fake_mnist(10, 0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", images)
    labels[3] = 12
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: labels must be in 0\.\.9"):
        load_mnist_idx(tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte", images.reshape(10, 784))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: expected uint8 images"):
        load_mnist_idx(tmp_path)


# --------------------------------------------------------------------------------------------
# parse_classes


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0-4", (0, 1, 2, 3, 4)),
        ("0,3,7", (0, 3, 7)),
        ("0-2,5", (0, 1, 2, 5)),
        (" 9 , 1-2 ", (9, 1, 2)),
        ("7", (7,)),
        ([3, 1], (3, 1)),
        (np.array([2, 8]), (2, 8)),
    ],
)
def test_parse_classes(spec: object, expected: tuple[int, ...]) -> None:
    assert parse_classes(spec) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("0-10", r"must be in 0\.\.9, got \[10\]"),
        ("1,1", r"duplicated classes \[1\]"),
        ("0-3,2", r"duplicated classes \[2\]"),
        ("4-2", "runs backwards"),
        ("a", "cannot parse 'a'"),
        ("1,,2", "cannot parse ''"),
        ("-1", "cannot parse '-1'"),
        ([], "at least one class"),
        ([1.0], "must be an int"),
        (5, "str like '0-4' or a sequence"),
    ],
)
def test_parse_classes_errors(spec: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_classes(spec)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# select_classes and split_train_test


def _traceable(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """'Images' that are their own index, so selections can be traced back."""
    return torch.arange(n), torch.arange(n) % 10


def test_select_classes() -> None:
    images, labels = _traceable()
    x, y = select_classes(images, labels, "7,2", 5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (10,)
    assert y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [5, 5]
    assert len(set(x.tolist())) == 10  # no example twice
    # New label k <=> original class classes[k], in the order given.
    assert torch.equal(labels[x], torch.tensor([7, 2])[y])
    # Random order: not grouped by class.
    assert not torch.equal(y, y.sort().values)
    assert not torch.equal(y, y.sort(descending=True).values)
    # Determinism.
    x2, y2 = select_classes(images, labels, (7, 2), 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    assert torch.equal(y, y2)
    x3, _ = select_classes(images, labels, (7, 2), 5, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(x, x3)


def test_select_classes_all_and_builtin() -> None:
    images, labels = load_builtin_mnist()
    gen = torch.Generator().manual_seed(0)
    x, y = select_classes(images, labels, "0-2", None, generator=gen)
    assert x.shape == (1001 + 1127 + 991, 28, 28)
    assert torch.bincount(y).tolist() == MNIST_COUNTS[:3]


def test_select_classes_errors() -> None:
    images, labels = _traceable(100)  # 10 per class
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ConfigError, match="class 3 has 10 examples, fewer than per_class = 11"):
        select_classes(images, labels, [3], 11, generator=gen)
    with pytest.raises(ConfigError, match="per_class must be None or an int >= 1, got 0"):
        select_classes(images, labels, [3], 0, generator=gen)
    with pytest.raises(ConfigError, match="same length"):
        select_classes(images[:50], labels, [3], 1, generator=gen)
    with pytest.raises(ConfigError, match="class 4 has 0 examples"):
        select_classes(images[labels != 4], labels[labels != 4], [4], None, generator=gen)


def test_split_train_test() -> None:
    images, labels = load_builtin_mnist()
    tr_x, tr_y, te_x, te_y = split_train_test(images, labels, n_train=1000, seed=0)
    assert tr_x.shape == (1000, 28, 28)
    assert tr_y.shape == (1000,)
    assert te_x.shape == (9000, 28, 28)
    assert te_y.shape == (9000,)
    # Stratified: each class gets its share of 1000 within 1 (largest-remainder rounding).
    expected = torch.tensor(MNIST_COUNTS, dtype=torch.float64) * 1000 / 10000
    assert (torch.bincount(tr_y, minlength=10) - expected).abs().max() < 1
    # Shuffled, not in the sorted order of the shipped set.
    assert not torch.equal(tr_y, tr_y.sort().values)
    # Deterministic given the seed, different for another seed.
    again = split_train_test(images, labels, n_train=1000, seed=0)
    assert torch.equal(again[0], tr_x)
    assert torch.equal(again[3], te_y)
    other = split_train_test(images, labels, n_train=1000, seed=1)
    assert not torch.equal(other[1], tr_y)


def test_split_disjoint_and_complete() -> None:
    images, labels = _traceable(203)  # uneven class sizes (21, 21, 21, 20, ...)
    tr_x, tr_y, te_x, te_y = split_train_test(images, labels, test_fraction=0.25, seed=5)
    assert te_x.shape[0] == round(203 * 0.25)
    train, test = set(tr_x.tolist()), set(te_x.tolist())
    assert not train & test
    assert train | test == set(range(203))
    assert torch.equal(labels[tr_x], tr_y)
    assert torch.equal(labels[te_x], te_y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of n_train and test_fraction"),
        ({"n_train": 5, "test_fraction": 0.5}, "exactly one of n_train and test_fraction"),
        ({"n_train": 0}, r"n_train must be an int in 1\.\.99"),
        ({"n_train": 100}, r"n_train must be an int in 1\.\.99"),
        ({"test_fraction": 1.0}, r"test_fraction must be a float in \(0, 1\)"),
        ({"test_fraction": 0.001}, "gives 0 test examples"),
    ],
)
def test_split_validation(kwargs: dict[str, object], match: str) -> None:
    images, labels = _traceable(100)
    with pytest.raises(ConfigError, match=match):
        split_train_test(images, labels, seed=0, **kwargs)  # type: ignore[arg-type]
