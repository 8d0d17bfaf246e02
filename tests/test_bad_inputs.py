"""Bad inputs across every command: one clear line, exit status 2, nothing written or changed.

Each case is a command line (``{d}`` is a scratch directory the case's ``setup`` fills) and the
culprit its one-line message must name. Every case asserts, in process (fast):

- exit status 2 and no traceback;
- exactly one non-empty line on stderr, ``memprop...: error: ...``, naming the culprit;
- every file that existed before is byte-identical afterwards, and nothing new was created
  (output folders are made only after validation passes).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from memprop.cli import main

# ----------------------------------------------------------------------------- file builders
LETTERS = """# two letters
A
.##.
#..#
####
#..#
B
###.
#..#
###.
####
"""


def _npy(d: Path, name: str, array) -> None:
    np.save(d / name, np.asarray(array))


def _pair(d: Path) -> None:
    rng = np.random.default_rng(0)
    _npy(d, "pats.npy", rng.choice([-1, 1], size=(4, 16)))


def _png(d: Path, name: str) -> None:
    from PIL import Image

    img = np.full((8, 8), 255, np.uint8)
    img[2:6, 3] = 0
    Image.fromarray(img).save(d / name)


def _idx(d: Path, stem: str, dims, payload: bytes, *, gz: bool = False, dtype: int = 0x08) -> None:
    header = struct.pack(">BBBB", 0, 0, dtype, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    data = header + payload
    if gz:
        with gzip.open(d / f"{stem}.gz", "wb") as f:
            f.write(data)
    else:
        (d / stem).write_bytes(data)


def _mnist(d: Path, n: int = 40, *, test_labels: bytes | None = None) -> None:
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        _idx(d, f"{prefix}-images-idx3-ubyte", (n, 28, 28), rng.integers(0, 256, n * 784, np.uint8).tobytes())
        labels = bytes(i % 10 for i in range(n))
        if prefix == "t10k" and test_labels is not None:
            labels = test_labels
            _idx(d, f"{prefix}-images-idx3-ubyte", (len(labels), 28, 28), bytes(784 * len(labels)))
        _idx(d, f"{prefix}-labels-idx1-ubyte", (len(labels),), labels)


def _liar_npy(d: Path) -> None:
    """A .npy file whose header announces 10^13 float64 values but holds 64 bytes."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 100000), }"
    header += b" " * (118 - len(header)) + b"\n"
    (d / "liar.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(64))


def _gzip_bomb(d: Path) -> None:
    (d / "mnist").mkdir()
    m = d / "mnist"
    # The header announces 10 images; the stream decompresses to ~2 GB of zeros.
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 10, 28, 28)
    with gzip.open(m / "train-images-idx3-ubyte.gz", "wb", compresslevel=9) as f:
        f.write(header)
        chunk = bytes(1 << 24)
        for _ in range(128):
            f.write(chunk)
    _idx(m, "train-labels-idx1-ubyte", (10,), bytes(range(10)))


def _huge_header(d: Path) -> None:
    (d / "mnist").mkdir()
    # A 20-byte file whose header announces 4e9 x 28 x 28 images.
    _idx(d / "mnist", "train-images-idx3-ubyte", (4_000_000_000, 28, 28), b"")
    _idx(d / "mnist", "train-labels-idx1-ubyte", (10,), bytes(range(10)))


def _store(d: Path) -> None:
    from memprop.sweeps.store import ResultStore

    with ResultStore(d / "s.db"):
        pass


def _spec(d: Path, text: str, name: str = "spec.toml") -> None:
    (d / name).write_text(text)


def _device_toml(d: Path, body: str, name: str = "dev.toml") -> None:
    (d / name).write_text(body)


DEVICE = """[device]
model = "constant-step"
g_min = 1e-6
g_max = 1e-5
n_states = {n_states}
"""


def _fit_csv(d: Path, name: str = "meas.csv", scale: float = 1e-6) -> None:
    rows = ["pulse,ltp,ltd"] + [f"{i},{scale * (1 + i / 10)},{scale * (3 - i / 10)}" for i in range(20)]
    (d / name).write_text("\n".join(rows) + "\n")


def _finished_reproduce(d: Path) -> None:
    (d / "out").mkdir()
    (d / "out" / "report.md").write_text("# a finished report\n")
    (d / "out" / "fig5.json").write_text("{}\n")


def _finished_train(d: Path) -> None:
    (d / "run").mkdir()
    (d / "run" / "checkpoint.pt").write_bytes(b"a finished checkpoint")
    (d / "run" / "classify.json").write_text("{}\n")


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    argv: str
    culprit: str
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def _setup(*fns):
    def run(d: Path) -> None:
        for fn in fns:
            fn(d)

    return run


TRAIN = "train classify --no-backprop --quiet --out {d}/run"
RECON = "reproduce reconstruction --quick --quiet --out {d}/out"
CLASSIFY = "reproduce classification --quick --quiet --out {d}/out"
SWEEP = "sweep run {d}/spec.toml --store {d}/s.db"

CASES = [
    # ---- global options and environment
    Case("threads-zero", "--threads 0 device list", "--threads"),
    Case("threads-negative", "--threads -2 device list", "--threads"),
    Case("threads-text", "--threads abc device list", "--threads"),
    Case("threads-huge", "--threads 99999999999999999999 device list", "--threads"),
    Case("env-threads-huge", "device list", "MEMPROP_THREADS", env={"MEMPROP_THREADS": "99999999999999999999"}),
    Case("seed-huge", TRAIN + " --seed 99999999999999999999", "--seed"),
    Case("gradcheck-seed-text", "gradcheck --seed x", "--seed"),
    Case("sweep-seed-huge", SWEEP, "seeds[0]",
         setup=lambda d: _spec(d, 'study = "selftest"\nseeds = [9223372036854775808]\n[grid]\nx = [1]\n')),
    Case("out-empty", "reproduce reconstruction --quick --quiet --out=", "--out"),
    Case("export-out-empty", "sweep export {d}/s.db --csv --out=", "--out", setup=_store),
    Case("patterns-lying-header", RECON + " --patterns {d}/liar.npy", "{d}/liar.npy", setup=lambda d: _liar_npy(d)),
    Case("env-threads-text", "device list", "MEMPROP_THREADS", env={"MEMPROP_THREADS": "abc"}),
    Case("env-threads-zero", "device list", "MEMPROP_THREADS", env={"MEMPROP_THREADS": "0"}),
    Case("env-allocator-unknown", "device list", "MEMPROP_ALLOCATOR", env={"MEMPROP_ALLOCATOR": "jemalloc"}),
    Case("env-cache-file", RECON, "MEMPROP_CACHE_DIR", setup=lambda d: (d / "f").write_text("x"),
         env={"MEMPROP_CACHE_DIR": "{d}/f"}),
    Case("env-mnist-missing", TRAIN, "MEMPROP_MNIST_DIR", env={"MEMPROP_MNIST_DIR": "{d}/nowhere"}),
    Case("env-mnist-reproduce", CLASSIFY, "MEMPROP_MNIST_DIR", env={"MEMPROP_MNIST_DIR": "{d}/nowhere"}),
    Case("env-max-tasks-text", "device list", "MEMPROP_MAX_TASKS", env={"MEMPROP_MAX_TASKS": "many"}),
    Case("env-max-units-zero", "device list", "MEMPROP_MAX_UNITS", env={"MEMPROP_MAX_UNITS": "0"}),
    Case("env-memory-check", "device list", "MEMPROP_MEMORY_CHECK", env={"MEMPROP_MEMORY_CHECK": "maybe"}),
    Case("env-max-units-small", RECON, "MEMPROP_MAX_UNITS", env={"MEMPROP_MAX_UNITS": "50"}),
    Case("unknown-command", "frobnicate", "frobnicate"),
    Case("no-command", "", "command"),
    # ---- gradcheck
    Case("gradcheck-n-small", "gradcheck --model energy --n 2", "n"),
    Case("gradcheck-n-negative", "gradcheck --n -5", "n"),
    Case("gradcheck-n-hostile", "gradcheck --n 100000", "n"),
    Case("gradcheck-model", "gradcheck --model hopfield", "--model"),
    Case("gradcheck-cuda", "gradcheck --torch-device cuda:7", "torch_device"),
    Case("gradcheck-tpu", "gradcheck --torch-device tpu", "torch_device"),
    Case("gradcheck-seed-negative", "gradcheck --model energy --n 8 --seed -1", "seed"),
    # ---- reproduce: shared options
    Case("dtype-half", "reproduce --dtype float16", "--dtype"),
    Case("reproduce-cuda", RECON + " --torch-device cuda", "torch_device"),
    Case("reproduce-seed-negative", RECON + " --seed -1", "seed"),
    Case("reproduce-workers-zero", RECON + " --workers 0", "--workers"),
    Case("reproduce-workers-text", RECON + " --workers many", "--workers"),
    Case("reproduce-workers-huge", RECON + " --workers 100000", "--workers"),
    Case("out-is-file", RECON, "{d}/out", setup=lambda d: (d / "out").write_text("mine")),
    Case("out-dev-null", "reproduce reconstruction --quick --quiet --out /dev/null", "/dev/null"),
    Case("out-under-file", "reproduce reconstruction --quick --quiet --out {d}/f/sub", "{d}/f",
         setup=lambda d: (d / "f").write_text("mine")),
    Case("out-unwritable", "reproduce reconstruction --quick --quiet --out /proc/memprop-out", "/proc/memprop-out"),
    Case("out-finished-reproduce", CLASSIFY, "--out", setup=_finished_reproduce),
    Case("out-finished-all", "reproduce --quick --quiet --out {d}/out", "--out", setup=_finished_reproduce),
    # ---- reproduce reconstruction: patterns
    Case("patterns-missing", RECON + " --patterns {d}/none.npy", "{d}/none.npy"),
    Case("patterns-one-npy", RECON + " --patterns {d}/one.npy", "{d}/one.npy",
         setup=lambda d: _npy(d, "one.npy", np.ones((1, 16)) * np.array([1, -1] * 8))),
    Case("patterns-one-txt", RECON + " --patterns {d}/one.txt", "{d}/one.txt",
         setup=lambda d: (d / "one.txt").write_text(LETTERS.split("B\n")[0])),
    Case("patterns-one-png", RECON + " --patterns {d}/a.png", "{d}/a.png", setup=lambda d: _png(d, "a.png")),
    Case("patterns-constant", RECON + " --patterns {d}/c.npy", "{d}/c.npy",
         setup=lambda d: _npy(d, "c.npy", np.stack([np.ones(16), -np.ones(16), np.r_[np.ones(8), -np.ones(8)]]))),
    Case("patterns-duplicated", RECON + " --patterns {d}/dup.npy", "{d}/dup.npy",
         setup=lambda d: _npy(d, "dup.npy", np.stack([np.r_[np.ones(8), -np.ones(8)]] * 2 + [np.tile([1, -1], 8)]))),
    Case("patterns-hostile-dims", RECON + " --patterns {d}/wide.npy", "{d}/wide.npy",
         setup=lambda d: _npy(d, "wide.npy", np.tile(np.array([1, -1], np.int8), 20000) * np.array([[1], [-1]], np.int8))),
    Case("patterns-dev-zero", RECON + " --patterns {d}/z.npy", "{d}/z.npy",
         setup=lambda d: os.symlink("/dev/zero", d / "z.npy")),
    Case("patterns-empty-dir", RECON + " --patterns {d}/pngs", "{d}/pngs", setup=lambda d: (d / "pngs").mkdir()),
    Case("patterns-not-utf8", RECON + " --patterns {d}/p.txt", "{d}/p.txt",
         setup=lambda d: (d / "p.txt").write_bytes(b"A\n\xff\xfe#.\n")),
    Case("patterns-corrupt-npy", RECON + " --patterns {d}/bad.npy", "{d}/bad.npy",
         setup=lambda d: (d / "bad.npy").write_bytes(b"\x93NUMPY garbage" * 10)),
    Case("patterns-npz-no-key", RECON + " --patterns {d}/p.npz", "{d}/p.npz",
         setup=lambda d: np.savez(d / "p.npz", other=np.ones((2, 4)))),
    Case("patterns-suffix", RECON + " --patterns {d}/p.csv", "{d}/p.csv",
         setup=lambda d: (d / "p.csv").write_text("1,-1\n")),
    Case("patterns-nan", RECON + " --patterns {d}/nan.npy", "{d}/nan.npy",
         setup=lambda d: _npy(d, "nan.npy", np.full((3, 16), np.nan))),
    Case("patterns-half", RECON + " --patterns {d}/h.npy", "{d}/h.npy",
         setup=lambda d: _npy(d, "h.npy", np.full((3, 16), 0.5))),
    Case("patterns-not-square", RECON + " --patterns {d}/ns.npy", "{d}/ns.npy",
         setup=lambda d: _npy(d, "ns.npy", np.tile([1, -1, 1], (3, 5)))),
    Case("patterns-object-npy", RECON + " --patterns {d}/o.npy", "{d}/o.npy",
         setup=lambda d: np.save(d / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)),
    # ---- reproduce reconstruction: settings
    Case("recon-epochs-zero", RECON + " --epochs 0", "epochs"),
    Case("recon-epochs-negative", RECON + " --epochs -3", "epochs"),
    Case("recon-training-p-big", RECON + " --training-p 1.5", "training_p"),
    Case("recon-training-p-nan", RECON + " --training-p nan", "training_p"),
    Case("recon-eta-negative", RECON + " --eta-rbp -1", "eta_rbp"),
    Case("recon-rate-exponent-nan", RECON + " --rbp-rate-exponent nan", "rbp_rate_exponent"),
    Case("recon-seeds-zero", RECON + " --seeds 0", "seeds"),
    Case("recon-protocol", RECON + " --protocol sideways", "--protocol"),
    Case("recon-device-preset", RECON + " --device nosuchdevice", "nosuchdevice"),
    Case("recon-device-dir", RECON + " --device {d}/dev.toml", "{d}/dev.toml",
         setup=lambda d: (d / "dev.toml").mkdir()),
    Case("recon-device-not-utf8", RECON + " --device {d}/dev.toml", "{d}/dev.toml",
         setup=lambda d: (d / "dev.toml").write_bytes(b"[device]\nmodel = \"\xff\"\n")),
    Case("recon-device-syntax", RECON + " --device {d}/dev.toml", "{d}/dev.toml",
         setup=lambda d: _device_toml(d, "[device\nmodel=")),
    Case("recon-device-states-huge", RECON + " --device {d}/dev.toml", "n_states",
         setup=lambda d: _device_toml(d, DEVICE.format(n_states="1e17"))),
    Case("recon-device-states-huge-int", RECON + " --device {d}/dev.toml", "n_states",
         setup=lambda d: _device_toml(d, DEVICE.format(n_states="100000000000000000"))),
    Case("recon-device-states-one", RECON + " --device {d}/dev.toml", "n_states",
         setup=lambda d: _device_toml(d, DEVICE.format(n_states="1"))),
    Case("recon-device-unknown-key", RECON + " --device {d}/dev.toml", "colour",
         setup=lambda d: _device_toml(d, DEVICE.format(n_states=64) + "colour = 3\n")),
    Case("recon-w-max-zero", RECON + " --device ideal --w-max 0", "w_max"),
    Case("recon-w-max-nan", RECON + " --device ideal --w-max nan", "w_max"),
    Case("recon-scheme", RECON + " --device ideal --scheme sloppy", "--scheme"),
    # ---- reproduce classification / devices
    Case("classify-epochs-zero", CLASSIFY + " --epochs 0", "epochs"),
    Case("classify-data-dir-missing", CLASSIFY + " --data-dir {d}/nowhere", "{d}/nowhere"),
    Case("classify-device-missing", CLASSIFY + " --device {d}/none.toml", "{d}/none.toml"),
    Case("devices-rules", "reproduce devices --quick --rules storkey", "--rules"),
    # ---- train classify
    Case("train-epochs-zero", TRAIN + " --epochs 0", "epochs"),
    Case("train-hidden-zero", TRAIN + " --hidden 0", "hidden"),
    Case("train-hidden-hostile", TRAIN + " --hidden 4000000", "hidden"),
    Case("train-batch-zero", TRAIN + " --batch-size 0", "batch_size"),
    Case("train-beta-zero", TRAIN + " --beta 0", "beta"),
    Case("train-alphas-count", TRAIN + " --alphas 0.1 0.1 0.1", "alphas"),
    Case("train-alphas-nan", TRAIN + " --alphas nan 0.1", "alphas"),
    Case("train-classes-range", TRAIN + " --classes 0-12", "classes"),
    Case("train-classes-text", TRAIN + " --classes abc", "classes"),
    Case("train-per-class-huge", TRAIN + " --per-class 100000", "per_class"),
    Case("train-test-fraction", TRAIN + " --test-fraction 1.5", "test_fraction"),
    Case("train-epsilon-zero", TRAIN + " --epsilon 0", "epsilon"),
    Case("train-free-steps-zero", TRAIN + " --free-steps 0", "free_steps"),
    Case("train-eval-steps", TRAIN + " --eval-steps -1", "eval_steps"),
    Case("train-halve-every", TRAIN + " --halve-every 0", "halve_every"),
    Case("train-estimator", TRAIN + " --estimator two-sided", "--estimator"),
    Case("train-data-dir-missing", TRAIN + " --data-dir {d}/nowhere", "{d}/nowhere"),
    Case("train-data-dir-file", TRAIN + " --data-dir {d}/f", "{d}/f", setup=lambda d: (d / "f").write_text("x")),
    Case("train-data-dir-empty", TRAIN + " --data-dir {d}", "train-images-idx3-ubyte"),
    Case("train-gzip-bomb", TRAIN + " --data-dir {d}/mnist", "train-images-idx3-ubyte.gz", setup=_gzip_bomb),
    Case("train-idx-huge-header", TRAIN + " --data-dir {d}/mnist", "train-images-idx3-ubyte", setup=_huge_header),
    Case("train-idx-truncated", TRAIN + " --data-dir {d}", "train-images-idx3-ubyte",
         setup=lambda d: (_mnist(d), (d / "train-images-idx3-ubyte").write_bytes(
             (d / "train-images-idx3-ubyte").read_bytes()[:500]))),
    Case("train-idx-bad-magic", TRAIN + " --data-dir {d}", "train-labels-idx1-ubyte",
         setup=lambda d: (_mnist(d), (d / "train-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03\x04" * 4))),
    Case("train-test-file-empty", TRAIN + " --data-dir {d}", "t10k", setup=lambda d: _mnist(d, test_labels=b"")),
    Case("train-test-file-classless", TRAIN + " --data-dir {d} --classes 0-4", "t10k",
         setup=lambda d: _mnist(d, test_labels=bytes([7, 8, 9] * 4))),
    Case("train-finished", TRAIN, "--out", setup=_finished_train),
    Case("train-resume-nothing", TRAIN + " --resume", "checkpoint"),
    Case("train-resume-corrupt", TRAIN + " --resume", "checkpoint",
         setup=lambda d: ((d / "run").mkdir(), (d / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint"))),
    Case("train-w-max-negative", TRAIN + " --device ideal --w-max -1", "w_max"),
    # ---- sweep run
    Case("sweep-spec-missing", "sweep run {d}/none.toml --store {d}/s.db", "{d}/none.toml"),
    Case("sweep-spec-syntax", SWEEP, "{d}/spec.toml",
         setup=lambda d: _spec(d, "study = [")),
    Case("sweep-spec-not-utf8", SWEEP, "{d}/spec.toml",
         setup=lambda d: (d / "spec.toml").write_bytes(b'study = "\xff"\n')),
    Case("sweep-spec-dir", SWEEP, "{d}/spec.toml",
         setup=lambda d: (d / "spec.toml").mkdir()),
    Case("sweep-study", SWEEP, "study",
         setup=lambda d: _spec(d, 'study = "nope"\n')),
    Case("sweep-K-range", SWEEP, "K",
         setup=lambda d: _spec(d, 'study = "reconstruction"\n[grid]\nK = [0, 150]\n')),
    Case("sweep-p-range", SWEEP, "p",
         setup=lambda d: _spec(d, 'study = "reconstruction"\n[grid]\np = [0.1, 1.5]\n')),
    Case("sweep-seed-negative", SWEEP, "seed",
         setup=lambda d: _spec(d, 'study = "reconstruction"\nseeds = [-1]\n[grid]\np = [0.1]\n')),
    Case("sweep-classification-range", SWEEP, "epochs",
         setup=lambda d: _spec(d, 'study = "classification"\n[grid]\nepochs = [0, 1]\n')),
    Case("sweep-too-many-tasks", SWEEP, "tasks",
         setup=lambda d: _spec(d, 'study = "reconstruction"\nseeds = 1000\n[grid]\n'
                                  + "p = [" + ", ".join(f"{i / 1000:.3f}" for i in range(1, 500)) + "]\n"
                                  + "K = [" + ", ".join(str(i) for i in range(90)) + "]\n"
                                  + "eta = [" + ", ".join(f"{0.001 * i:.3f}" for i in range(1, 6)) + "]\n")),
    Case("sweep-max-tasks", SWEEP + " --max-tasks 5", "tasks",
         setup=lambda d: _spec(d, 'study = "selftest"\nseeds = 3\n[grid]\nx = [1, 2, 3]\n')),
    Case("sweep-unknown-setting", SWEEP, "colour",
         setup=lambda d: _spec(d, 'study = "reconstruction"\n[grid]\ncolour = [1]\n')),
    Case("sweep-empty-grid-list", SWEEP, "grid.p",
         setup=lambda d: _spec(d, 'study = "reconstruction"\n[grid]\np = []\n')),
    Case("sweep-store-dir", "sweep run {d}/spec.toml --store {d}", "{d}",
         setup=lambda d: _spec(d, 'study = "reconstruction"\n[grid]\np = [0.1]\n')),
    Case("sweep-store-corrupt", SWEEP, "{d}/s.db",
         setup=lambda d: (_spec(d, 'study = "reconstruction"\n[grid]\np = [0.1]\n'),
                          (d / "s.db").write_bytes(b"not sqlite at all" * 100))),
    Case("sweep-store-under-file", "sweep run {d}/spec.toml --store {d}/f/s.db", "{d}/f",
         setup=lambda d: (_spec(d, 'study = "reconstruction"\n[grid]\np = [0.1]\n'), (d / "f").write_text("x"))),
    Case("sweep-workers-zero", SWEEP + " --workers 0", "--workers"),
    # ---- sweep status / export / plot
    Case("status-missing", "sweep status {d}/none.db", "{d}/none.db"),
    Case("status-corrupt", "sweep status {d}/s.db", "{d}/s.db",
         setup=lambda d: (d / "s.db").write_bytes(b"SQLite format 3\x00" + bytes(200))),
    Case("status-dir", "sweep status {d}", "{d}"),
    Case("export-onto-store", "sweep export {d}/s.db --csv --out {d}/s.db", "--out", setup=_store),
    Case("export-onto-existing", "sweep export {d}/s.db --json --out {d}/e.json", "--out",
         setup=lambda d: (_store(d), (d / "e.json").write_text("mine"))),
    Case("export-dev-full", "sweep export {d}/s.db --csv --out /dev/full", "/dev/full", setup=_store),
    Case("export-out-dir", "sweep export {d}/s.db --csv --out {d}", "{d}", setup=_store),
    Case("plot-format", "sweep plot {d}/s.db --x p --y accuracy --out {d}/p.xyz", "p.xyz", setup=_store),
    Case("plot-empty-store", "sweep plot {d}/s.db --x p --y accuracy --out {d}/p.png", "{d}/s.db", setup=_store),
    Case("plot-missing-store", "sweep plot {d}/none.db --x p --y accuracy --out {d}/p.png", "{d}/none.db"),
    Case("plot-where", "sweep plot {d}/s.db --x p --y accuracy --where nokeyvalue", "--where", setup=_store),
    # ---- device tools
    Case("fit-onto-input", "device fit {d}/meas.toml", "meas.toml", setup=lambda d: _fit_csv(d, "meas.toml")),
    Case("fit-missing", "device fit {d}/none.csv", "{d}/none.csv"),
    Case("fit-not-utf8", "device fit {d}/m.csv", "{d}/m.csv", setup=lambda d: (d / "m.csv").write_bytes(b"ltp\n\xff\xfe\n")),
    Case("fit-huge-values", "device fit {d}/meas.csv --no-plot", "{d}/meas.csv",
         setup=lambda d: _fit_csv(d, scale=1e295)),
    Case("fit-empty", "device fit {d}/m.csv", "{d}/m.csv", setup=lambda d: (d / "m.csv").write_text("")),
    Case("fit-model", "device fit {d}/meas.csv --model quantum", "--model", setup=_fit_csv),
    Case("fit-out-existing", "device fit {d}/meas.csv --no-plot --out {d}/dev.toml", "--out",
         setup=lambda d: (_fit_csv(d), (d / "dev.toml").write_text("mine"))),
    Case("fit-plot-format", "device fit {d}/meas.csv --plot {d}/fit.xyz --out {d}/o.toml", "fit.xyz", setup=_fit_csv),
    Case("fit-dir", "device fit {d}", "{d}"),
    Case("import-not-json", "device import {d}/a.json", "{d}/a.json", setup=lambda d: (d / "a.json").write_text("{nope")),
    Case("import-class", "device import {d}/a.json", "Quantum",
         setup=lambda d: (d / "a.json").write_text(json.dumps({"class": "QuantumDevice"}))),
    Case("import-onto-input", "device import {d}/a.toml --out {d}/a.toml", "--out",
         setup=lambda d: (d / "a.toml").write_text('class = "ConstantStepDevice"\n')),
    Case("export-device-missing", "device export {d}/none.toml", "{d}/none.toml"),
    Case("export-w-max", "device export ideal --w-max 0", "w_max"),
    Case("show-unknown", "device show nosuchdevice", "nosuchdevice"),
]


# ----------------------------------------------------------------------------- the check
def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root``: file bytes, 'dir' or the link target. SQLite's own sidecar files
    (``-wal``, ``-shm``), which a read-only reader of a store may leave, are not data and are left out."""
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel.endswith(("-wal", "-shm")):
            continue
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = p.read_bytes()
    return out


def _fmt(text: str, d: Path) -> str:
    return text.replace("{d}", str(d))


def _normal(text: str) -> str:
    return text.lower().replace("-", "_").lstrip("_")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case: Case, tmp_path: Path, monkeypatch, capsys) -> None:
    d = tmp_path / "w"
    d.mkdir()
    monkeypatch.setenv("MEMPROP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEMPROP_MNIST_DIR", raising=False)
    monkeypatch.delenv("MEMPROP_THREADS", raising=False)
    for k, v in case.env.items():
        monkeypatch.setenv(k, _fmt(v, d))
    if case.setup is not None:
        case.setup(d)
    before = _snapshot(tmp_path)
    argv = _fmt(case.argv, d).split()
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit status {code}; stderr:\n{err}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("memprop") and ": error: " in lines[0], lines[0]
    assert _normal(_fmt(case.culprit, d)) in _normal(lines[0]), f"{case.culprit!r} not named in: {lines[0]}"
    assert _snapshot(tmp_path) == before, "a file or folder was created or changed"


def test_the_table_is_large() -> None:
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


# ----------------------------------------------------------------------------- the three overwrites
def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_sweep_export_never_replaces_its_store(tmp_path: Path, capsys) -> None:
    from memprop.sweeps.store import ResultStore

    db = tmp_path / "x.db"
    with ResultStore(db):
        pass
    before = db.read_bytes()
    for extra in ([], ["--force"]):  # not even with --force: the output is the input
        code, err = _run(["sweep", "export", str(db), "--csv", "--out", str(db), *extra], capsys)
        assert code == 2 and "is the input file" in err
        assert db.read_bytes() == before
    # An existing export is replaced only with --force.
    out = tmp_path / "x.csv"
    out.write_text("keep me")
    assert _run(["sweep", "export", str(db), "--csv", "--out", str(out)], capsys)[0] == 2
    assert out.read_text() == "keep me"
    assert _run(["sweep", "export", str(db), "--csv", "--out", str(out), "--force"], capsys)[0] == 0
    assert out.read_text() != "keep me"


def test_device_fit_never_writes_onto_its_input(tmp_path: Path, capsys) -> None:
    _fit_csv(tmp_path, "meas.toml")  # CSV data under a .toml name: the default --out is the input
    src = tmp_path / "meas.toml"
    before = src.read_bytes()
    for extra in ([], ["--force"]):
        code, err = _run(["device", "fit", str(src), "--no-plot", *extra], capsys)
        assert code == 2 and "is the input file" in err
        assert src.read_bytes() == before
    # Elsewhere the fit works, and an existing device file is replaced only with --force.
    out = tmp_path / "fitted.toml"
    assert _run(["device", "fit", str(src), "--no-plot", "--out", str(out)], capsys)[0] == 0
    first = out.read_bytes()
    assert _run(["device", "fit", str(src), "--no-plot", "--out", str(out)], capsys)[0] == 2
    assert out.read_bytes() == first
    assert _run(["device", "fit", str(src), "--no-plot", "--out", str(out), "--force"], capsys)[0] == 0


def test_train_never_replaces_a_finished_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["train", "classify", "--no-backprop", "--quiet", "--hidden", "8", "--classes", "0-1",
            "--per-class", "10", "--epochs", "1", "--eval-steps", "5", "--out", str(out)]
    assert _run(argv, capsys)[0] == 0
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"checkpoint.pt", "classify.json"} <= set(files)
    code, err = _run(argv, capsys)
    assert code == 2 and "--force" in err and "--resume" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    assert _run([*argv, "--force"], capsys)[0] == 0  # asked to: replaced
