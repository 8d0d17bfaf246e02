"""The classification study's data: which digits, how many, and the seeded split.

The shipped 10,000-digit MNIST subset (sorted by label, so it is shuffled first), or IDX files
from a directory. Figure 5's split: digits 0-4, 600 random training digits per class, and every
other digit 0-4 of the subset held out (2,131 digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...data import load_builtin_mnist, load_mnist_idx, select_classes, split_train_test, to_inputs
from ...errors import ConfigError, DataError
from .config import DataConfig


@dataclass(frozen=True, slots=True)
class Split:
    """Inputs (n, 784) float32 in [0, 1] and labels (n,) int64 in 0..n_classes-1."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    source: str

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "n_train": int(self.y_train.shape[0]),
                "n_test": int(self.y_test.shape[0]), "n_classes": self.n_classes,
                "n_inputs": int(self.x_train.shape[1])}


def _per_class_split(images, labels, n_classes, per_class, generator):
    """First ``per_class`` digits of each class (already in random order) train, the rest test."""
    train_idx, test_idx = [], []
    for k in range(n_classes):  # a loop over (at most 10) classes, not over samples
        idx = (labels == k).nonzero().squeeze(1)
        if idx.numel() <= per_class:
            raise ConfigError(
                f"per_class={per_class}: class label {k} has only {idx.numel()} digits in the data, so "
                f"none would be held out; lower per_class"
            )
        train_idx.append(idx[:per_class])
        test_idx.append(idx[per_class:])
    tr, te = torch.cat(train_idx), torch.cat(test_idx)
    tr = tr[torch.randperm(tr.numel(), generator=generator)]
    te = te[torch.randperm(te.numel(), generator=generator)]
    return images[tr], labels[tr], images[te], labels[te]


def load_split(cfg: DataConfig) -> Split:
    """The training and held-out digits of ``cfg`` (seeded, deterministic)."""
    g = torch.Generator().manual_seed(cfg.split_seed)
    n_classes = len(cfg.classes)
    if cfg.data_dir is None:
        images, labels = load_builtin_mnist()
        # select_classes draws in a seeded random order, so the label-sorted subset is shuffled.
        images, labels = select_classes(images, labels, cfg.classes, None, generator=g)
        if cfg.per_class is not None:
            xtr, ytr, xte, yte = _per_class_split(images, labels, n_classes, cfg.per_class, g)
        else:
            xtr, ytr, xte, yte = split_train_test(images, labels, test_fraction=cfg.test_fraction,
                                                  seed=cfg.split_seed)
        source = "shipped MNIST subset (10,000 digits)"
    else:
        tr_images, tr_labels = load_mnist_idx(cfg.data_dir, "train")
        te_images, te_labels = load_mnist_idx(cfg.data_dir, "test")
        for prefix, labels in (("train", tr_labels), ("t10k", te_labels)):
            missing = [c for c in cfg.classes if not bool((labels == c).any())]
            if missing:
                raise DataError(f"{Path(cfg.data_dir) / prefix}-labels-idx1-ubyte: no digits of class(es) "
                                f"{missing} ({labels.numel()} labels in all); choose --classes among those "
                                f"the file holds")
        try:
            xtr, ytr = select_classes(tr_images, tr_labels, cfg.classes, cfg.per_class, generator=g)
        except ConfigError as e:
            raise ConfigError(f"{Path(cfg.data_dir) / 'train-labels-idx1-ubyte'}: {e}") from None
        xte, yte = select_classes(te_images, te_labels, cfg.classes, None, generator=g)
        source = f"IDX files in {cfg.data_dir}"
    return Split(to_inputs(xtr), ytr, to_inputs(xte), yte, n_classes, source)


