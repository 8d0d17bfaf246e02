"""Tests for memprop.data.patterns: pattern files, the shipped letters, generation, corruption."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image as mpimg  # imsave needs no GUI backend
import numpy as np
import pytest
import torch

from memprop.data import (
    PatternSet,
    corrupt,
    default_patterns,
    load_patterns,
    random_correlated,
)
from memprop.errors import ConfigError, DataError

LETTER_NAMES = tuple("AFIJKLMQRSUVWXYZ")


def _off_diagonal(c: torch.Tensor) -> torch.Tensor:
    """Off-diagonal entries of a square matrix, flattened."""
    return c[~torch.eye(c.shape[0], dtype=torch.bool)]


def _small_set() -> PatternSet:
    """Three 4x5 patterns (non-square on purpose) with names."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randint(0, 2, (3, 20), generator=gen).to(torch.float32) * 2 - 1
    return PatternSet(patterns=x, names=("a", "b", "c"), shape=(4, 5), source="test")


# --------------------------------------------------------------------------------------------
# Shipped letters


def test_shipped_letters() -> None:
    ps = default_patterns()
    assert len(ps) == 16
    assert ps.n == 100
    assert ps.shape == (10, 10)
    assert ps.names == LETTER_NAMES
    assert ps.source == "builtin:letters16"
    assert ps.patterns.dtype == torch.float32
    assert set(ps.patterns.unique().tolist()) == {-1.0, 1.0}
    off = _off_diagonal(ps.correlation())
    # The file header states min -0.13, mean 0.36, max 0.71 (rounded to 2 decimals), so the
    # exact values must agree to within half a unit in the last digit.
    assert off.mean().item() == pytest.approx(0.36, abs=0.005)
    assert off.min().item() == pytest.approx(-0.13, abs=0.005)
    assert off.max().item() == pytest.approx(0.71, abs=0.005)
    # Header: minimum Hamming distance 14.
    hamming = (ps.patterns[:, None, :] != ps.patterns[None, :, :]).sum(-1)
    assert _off_diagonal(hamming).min().item() == 14
    # Spot check the polarity and row-major layout: 'I' has its top bar on row 1, cols 2..7.
    letter_i = ps.patterns[ps.names.index("I")].reshape(10, 10)
    assert letter_i[1].tolist() == [-1, -1, 1, 1, 1, 1, 1, 1, -1, -1]


def test_load_patterns_none_is_default() -> None:
    a, b = load_patterns(), default_patterns()
    assert torch.equal(a.patterns, b.patterns)
    assert a.names == b.names


def test_correlation_matches_numpy() -> None:
    ps = default_patterns()
    c = ps.correlation()
    ref = np.corrcoef(ps.patterns.numpy().astype(np.float64))
    # float32 result of a float64 computation: agreement to float32 rounding (~1e-7).
    np.testing.assert_allclose(c.numpy(), ref, atol=1e-6)
    assert torch.allclose(torch.diagonal(c), torch.ones(16))


# --------------------------------------------------------------------------------------------
# PatternSet validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patterns": torch.zeros(2, 4)}, "only \\+1 and -1"),
        ({"patterns": torch.ones(2, 4, dtype=torch.float16)}, "float32 or float64"),
        ({"patterns": torch.ones(8)}, "shape \\(P, N\\)"),
        ({"names": ("a", "a")}, "unique"),
        ({"names": ("a",)}, "one name per pattern"),
        ({"shape": (3, 3)}, "height \\* width must equal N"),
        ({"shape": (2, 2, 1)}, "PatternSet.shape"),
        ({"source": 3}, "PatternSet.source"),
    ],
)
def test_patternset_validation(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {
        "patterns": torch.ones(2, 4),
        "names": ("a", "b"),
        "shape": (2, 2),
        "source": "test",
    }
    fields.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        PatternSet(**fields)  # type: ignore[arg-type]


def test_patternset_coerces_sequences() -> None:
    ps = PatternSet(patterns=torch.ones(2, 4), names=["a", "b"], shape=[2, 2], source="t")  # type: ignore[arg-type]
    assert ps.names == ("a", "b")
    assert ps.shape == (2, 2)


# --------------------------------------------------------------------------------------------
# Round trips


def test_roundtrip_npy_3d(tmp_path: Path) -> None:
    ps = _small_set()
    path = tmp_path / "set.npy"
    np.save(path, ps.patterns.numpy().reshape(3, 4, 5))
    back = load_patterns(path)
    assert torch.equal(back.patterns, ps.patterns)
    assert back.shape == (4, 5)
    assert back.names == ("0", "1", "2")
    assert back.source == str(path)


def test_roundtrip_npy_2d_01(tmp_path: Path) -> None:
    ps = default_patterns()
    path = tmp_path / "letters.npy"
    np.save(path, (ps.patterns.numpy() > 0).astype(np.uint8))  # {0, 1} coding, (P, N)
    back = load_patterns(str(path))
    assert torch.equal(back.patterns, ps.patterns)
    assert back.shape == (10, 10)


def test_roundtrip_npz_with_names(tmp_path: Path) -> None:
    ps = _small_set()
    path = tmp_path / "set.npz"
    np.savez(path, patterns=ps.patterns.numpy().reshape(3, 4, 5), names=np.array(ps.names))
    back = load_patterns(path)
    assert torch.equal(back.patterns, ps.patterns)
    assert back.names == ps.names
    assert back.shape == ps.shape


def test_roundtrip_npz_without_names(tmp_path: Path) -> None:
    ps = default_patterns()
    path = tmp_path / "set.npz"
    np.savez_compressed(path, patterns=ps.patterns.numpy())
    back = load_patterns(path)
    assert torch.equal(back.patterns, ps.patterns)
    assert back.names == tuple(str(i) for i in range(16))


def _save_png(path: Path, pattern: torch.Tensor, shape: tuple[int, int]) -> None:
    """Save +1 as black ink on white (gray_r maps +1 -> black)."""
    mpimg.imsave(path, pattern.reshape(shape).numpy(), cmap="gray_r", vmin=-1, vmax=1)


def test_roundtrip_png_single(tmp_path: Path) -> None:
    ps = _small_set()
    path = tmp_path / "b.png"
    _save_png(path, ps.patterns[1], ps.shape)
    back = load_patterns(path)
    assert back.names == ("b",)
    assert back.shape == (4, 5)
    assert torch.equal(back.patterns[0], ps.patterns[1])


def test_roundtrip_png_directory(tmp_path: Path) -> None:
    ps = default_patterns()
    for name, pattern in zip(ps.names, ps.patterns, strict=True):
        _save_png(tmp_path / f"{name}.png", pattern, ps.shape)
    (tmp_path / "notes.txt").write_text("ignored: not a png")
    back = load_patterns(tmp_path)
    assert back.names == LETTER_NAMES  # sorted file names
    assert torch.equal(back.patterns, ps.patterns)


def test_png_polarity_and_colour(tmp_path: Path) -> None:
    # An RGB image: dark red (luminance 0.299 * 0.5 < 0.5) is ink, yellow (0.886) is paper;
    # a fully transparent black pixel counts as background (composited over white).
    rgba = np.ones((2, 3, 4))
    rgba[0, :, :3] = [0.5, 0.0, 0.0]
    rgba[1, :, :3] = [1.0, 1.0, 0.0]
    rgba[1, 2] = [0.0, 0.0, 0.0, 0.0]
    path = tmp_path / "colour.png"
    mpimg.imsave(path, rgba)
    back = load_patterns(path)
    assert back.patterns.reshape(2, 3).tolist() == [[1, 1, 1], [-1, -1, -1]]


# --------------------------------------------------------------------------------------------
# Malformed files

GOOD_HEADER = "# test set\n# two 2x3 patterns\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # ragged: the second row of B is short
        (GOOD_HEADER + "A\n##.\n.##\nB\n#..\n#.\n", 8, "ragged rows"),
        # unknown character 'x' in column 2 of line 5
        (GOOD_HEADER + "A\n##.\n.x#\n", 5, "unknown character 'x'"),
        # pattern B has 3 rows, the first pattern 2
        (GOOD_HEADER + "A\n##.\n.##\nB\n#..\n#..\n###\n", 6, "all patterns must have the same"),
        # pattern B has 4 columns
        (GOOD_HEADER + "A\n##.\n.##\nB\n#...\n#...\n", 6, "all patterns must have the same"),
        # duplicate names
        (GOOD_HEADER + "A\n##.\n.##\nA\n#..\n#..\n", 6, "duplicate pattern name 'A'"),
        # a pixel row before any name (header ended with a blank line)
        (GOOD_HEADER + "\n.##\n", 4, "before any pattern name"),
        # a name without rows
        (GOOD_HEADER + "A\nB\n##.\n", 3, "has no pixel rows"),
    ],
)
def test_malformed_text(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad_set.txt"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_patterns(path)
    message = str(info.value)
    assert "bad_set.txt" in message
    assert f"line {line}" in message
    assert fragment in message


def test_unknown_character_column(tmp_path: Path) -> None:
    path = tmp_path / "col.txt"
    path.write_text("A\n##.\n.x#\n")
    with pytest.raises(DataError, match=r"col\.txt, line 3, column 2: unknown character 'x'"):
        load_patterns(path)


def test_empty_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("# only a header\n\n")
    with pytest.raises(DataError, match=r"empty\.txt: contains no patterns"):
        load_patterns(path)


def test_text_without_header_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("A\n##.\n.##\n\nB\n#..\n#..\n")
    ps = load_patterns(path)
    assert ps.names == ("A", "B")
    assert ps.shape == (2, 3)
    assert ps.patterns[0].tolist() == [1, 1, -1, -1, 1, 1]


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothere\.txt: no such file"):
        load_patterns(tmp_path / "nothere.txt")
    path = tmp_path / "set.csv"
    path.write_text("1,-1\n")
    with pytest.raises(DataError, match=r"set\.csv: unknown pattern file suffix '\.csv'"):
        load_patterns(path)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.array([[[1, 2], [1, 1]]]), r"values must all be in \{-1, 1\}"),
        (np.array([[[1, 0], [-1, 1]]]), r"values must all be in \{-1, 1\}"),
        (np.ones((2, 6)), "square N"),
        (np.ones(4), r"shape \(P, H, W\) or \(P, N\)"),
        (np.ones((0, 2, 2)), "empty set"),
    ],
)
def test_malformed_npy(tmp_path: Path, array: np.ndarray, match: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=match) as info:
        load_patterns(path)
    assert "bad.npy" in str(info.value)


def test_malformed_npz(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, data=np.ones((2, 2, 2)))
    with pytest.raises(DataError, match=r"bad\.npz: .*no key 'patterns'"):
        load_patterns(path)
    np.savez(path, patterns=np.ones((2, 2, 2)), names=np.array(["a", "a"]))
    with pytest.raises(DataError, match=r"bad\.npz: duplicate pattern names \['a'\]"):
        load_patterns(path)
    np.savez(path, patterns=np.ones((2, 2, 2)), names=np.array(["a"]))
    with pytest.raises(DataError, match=r"bad\.npz: 1 names for 2 patterns"):
        load_patterns(path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"bad\.npz"):
        load_patterns(path)


def test_png_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"contains no \.png files"):
        load_patterns(tmp_path)
    mpimg.imsave(tmp_path / "a.png", np.zeros((3, 3)), cmap="gray")
    mpimg.imsave(tmp_path / "b.png", np.zeros((3, 4)), cmap="gray")
    with pytest.raises(DataError, match=r"b\.png: image is 3x4 .* first image a\.png is 3x3"):
        load_patterns(tmp_path)


# --------------------------------------------------------------------------------------------
# random_correlated


@pytest.mark.parametrize("target", [0.0, 0.3, 0.6, 0.9])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_correlated_hits_target(target: float, seed: int) -> None:
    n, count = 1024, 20
    ps = random_correlated(n, count, target, seed)
    assert ps.patterns.shape == (count, n)
    assert ps.shape == (32, 32)
    assert set(ps.patterns.unique().tolist()) <= {-1.0, 1.0}
    mean = _off_diagonal(ps.correlation()).mean().item()
    # Tolerance: given the prototype, pixels are i.i.d., so the mean pairwise overlap is a mean
    # over n i.i.d. per-pixel terms X_i = mean_{a<b} x_a x_b. With M = P(P-1)/2 pairs,
    # Var(X) = [M(1-c^2) + P(P-1)(P-2)(c-c^2)] / M^2 <= [M + P(P-1)(P-2)/4] / M^2 = 0.0526
    # for P = 20, so sd(mean) <= sqrt(0.0526 / 1024) = 0.0072. The Pearson mean-centring bias
    # is O(1/n) = 0.001. 0.03 is > 4 sd for every target.
    assert mean == pytest.approx(target, abs=0.03)


def test_random_correlated_deterministic_and_shapes() -> None:
    a = random_correlated(50, 5, 0.4, seed=3, shape=(5, 10))
    b = random_correlated(50, 5, 0.4, seed=3, shape=(5, 10))
    c = random_correlated(50, 5, 0.4, seed=4, shape=(5, 10))
    assert torch.equal(a.patterns, b.patterns)
    assert not torch.equal(a.patterns, c.patterns)
    assert a.shape == (5, 10)
    assert a.source == "random(n=50, count=5, correlation=0.4, seed=3)"
    assert random_correlated(7, 2, 0.0, seed=0).shape == (1, 7)  # not a square: one row


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 3, 0.5, 0), "n must be an int >= 1, got 0"),
        ((10, 0, 0.5, 0), "count must be an int >= 1, got 0"),
        ((10, 3, 1.0, 0), r"correlation must be a float in \[0, 1\), got 1.0"),
        ((10, 3, -0.1, 0), r"correlation must be a float in \[0, 1\), got -0.1"),
        ((10, 3, 0.5, 1.5), "seed must be an int, got 1.5"),
        ((10.0, 3, 0.5, 0), "n must be an int >= 1, got 10.0"),
    ],
)
def test_random_correlated_validation(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        random_correlated(*args)  # type: ignore[arg-type]


def test_random_correlated_bad_shape() -> None:
    with pytest.raises(ConfigError, match="shape must be"):
        random_correlated(10, 3, 0.5, 0, shape=(3, 3))


# --------------------------------------------------------------------------------------------
# corrupt


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_corrupt_flip_fraction(p: float) -> None:
    x = default_patterns().patterns  # (16, 100)
    samples = 200
    y = corrupt(x, p, generator=torch.Generator().manual_seed(0), samples=samples)
    assert y.shape == (16, samples, 100)
    assert y.dtype == x.dtype
    flipped = (y != x[:, None, :]).to(torch.float64).mean().item()
    # 320,000 independent Bernoulli(p) flips: sd = sqrt(p(1-p)/320000) <= 0.00089, so an
    # absolute tolerance of 0.005 is > 5 sd.
    assert flipped == pytest.approx(p, abs=0.005)
    # Flips only change signs.
    assert torch.equal(y.abs(), torch.ones_like(y))
    # The copies are independent: the flip fraction per copy scatters, copies differ.
    assert not torch.equal(y[:, 0], y[:, 1])


def test_corrupt_p0_p1_and_shapes() -> None:
    x = default_patterns().patterns
    gen = torch.Generator().manual_seed(0)
    y0 = corrupt(x, 0.0, generator=gen)
    assert y0.shape == x.shape
    assert torch.equal(y0, x)
    assert y0.data_ptr() != x.data_ptr()  # a new tensor, never an alias
    assert torch.equal(corrupt(x, 1.0, generator=gen), -x)
    assert torch.equal(corrupt(x, 0, generator=gen, samples=3), x[:, None].expand(-1, 3, -1))
    z = corrupt(x.reshape(16, 10, 10), 0.1, generator=gen)  # any shape without samples
    assert z.shape == (16, 10, 10)


def test_corrupt_deterministic() -> None:
    x = default_patterns().patterns
    a = corrupt(x, 0.3, generator=torch.Generator().manual_seed(42), samples=4)
    b = corrupt(x, 0.3, generator=torch.Generator().manual_seed(42), samples=4)
    c = corrupt(x, 0.3, generator=torch.Generator().manual_seed(43), samples=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize(
    ("p", "samples", "match"),
    [
        (-0.1, None, r"p \(flip probability\) must be a float in \[0, 1\], got -0.1"),
        (1.5, None, r"got 1.5"),
        (math.nan, None, r"got nan"),
        (0.1, 0, "samples must be an int >= 1, got 0"),
    ],
)
def test_corrupt_validation(p: float, samples: int | None, match: str) -> None:
    x = default_patterns().patterns
    with pytest.raises(ConfigError, match=match):
        corrupt(x, p, generator=torch.Generator(), samples=samples)


def test_corrupt_samples_needs_2d() -> None:
    with pytest.raises(ConfigError, match=r"shape \(P, N\) when samples is given"):
        corrupt(torch.ones(2, 3, 4), 0.1, generator=torch.Generator(), samples=2)
