r"""Settings of the claims map: which readings of the paper, which claims, how each is judged.

The paper leaves open choices that can decide its claims (see ``docs/claims.md``). A *reading*
fixes each of them:

- presentation: every pattern ``once`` per epoch, or ``until-memorised`` (the paper's words);
- EP's nudging strength beta in {0.1, 0.5, 1} and estimator (``one_sided``, the paper's
  Eq. 19; ``centred``);
- the test protocol: ``initial`` (corrupted pattern as v(0), I = 0) or ``input`` (as the
  constant input I from a random v(0));
- RBP's learning rate: the paper's eta (variant ``rbp_paper``) or the study's default
  (variant ``rbp``, chosen on the development collection).

A *cell* is what one sweep task trains and tests: one rule under the readings that change its
training (EP: estimator, beta, presentation; RBP: presentation, both rates in one stack; the
stored rules; the Figure 5 classifier: estimator, beta), for one training seed. The test
protocol changes only the test, so every cell is tested under both.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from ..._runtime import check_runtime
from ..._validate import positive_int
from ...errors import ConfigError
from ..reconstruction.config import PRESENTATIONS, PROTOCOLS

TITLE = "Claims map: which reading of the paper makes each claim hold"

BETAS = (0.1, 0.5, 1.0)
ESTIMATORS = ("one_sided", "centred")
RBP_RATES = ("paper", "default")
"""RBP's learning rate: the paper's eta (variant rbp_paper) or the study's default (variant rbp:
eta_rbp scaled to the set's N by rbp_rate_exponent, with its presentation)."""
RBP_VARIANT = {"paper": "rbp_paper", "default": "rbp"}
CLAIMS = ("table1", "fig2", "fig3", "fig5")

# Criteria, written from the paper's words before any number of the map was measured
# (docs/claims.md gives the wording and the reasons).
GOOD = 0.9
"""Accuracy counted as "reconstructs" (the study's GOOD)."""
FAIL = 0.5
"""Accuracy at or below which a rule fails (the study's FAIL): Table 1's stored rules, and the
edge of Figure 2's working range (a point is in it while either rule exceeds FAIL)."""
SPARSE = 0.5
"""Figure 2's "few connections": at most half of the N^2 synapses kept."""
FIG3_EP_BY = 50
"""Figure 3: EP is good by this epoch ("within 50 epochs")."""
FIG3_RBP_NOT_BY = 150
"""Figure 3: RBP is not yet good at this epoch (half of the paper's 300: "needs about 300")."""
FIG3_RBP_BY = 300
"""Figure 3: RBP is good by this epoch (the paper's last)."""
LEVEL = 0.95
"""Confidence level of the intervals (Student's t over training seeds)."""


def well_posed(estimator: str, beta: float) -> bool:
    """Whether EP's reconstruction training exists under (estimator, beta): the centred
    estimator's -beta phase has no fixed point for beta >= 1 (see
    :class:`~memprop.experiments.reconstruction.config.TrainConfig`), so those readings are not
    applicable to the reconstruction claims (Figure 5's clipped layered network has them)."""
    return not (estimator == "centred" and beta >= 1.0)


def cells() -> tuple[str, ...]:
    """Every cell name: ``ep/ESTIMATOR/BETA/PRESENTATION``, ``rbp/PRESENTATION``, ``stored``,
    ``fig5/ESTIMATOR/BETA``."""
    out = [f"ep/{e}/{b:g}/{p}" for p in PRESENTATIONS for e in ESTIMATORS for b in BETAS if well_posed(e, b)]
    out += [f"rbp/{p}" for p in PRESENTATIONS] + ["stored"]
    out += [f"fig5/{e}/{b:g}" for e in ESTIMATORS for b in BETAS]
    return tuple(out)


CELLS = cells()


def _cost_rank(cell: str) -> int:
    """Rank of a cell's task time, longest first (see :data:`SCHEDULE`)."""
    kind, *rest = cell.split("/")
    if kind in ("ep", "rbp"):
        return {"ep": 0, "rbp": 1}[kind] if rest[-1] == "until-memorised" else {"rbp": 2, "ep": 3}[kind]
    return 4 if kind == "fig5" else 5


SCHEDULE = tuple(sorted(CELLS, key=_cost_rank))
"""The cells in the order the map's sweep submits them: the longest tasks first, so that on many
workers no long task starts last and holds up the end. Mean task times of the full map (5 seeds,
ten K; 2 workers on 2 cores, ``docs/claims.md``): EP ``until-memorised`` 239-304 s, RBP
``until-memorised`` 274 s, RBP ``once`` 105 s, EP ``once`` 50-67 s, Figure 5 13-14 s, the stored
rules 9 s."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of the open choices (for Figure 5 only beta and estimator apply)."""

    presentation: str
    beta: float
    estimator: str
    protocol: str
    rbp_rate: str

    @property
    def key(self) -> str:
        return f"{self.presentation}|beta={self.beta:g}|{self.estimator}|{self.protocol}|rbp={self.rbp_rate}"


def readings() -> list[Reading]:
    """Every combination: presentation x beta x estimator x protocol x RBP rate (48)."""
    return [Reading(p, b, e, q, r) for p, b, e, q, r in
            itertools.product(PRESENTATIONS, BETAS, ESTIMATORS, PROTOCOLS, RBP_RATES)]


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimsConfig:
    """The claims map's run: seeds, sizes and where the sweep store lives."""

    seeds: int = 5
    """Training seeds per cell (>= 2 for an interval; the full map: 5)."""
    patterns: str = "builtin:letters16"
    quick: bool = False
    epochs: int = 300
    K: tuple[int, ...] = (0, 20, 40, 60, 70, 80, 85, 90, 95, 99)
    """Figure 2's K grid (the study's default grid for N = 100)."""
    p_fig2: tuple[float, ...] = (0.10, 0.15, 0.20, 0.25)
    fig3_epochs: tuple[int, ...] = (0, 10, 20, 30, 40, 50, 75, 100, 150, 200, 250, 300)
    samples_table1: int = 500
    samples_fig2: int = 500
    samples_fig3: int = 300
    """Test patterns per class: with 16 classes, a point's sampling error is below 0.006 (0.009
    for Figure 3), small beside the spread between training seeds."""
    fig5_epochs: int | None = None
    """Figure 5's epochs (None: the study's 25; 5 with ``quick``)."""
    store: str | None = None
    """The sweep's SQLite store (resumable); None: a temporary one."""
    fresh: bool = False
    """Start a new store: delete ``store``'s finished tasks first (``--force``); else resume."""
    torch_device: str = "cpu"
    dtype: str | None = None
    seed: int = 0
    """Offset of the training seeds: seeds ``seed .. seed + seeds - 1``."""

    def __post_init__(self):
        positive_int("seeds", self.seeds)
        positive_int("epochs", self.epochs)
        for name in ("samples_table1", "samples_fig2", "samples_fig3"):
            positive_int(name, getattr(self, name))
        if not self.K or not self.p_fig2 or not self.fig3_epochs:
            raise ConfigError("K, p_fig2 and fig3_epochs must each list at least one value")
        if self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_runtime(self.torch_device, self.dtype)

    def settings(self) -> dict[str, Any]:
        """The fixed settings every task of the map's sweep gets."""
        d = {k: v for k, v in asdict(self).items() if k not in ("seeds", "store", "fresh", "seed", "fig5_epochs")}
        d["K"] = ",".join(map(str, self.K))
        d["p_fig2"] = ",".join(f"{p:g}" for p in self.p_fig2)
        d["fig3_epochs"] = ",".join(map(str, self.fig3_epochs))
        d["fig5_epochs"] = 0 if self.fig5_epochs is None else self.fig5_epochs
        if self.dtype is None:
            d.pop("dtype")
        return d

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


QUICK = dict(quick=True, seeds=2, epochs=8, K=(0, 90), p_fig2=(0.1,), fig3_epochs=(0, 4, 8),
             samples_table1=50, samples_fig2=50, samples_fig3=50, fig5_epochs=1)
"""``--quick``: a smoke run of the whole map (every reading, 2 seeds) with 8 epochs: Figure 3's
criteria (epochs 50-300) cannot be judged from it and say so."""


def quick_claims(**overrides: Any) -> ClaimsConfig:
    return ClaimsConfig(**{**QUICK, **overrides})


def check(cfg: Any) -> None:
    """What the config alone cannot tell, before any task runs: for the map, the pattern file and
    Figure 2's K against its size (K = 0, full connectivity, is needed by Table 1 and Figure 3); for
    one task's config (the sweep engine checks each), its study's own check."""
    from ..reconstruction.config import ReconstructionConfig, check_patterns, load_pattern_set

    if not isinstance(cfg, ClaimsConfig):
        if isinstance(cfg, ReconstructionConfig):
            from ..reconstruction.config import check as reconstruction_check

            reconstruction_check(cfg)
        else:
            from ..classification import check as classification_check

            classification_check(cfg)
        return

    ps = load_pattern_set(cfg.patterns)
    check_patterns(ps)
    bad = [k for k in cfg.K if not 0 <= k <= ps.n - 1]
    if bad:
        raise ConfigError(f"K values must lie in [0, {ps.n - 1}] for {cfg.patterns} (N = {ps.n}), got {bad}")
    if 0 not in cfg.K:
        raise ConfigError(f"K must include 0 (full connectivity: Table 1 and Figure 3), got {list(cfg.K)}")
