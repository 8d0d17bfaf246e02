"""Options shared by several commands, and the one table of command-line spellings.

Every choice has one spelling across Python, TOML and the command line (``one_sided``,
``hard_sigmoid``, ``cross_entropy``); the command line also accepts the hyphenated form
(``one-sided``), turned into the canonical one here.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Sequence

from .._parallel import MAX_WORKERS
from .._runtime import DTYPES, MAX_THREADS
from .._validate import SEED_MAX
from ..data.mnist import MNIST_DIR_ENV as MNIST_ENV


def spelling(allowed: Sequence[str]):
    """An argparse ``type`` accepting ``allowed`` and their hyphenated forms (returns the canonical)."""
    table = {a: a for a in allowed} | {a.replace("_", "-"): a for a in allowed}

    def parse(text: str) -> str:
        if text not in table:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(allowed)}, got {text!r}")
        return table[text]

    parse.__name__ = "choice"
    return parse


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def thread_count(text: str) -> int:
    """An argparse ``type``: a torch thread count, 1..MAX_THREADS."""
    value = positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be an integer in 1..{MAX_THREADS}, got {text!r}")
    return value


def worker_count(text: str) -> int:
    """An argparse ``type``: a number of worker processes, 1..MAX_WORKERS."""
    value = positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be an integer in 1..{MAX_WORKERS}, got {text!r}")
    return value


def seed(text: str) -> int:
    """An argparse ``type``: a seed, 0..2^63 - 1."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{SEED_MAX}, got {text!r}")
    return value


def add_runtime_options(parser: argparse.ArgumentParser, *, default_dtype: str | None = None) -> None:
    """``--torch-device`` and ``--dtype``: where and in which precision every tensor lives."""
    parser.add_argument("--torch-device", default="cpu", metavar="DEVICE",
                        help="torch device: cpu (default), cuda, cuda:N or mps")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default=default_dtype,
                        help="floating-point type of every tensor"
                             + (f" (default {default_dtype})" if default_dtype else
                                " (default: the study's own; float64 training and float32 tests for "
                                "reconstruction)"))


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and the crossbar options of a training command (default: no devices)."""
    from ..crossbar import PAIRINGS, SCHEMES, SIGNED
    from ..devices.presets import PRESETS

    parser.add_argument("--device", default=None,
                        help=f"train in situ on devices: ideal, a preset ({', '.join(PRESETS)}) or a "
                             f"device .toml file (default: no devices, the exact weights)")
    parser.add_argument("--w-max", type=float, default=1.0,
                        help="weight mapped to the full conductance range (default 1.0)")
    parser.add_argument("--signed", choices=SIGNED, default="differential",
                        help="signed weights: differential pair or one device against a reference")
    parser.add_argument("--pairing", choices=PAIRINGS, default="one",
                        help="symmetric weights: one device (pair) per neuron pair, or two (default one)")
    parser.add_argument("--scheme", choices=SCHEMES, default="stochastic",
                        help="update -> pulses: deterministic count, stochastic rounding or amplitude")


def crossbar_config(args: argparse.Namespace):
    """The CrossbarConfig the options of :func:`add_device_options` ask for (None: no devices)."""
    if getattr(args, "device", None) is None:
        return None
    from ..crossbar import CrossbarConfig
    from ..devices.presets import resolve_device

    return CrossbarConfig(device=resolve_device(args.device), w_max=args.w_max, signed=args.signed,
                          pairing=args.pairing, scheme=args.scheme)


def command_line(argv: Sequence[str]) -> str:
    """The command as given, quoted for a shell: ``memprop ARG ...``."""
    return shlex.join(["memprop", *argv])


def env_default(name: str) -> str | None:
    """The value of environment variable ``name`` (None when unset or empty)."""
    value = os.environ.get(name)
    return value if value else None


def mnist_dir(option: str | None) -> str | None:
    """The MNIST folder: ``--data-dir`` if given, else ``$MEMPROP_MNIST_DIR`` (checked to be a
    folder, the error naming the variable), else None (the shipped subset)."""
    if option is not None:
        return option
    env = env_default(MNIST_ENV)
    if env is not None and not os.path.isdir(env):
        from ..errors import ConfigError

        raise ConfigError(f"{MNIST_ENV}={env}: not a folder; set it to the folder of the MNIST IDX files "
                          f"(train-*, t10k-*) or unset it to use the shipped subset")
    return env
