r"""Settings of the MNIST classification study (the paper's Figure 5, and general EP runs).

Model: Scellier & Bengio's (2017) layered energy network (:class:`~memprop.networks.LayeredNetwork`,
hard sigmoid, symmetric connections between adjacent layers only), relaxed by Eq. (21),
s <- rho(s - epsilon dF/ds), for a fixed number of iterations (20 free, 4 nudged with one hidden
layer) and trained by EP with per-layer rates alpha_k, minibatches, persistent free states and
the ``halve`` or ``constant`` schedule. See :mod:`memprop.experiments.classification.training`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..._runtime import check_runtime
from ..._validate import choice, flag, in_range, nonzero_beta, positive, positive_int
from ...crossbar import CrossbarConfig
from ...data import parse_classes
from ...errors import ConfigError
from ...learning.backprop import LOSSES, OUTPUTS
from ...learning.ep import ESTIMATORS

TITLE = "Figure 5: MNIST classification by equilibrium propagation"

SCHEDULES = ("halve", "constant")

# Scellier & Bengio (2017), Table 1, by number of hidden layers: the per-layer rates alpha_k
# and the free / nudged iteration counts.
SB_SETTINGS: dict[int, tuple[tuple[float, ...], int, int]] = {
    1: ((0.1, 0.05), 20, 4),
    2: ((0.4, 0.1, 0.01), 100, 6),
    3: ((0.128, 0.032, 0.008, 0.002), 500, 8),
}

CHECKPOINT_KIND = "classification-ep"


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


def _opt_positive_int(name: str, value: int | None) -> None:
    if value is not None:
        positive_int(name, value)


@dataclass(frozen=True, kw_only=True, slots=True)
class DataConfig:
    """Which digits, how many, and how they are split."""

    classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Digit classes, in label order (class ``classes[k]`` gets label k); a spec like "0-4" works."""
    per_class: int | None = 600
    """Training digits per class; every other digit of these classes is held out (shipped
    subset) or the IDX test file is the held-out set. None: all of them (the shipped subset is
    then split by ``test_fraction``, stratified)."""
    test_fraction: float = 0.2
    """Held-out fraction when ``per_class`` is None (shipped subset only)."""
    data_dir: str | None = None
    """Directory with the MNIST IDX files (train-* for training, t10k-* held out); None: the
    shipped 10k subset."""
    split_seed: int = 0
    """Seed of the shuffle, the per-class draw and the split."""

    def __post_init__(self):
        object.__setattr__(self, "classes", parse_classes(self.classes))
        if len(self.classes) < 2:
            raise ConfigError(f"classes must hold at least 2 classes to classify, got {self.classes}")
        _opt_positive_int("per_class", self.per_class)
        in_range("test_fraction", self.test_fraction, 0.0, 1.0, closed=False)
        if not isinstance(self.split_seed, int) or isinstance(self.split_seed, bool):
            raise ConfigError(f"split_seed must be an int, got {self.split_seed!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class EPConfig:
    """Equilibrium-propagation training (defaults: the paper's Figure 5 = Scellier & Bengio's net1)."""

    hidden: tuple[int, ...] = (500,)
    """Hidden layer sizes (any number of hidden layers)."""
    epsilon: float = 0.5
    """Step epsilon of Eq. (21) (an inference step, not a learning rate)."""
    free_steps: int | None = None
    """Free-phase iterations; None: Scellier & Bengio's for the depth (20, 100, 500)."""
    nudged_steps: int | None = None
    """Nudged-phase iterations; None: Scellier & Bengio's for the depth (4, 6, 8)."""
    beta: float = 1.0
    """Nudging strength beta (the paper: 1)."""
    estimator: str = "one_sided"
    """``one_sided`` (the paper), ``random_sign`` (Scellier & Bengio) or ``centred``."""
    alphas: tuple[float, ...] | None = None
    """Learning rate alpha_k of W_k and b_{k+1}, one per weight layer; None: Scellier & Bengio's
    for the depth ((0.1, 0.05) with one hidden layer)."""
    schedule: str = "halve"
    """``halve`` (rates halved after every ``halve_every`` epochs; the paper) or ``constant``."""
    halve_every: int = 1
    """Epochs between halvings of the ``halve`` schedule (the paper: 1)."""
    batch_size: int = 20
    """Minibatch size B (Scellier & Bengio: 20)."""
    epochs: int = 25
    """Training epochs (Scellier & Bengio: 25; the paper's Figure 5 does not say)."""
    persistent: bool = True
    """Start each free phase from the digit's stored free state (else from zero)."""
    eval_steps: int = 100
    """Iterations of Eq. (21) from the zero state when classifying (evaluation)."""
    seed: int = 0
    """Seed of the Glorot initialisation, the minibatch order and random signs."""

    def __post_init__(self):
        hidden = tuple(self.hidden)
        if not hidden:
            raise ConfigError("hidden must list at least one hidden layer size, got ()")
        for i, n in enumerate(hidden):
            positive_int(f"hidden[{i}]", n)
        object.__setattr__(self, "hidden", hidden)
        sb = SB_SETTINGS.get(len(hidden))
        for name, idx in (("alphas", 0), ("free_steps", 1), ("nudged_steps", 2)):
            if getattr(self, name) is None:
                if sb is None:
                    raise ConfigError(
                        f"{name} has no default for {len(hidden)} hidden layers (Scellier & Bengio "
                        f"give 1 to 3); set it explicitly"
                    )
                object.__setattr__(self, name, sb[idx])
        alphas = tuple(float(a) for a in self.alphas)
        if len(alphas) != len(hidden) + 1:
            raise ConfigError(
                f"alphas must give one rate per weight layer ({len(hidden) + 1} for hidden={hidden}), "
                f"got {alphas}"
            )
        for i, a in enumerate(alphas):
            positive(f"alphas[{i}]", a)
        object.__setattr__(self, "alphas", alphas)
        positive("epsilon", self.epsilon)
        positive_int("free_steps", self.free_steps)
        positive_int("nudged_steps", self.nudged_steps)
        object.__setattr__(self, "beta", nonzero_beta(self.beta))
        choice("estimator", self.estimator, ESTIMATORS)
        choice("schedule", self.schedule, SCHEDULES)
        positive_int("halve_every", self.halve_every)
        positive_int("batch_size", self.batch_size)
        positive_int("epochs", self.epochs)
        positive_int("eval_steps", self.eval_steps)
        flag("persistent", self.persistent)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an int, got {self.seed!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class BackpropConfig:
    """The backpropagation reference (see :mod:`memprop.learning.backprop`)."""

    alphas: tuple[float, ...] = (0.1, 0.05)
    """Learning rate per weight layer (SGD)."""
    schedule: str = "halve"
    halve_every: int = 1
    batch_size: int = 20
    epochs: int = 25
    output: str = "linear"
    """Output function of the feed-forward net: ``linear`` or ``hard_sigmoid``."""
    loss: str = "mse"
    """``mse`` (EP's cost C = 1/2 ||T - y||^2) or ``cross_entropy``."""
    seed: int = 0

    def __post_init__(self):
        alphas = tuple(float(a) for a in self.alphas)
        for i, a in enumerate(alphas):
            positive(f"alphas[{i}]", a)
        object.__setattr__(self, "alphas", alphas)
        choice("schedule", self.schedule, SCHEDULES)
        positive_int("halve_every", self.halve_every)
        positive_int("batch_size", self.batch_size)
        positive_int("epochs", self.epochs)
        choice("output", self.output, OUTPUTS)
        choice("loss", self.loss, LOSSES)

    @classmethod
    def like(cls, ep: EPConfig, **changes: Any) -> BackpropConfig:
        """The reference matched to an EP run: same rates, schedule, minibatch, epochs, seed."""
        base = dict(alphas=ep.alphas, schedule=ep.schedule, halve_every=ep.halve_every,
                    batch_size=ep.batch_size, epochs=ep.epochs, seed=ep.seed)
        base.update(changes)
        return cls(**base)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClassificationConfig:
    """A whole run: data, EP training, the backprop reference (or None), evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    ep: EPConfig = field(default_factory=EPConfig)
    backprop: BackpropConfig | None = field(default_factory=BackpropConfig)
    eval_sample: int = 100
    """Random training / test digits per epoch for Figure 5's curves."""
    eval_chunk: int = 1000
    """Digits relaxed at once when evaluating (memory vs. speed only; results do not change)."""
    device: CrossbarConfig | None = None
    """In situ: the weights W_k on crossbars of this config (biases digital); the ideal device
    gives exactly the device-free numbers. None: exact weights."""
    torch_device: str = "cpu"
    """Torch device of every tensor ("cpu", "cuda", "cuda:N", "mps")."""
    dtype: str = "float32"
    """Floating-point type of every tensor ("float32" or "float64")."""

    def __post_init__(self):
        for name, kind in (("data", DataConfig), ("ep", EPConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        if self.backprop is not None:
            if not isinstance(self.backprop, BackpropConfig):
                raise ConfigError(f"backprop must be a BackpropConfig or None, got {type(self.backprop).__name__}")
            if len(self.backprop.alphas) != len(self.ep.alphas):
                raise ConfigError(
                    f"backprop.alphas must give one rate per weight layer ({len(self.ep.alphas)}), "
                    f"got {self.backprop.alphas}"
                )
        positive_int("eval_sample", self.eval_sample)
        positive_int("eval_chunk", self.eval_chunk)
        if self.device is not None and not isinstance(self.device, CrossbarConfig):
            raise ConfigError(f"device must be a CrossbarConfig or None, got {type(self.device).__name__}")
        check_runtime(self.torch_device, self.dtype, allow_default_dtype=False)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.device is not None:
            from ...devices.toml import device_to_dict

            d["device"] = {**{k: v for k, v in d["device"].items() if k != "device"},
                           "model": device_to_dict(self.device.device)}
        return json.loads(json.dumps(d))




FIG5_EPOCHS = 25
"""Epochs of the full Figure 5 run: Scellier & Bengio's 25 (the paper's figure does not say;
with rates halved every epoch, training has effectively stopped well before)."""
FIG5_QUICK_EPOCHS = 5
"""Epochs under --quick (the halved rates of epochs 6-25 sum to 3% of the first epoch's)."""
FIG5_ERROR_BOUND = 0.06
"""Held-out error below which Figure 5's claim of a low error counts as holding."""


def fig5_config(*, quick: bool = False, seed: int = 0, epochs: int | None = None) -> ClassificationConfig:
    """Figure 5's settings: 784-500-5, digits 0-4, 600 per class, eps 0.5, 20 + 4 iterations,
    beta 1, alphas 0.1 and 0.05 halved every epoch, minibatch 20, Glorot, persistent states."""
    n = epochs if epochs is not None else (FIG5_QUICK_EPOCHS if quick else FIG5_EPOCHS)
    ep = EPConfig(hidden=(500,), epsilon=0.5, free_steps=20, nudged_steps=4, beta=1.0,
                  estimator="one_sided", alphas=(0.1, 0.05), schedule="halve", batch_size=20,
                  epochs=n, persistent=True, seed=seed)
    data = DataConfig(classes=(0, 1, 2, 3, 4), per_class=600, split_seed=seed)
    return ClassificationConfig(data=data, ep=ep, backprop=BackpropConfig.like(ep))

