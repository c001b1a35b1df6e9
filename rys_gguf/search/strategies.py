"""Search strategies: which configs of the triangle to measure, in rounds, within a budget.

A search runs in rounds. Each round's configs are a pure function of the universe (the single-block
configs the filters and architecture rules allow, in grid order), the seed, the budget and the
results of the rounds before it, so the results file is the only state: a rerun replays the rounds
from the start, finds the first one with configs not measured yet and measures those (kill -9 and
resume reach the same final set). ``Search.next_batch`` is that replay; ``Search.ranking`` the
search's picks, best first.

- ``grid``: every config in the universe's order (today's scan).
- ``random``: a seeded random sample (the benchmark's reference).
- ``coarse``: a strided lattice over (i, j) for about half the budget, then dense refinement
  around the best measured cells, nearest first.
- ``adaptive``: a space-filling start (each config the farthest from those chosen, in depth
  fractions), then a Gaussian-process surrogate (``surrogate``) steers each round: it proposes the
  configs whose measurement is likeliest to land in the grid's top ``top_fraction`` (the chance to
  beat the threshold the top configs exceed in expectation, the probe's noise included). It steers
  only while the model's leave-one-out rank correlation with the measurements is at least
  ``MIN_RANK_CORRELATION``; otherwise the round explores (the configs farthest from everything
  measured). Its picks are ranked by a denoised estimate, each measurement moved half way towards
  the model's posterior mean there: a lone lucky cell among poor neighbours drops, a cell its
  neighbours confirm keeps its place. (The full posterior mean ranks better by the noise-free value
  on synthetic landscapes but far worse against a recorded grid's own noisy ranking; half way keeps
  most of both, see benchmarks/bench_search.py.)

Deliberately left out: multi-block configs (``stack`` builds those from a sweep), and any IO.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import OptionError
from ..sweepfolder.metric import Delta, metric_values

if TYPE_CHECKING:
    import numpy as np

    from .surrogate import Surrogate

Cell = tuple[int, int]
STRATEGIES = ("grid", "coarse", "adaptive")  # what `scan --search` takes
REPLAY_STRATEGIES = ("random", "grid", "coarse", "adaptive")
DEFAULT_STRATEGY = "adaptive"  # what `scan` runs without --search on SEARCH_FROM configs or more
SEARCH_FROM = 300  # configs: the full triangle of a 24-layer model; fewer are measured as a grid
DEFAULT_BUDGET = "10%"  # of the configs the filters and rules allow, when a search has no --budget
TOP_FRACTION = 0.02

# Tuned on the recorded sweeps and on synthetic landscapes (benchmarks/bench_search.py).
INIT_SHARE = 0.3  # adaptive: share of the budget spent on the space-filling start
MIN_INIT = 4
N_ROUNDS = 16  # adaptive and coarse: rounds after the first
MIN_RANK_CORRELATION = 0.4  # leave-one-out Spearman the model needs before it steers
SHRINK = 0.5  # adaptive picks: how far a measurement moves towards the model's posterior mean
COARSE_SHARE = 0.5  # coarse: share of the budget for the lattice


def parse_budget(text: str) -> int | float:
    """``N`` (configs) or ``P%`` (a share of the configs allowed) -> int or fraction in (0, 1]."""
    t = text.strip()
    try:
        if t.endswith("%"):
            share = float(t[:-1]) / 100
            if not 0 < share <= 1:
                raise ValueError
            return share
        count = int(t)
        if count < 1:
            raise ValueError
        return count
    except ValueError:
        raise OptionError(f"--budget {text!r}: expected a number of configs (e.g. 40) or a share (e.g. 10%)") from None


def budget_count(budget: int | float, n_configs: int) -> int:
    """Configs a budget allows out of ``n_configs`` (a share rounds to the nearest, at least 1)."""
    if isinstance(budget, float):
        return max(1, min(n_configs, math.floor(budget * n_configs + 0.5)))
    return max(1, min(n_configs, budget))


def top_count(n_configs: int, top_fraction: float = TOP_FRACTION) -> int:
    """How many configs make the top ``top_fraction`` (at least one): ceil(fraction x n)."""
    return max(1, math.ceil(top_fraction * n_configs - 1e-9))


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """How a scan chooses its configs: ``strategy`` in STRATEGIES, a budget, a seed, a metric."""

    strategy: str | None = None  # None: grid for explicit configs or a shard, else DEFAULT_STRATEGY
    budget: str | None = None  # "N" or "P%"; None: DEFAULT_BUDGET (a grid measures every config)
    seed: int = 0
    metric: str = "z"


@dataclass(frozen=True, slots=True)
class RoundState:
    """What a strategy sees when it plans a round."""

    universe: tuple[Cell, ...]
    n_layers: int
    values: dict[Cell, float | None]  # configs of earlier rounds: metric value, None without a score
    remaining: int  # evaluations left in the budget
    budget: int
    index: int  # 0 for the first round
    rng: np.random.Generator
    n_workers: int
    top_fraction: float

    @property
    def open(self) -> list[Cell]:
        """Configs of the universe not measured yet, in universe order."""
        return [c for c in self.universe if c not in self.values]

    def round_size(self, first: int) -> int:
        """Configs per later round: the rest of the budget over N_ROUNDS, at least one per worker."""
        return max(self.n_workers, math.ceil(max(self.budget - first, 1) / N_ROUNDS))


def _farthest(state: RoundState, n: int, taken: Sequence[Cell]) -> list[Cell]:
    """``n`` open configs, each the farthest from everything taken so far (in the surrogate's inputs:
    start depth and log block size); the first one at random when nothing is taken."""
    import numpy as np

    from .surrogate import features

    open_cells = state.open
    n = min(n, len(open_cells))
    if n <= 0:
        return []
    x = features(open_cells, state.n_layers)
    tie = state.rng.random(len(open_cells)) * 1e-9  # seeded tie-break
    chosen: list[Cell] = []
    if taken:
        t = features(list(taken), state.n_layers)
        dist = np.sqrt(((x[:, None, :] - t[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    else:  # the first pick is random
        k = int(state.rng.integers(len(open_cells)))
        chosen.append(open_cells[k])
        dist = np.sqrt(((x - x[k]) ** 2).sum(axis=1))
        dist[k] = -1.0
    while len(chosen) < n:
        k = int(np.argmax(dist + tie))
        chosen.append(open_cells[k])
        dist = np.minimum(dist, np.sqrt(((x - x[k]) ** 2).sum(axis=1)))
        dist[k] = -1.0
    return chosen


def _by_value(values: Mapping[Cell, float | None]) -> list[tuple[Cell, float]]:
    scored = [(c, v) for c, v in values.items() if v is not None]
    return sorted(scored, key=lambda cv: -cv[1])


class GridStrategy:
    """Every config in universe order; the base of the others (picks: the best measurements)."""

    name = "grid"

    def propose(self, state: RoundState) -> list[Cell]:
        return state.open[: state.remaining] if state.index == 0 else []

    def rank(self, values: Mapping[Cell, float | None], n_layers: int) -> list[tuple[Cell, float]]:
        return _by_value(values)


class RandomStrategy(GridStrategy):
    """A seeded uniform sample of the budget's size, in one round (the benchmark's reference)."""

    name = "random"

    def propose(self, state: RoundState) -> list[Cell]:
        if state.index:
            return []
        order = state.rng.permutation(len(state.open))
        return [state.open[int(k)] for k in order[: state.remaining]]


class CoarseStrategy(GridStrategy):
    """A strided lattice, then the unmeasured neighbours of the best measured cells."""

    name = "coarse"

    def propose(self, state: RoundState) -> list[Cell]:
        if state.index == 0:
            return self._lattice(state)
        n = min(state.remaining, state.round_size(round(COARSE_SHARE * state.budget)))
        stride = self._stride(state)
        chosen: list[Cell] = []
        for (ci, cj), _ in _by_value(state.values):
            near = [c for c in state.open if c not in chosen and max(abs(c[0] - ci), abs(c[1] - cj)) < max(stride, 2)]
            near.sort(key=lambda c: (abs(c[0] - ci) + abs(c[1] - cj), c))
            chosen += near[: n - len(chosen)]
            if len(chosen) >= n:
                break
        return chosen or _farthest(state, n, list(state.values))

    def _stride(self, state: RoundState) -> int:
        target = max(1, round(COARSE_SHARE * state.budget))
        for stride in range(1, state.n_layers + 1):
            if sum(1 for i, j in state.universe if i % stride == 0 and j % stride == 0) <= target:
                return stride
        return state.n_layers

    def _lattice(self, state: RoundState) -> list[Cell]:
        target = min(state.remaining, max(1, round(COARSE_SHARE * state.budget)))
        stride = self._stride(state)
        oi, oj = (int(x) for x in state.rng.integers(stride, size=2))
        lattice = [c for c in state.universe if (c[0] - oi) % stride == 0 and (c[1] - oj) % stride == 0]
        if len(lattice) > target:
            keep = sorted(int(k) for k in state.rng.permutation(len(lattice))[:target])
            lattice = [lattice[k] for k in keep]
        if len(lattice) < target:  # a sparse universe (architecture rules): fill it evenly
            lattice += _farthest(_without(state, lattice), target - len(lattice), lattice)
        return lattice


def _without(state: RoundState, cells: Sequence[Cell]) -> RoundState:
    values = dict(state.values)
    values.update(dict.fromkeys(cells))
    return RoundState(
        state.universe, state.n_layers, values, state.remaining - len(cells), state.budget, state.index,
        state.rng, state.n_workers, state.top_fraction,
    )  # fmt: skip


class AdaptiveStrategy(GridStrategy):
    """A space-filling start, then a surrogate that proposes the likeliest top configs."""

    name = "adaptive"

    def _first(self, budget: int) -> int:
        return min(budget, max(MIN_INIT, round(INIT_SHARE * budget)))

    def propose(self, state: RoundState) -> list[Cell]:
        if state.index == 0:
            return _farthest(state, min(state.remaining, self._first(state.budget)), [])
        n = min(state.remaining, state.round_size(self._first(state.budget)))
        model = fit(state.values, state.n_layers)
        rho = math.nan if model is None else model.held_out_rank_correlation()
        if model is None or not rho >= MIN_RANK_CORRELATION:
            return _farthest(state, n, list(state.values))  # not trusted yet: explore
        return _likeliest_top(state, model, n)

    def rank(self, values: Mapping[Cell, float | None], n_layers: int) -> list[tuple[Cell, float]]:
        return denoised_ranking(values, n_layers)


def fit(values: Mapping[Cell, float | None], n_layers: int) -> Surrogate | None:
    """The surrogate fitted to the scored cells (None with fewer than 3)."""
    from .surrogate import Surrogate

    scored = [(c, v) for c, v in values.items() if v is not None]
    if len(scored) < 3:
        return None
    return Surrogate([c for c, _ in scored], [v for _, v in scored], n_layers)


def denoised_ranking(values: Mapping[Cell, float | None], n_layers: int) -> list[tuple[Cell, float]]:
    """Measured cells best first by the surrogate's denoised estimate (measurements below 3 cells)."""
    model = fit(values, n_layers)
    if model is None:
        return _by_value(values)
    mean, _ = model.predict(list(model.cells))
    measured = [values[c] for c in model.cells]
    estimate = [float(y + SHRINK * (m - y)) for y, m in zip(measured, mean, strict=True) if y is not None]
    order = sorted(range(len(model.cells)), key=lambda k: -estimate[k])
    return [(model.cells[k], estimate[k]) for k in order]


def _likeliest_top(state: RoundState, model: Surrogate, n: int) -> list[Cell]:
    """The ``n`` open cells most likely to measure above the grid's top-fraction threshold."""
    import numpy as np

    open_cells = state.open
    if n <= 0 or not open_cells:
        return []
    mean, sd = model.predict(open_cells)
    spread = np.sqrt(sd**2 + model.noise_sd**2)  # a measurement there: the value plus probe noise
    measured = np.asarray([v for v in state.values.values() if v is not None])
    k = top_count(len(state.universe), state.top_fraction)

    def expected_above(t: float) -> float:
        return float((measured > t).sum() + _normal_tail((t - mean) / spread).sum())

    lo = float(min(measured.min(), mean.min())) - 10 * float(spread.max())
    hi = float(max(measured.max(), mean.max())) + 10 * float(spread.max())
    for _ in range(50):  # bisection: the threshold the top k exceed, in expectation
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_above(mid) > k else (lo, mid)
    chance = _normal_tail((hi - mean) / spread) + state.rng.random(len(open_cells)) * 1e-12
    order = np.argsort(-chance, kind="stable")
    return [open_cells[int(x)] for x in order[:n]]


def _normal_tail(z: np.ndarray) -> np.ndarray:
    """P(Z > z) for a standard normal, elementwise."""
    import numpy as np

    tail = np.frompyfunc(math.erfc, 1, 1)(np.asarray(z, dtype=float) / math.sqrt(2))
    return 0.5 * np.asarray(tail, dtype=float)


STRATEGY_CLASSES = {s.name: s for s in (GridStrategy, RandomStrategy, CoarseStrategy, AdaptiveStrategy)}


class Search:
    """A strategy over a universe, replayed round by round from the configs measured so far."""

    def __init__(
        self,
        strategy: str,
        universe: Sequence[Cell],
        n_layers: int,
        budget: int,
        seed: int = 0,
        metric: str = "z",
        n_workers: int = 1,
        top_fraction: float = TOP_FRACTION,
    ) -> None:
        if strategy not in STRATEGY_CLASSES:
            raise OptionError(f"--search {strategy!r}: expected one of {', '.join(REPLAY_STRATEGIES)}")
        self.strategy = STRATEGY_CLASSES[strategy]()
        self.universe = tuple(universe)
        self.n_layers, self.budget, self.seed = n_layers, min(budget, len(self.universe)), seed
        self.metric, self.n_workers, self.top_fraction = metric, max(1, n_workers), top_fraction
        self._rounds: list[tuple[tuple[Cell, ...], tuple[Delta | None, ...]]] = []  # memo: (cells, inputs)

    def _rng(self, index: int) -> np.random.Generator:
        import numpy as np

        return np.random.default_rng([self.seed, index, zlib.crc32(self.strategy.name.encode())])

    def rounds(self, outcomes: Mapping[Cell, Delta | None]) -> tuple[list[list[Cell]], list[Cell]]:
        """(the rounds fully measured, the configs of the first round that is not; [] when done)."""
        done: list[list[Cell]] = []
        taken: list[Cell] = []
        while len(taken) < self.budget:
            inputs = tuple(outcomes[c] for c in taken)
            index = len(done)
            if index < len(self._rounds) and self._rounds[index][1] == inputs:
                cells = list(self._rounds[index][0])
            else:
                values = metric_values({c: outcomes[c] for c in taken}, self.metric)
                state = RoundState(
                    self.universe, self.n_layers, values, self.budget - len(taken), self.budget, index,
                    self._rng(index), self.n_workers, self.top_fraction,
                )  # fmt: skip
                cells = [c for c in self.strategy.propose(state) if c not in values][: state.remaining]
                del self._rounds[index:]
                self._rounds.append((tuple(cells), inputs))
            if not cells:
                break
            missing = [c for c in cells if c not in outcomes]
            if missing:
                return done, missing
            done.append(cells)
            taken += cells
        return done, []

    def next_batch(self, outcomes: Mapping[Cell, Delta | None]) -> list[Cell]:
        """The configs to measure next (the unmeasured part of the first unfinished round)."""
        return self.rounds(outcomes)[1]

    def evaluated(self, outcomes: Mapping[Cell, Delta | None]) -> list[Cell]:
        """The configs the search has measured so far, in the order of its rounds."""
        return [c for r in self.rounds(outcomes)[0] for c in r]

    def ranking(self, outcomes: Mapping[Cell, Delta | None]) -> list[tuple[Cell, float]]:
        """The search's picks, best first, over the configs of its rounds (with its estimate)."""
        cells = self.evaluated(outcomes)
        values = metric_values({c: outcomes[c] for c in cells}, self.metric)
        return self.strategy.rank(values, self.n_layers)
