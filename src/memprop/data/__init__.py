"""Data for memprop: binary pattern sets and MNIST digits (paths are passed in; no downloads).

Pattern sets (:mod:`memprop.data.patterns`) are ``(P, N)`` float32 tensors of +1 (active) /
-1 (inactive) pixels with names and an image shape; MNIST helpers (:mod:`memprop.data.mnist`)
return uint8 images and int64 labels. The shipped files (16 block letters; a 10k MNIST subset,
CC BY-SA 3.0) live in ``memprop/data/files`` with their attribution in its ``README.md``; the
development collection of pattern sets, on which training defaults are chosen
(:mod:`memprop.data.development`, ``load_builtin("builtin:dev/NAME")``), lives in its ``dev``
subdirectory.
"""

from memprop.data.development import DEVELOPMENT_SETS as DEVELOPMENT_SETS
from memprop.data.development import builtin_names as builtin_names
from memprop.data.development import load_builtin as load_builtin
from memprop.data.mnist import MNIST_DIR_ENV as MNIST_DIR_ENV
from memprop.data.mnist import load_builtin_mnist as load_builtin_mnist
from memprop.data.mnist import load_mnist_idx as load_mnist_idx
from memprop.data.mnist import parse_classes as parse_classes
from memprop.data.mnist import read_idx as read_idx
from memprop.data.mnist import select_classes as select_classes
from memprop.data.mnist import split_train_test as split_train_test
from memprop.data.mnist import to_inputs as to_inputs
from memprop.data.patterns import PatternSet as PatternSet
from memprop.data.patterns import corrupt as corrupt
from memprop.data.patterns import default_patterns as default_patterns
from memprop.data.patterns import load_patterns as load_patterns
from memprop.data.patterns import random_correlated as random_correlated

__all__ = [
    "DEVELOPMENT_SETS",
    "MNIST_DIR_ENV",
    "PatternSet",
    "builtin_names",
    "corrupt",
    "default_patterns",
    "load_builtin",
    "load_builtin_mnist",
    "load_mnist_idx",
    "load_patterns",
    "parse_classes",
    "random_correlated",
    "read_idx",
    "select_classes",
    "split_train_test",
    "to_inputs",
]
