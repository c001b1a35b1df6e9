"""Search strategies: which configs of the triangle to measure, in rounds, within a budget.

A search runs in rounds. Each round's configs are a pure function of the universe (the single-block
configs the filters and architecture rules allow, in grid order), the seed, the budget and the
results of the rounds before it, so the results file is the only state: a rerun replays the rounds
from the start, finds the first one with configs not measured yet and measures those (kill -9 and
resume reach the same final set). ``Search.next_batch`` is that replay; ``Search.ranking`` the
search's picks, best first.

- ``grid``: every config in the universe's order (today's scan).
- ``random``: a seeded random sample (the benchmark's reference).
- ``coarse``: a strided lattice over (start, size) for about half the budget, then dense
  refinement around the best measured cells, nearest first.
- ``adaptive``: the same lattice for ``init_share`` of the budget (one-layer blocks included, so
  every region and every block length is measured before any model is trusted), then rounds. Each
  round spends ``explore_share`` on the configs farthest from everything measured (in start and
  size, both linear in depth: a long block is no farther than a short one), so one wrong model
  cannot starve a region; the rest goes where a Gaussian-process surrogate (``surrogate``) says a
  measurement is likeliest to land in the grid's top ``top_fraction`` (the chance to beat the
  threshold the top configs exceed in expectation, the probe's noise included), one at a time, each
  pick damping its neighbours' chance within ``spread`` of depth so a round covers several peaks,
  but only while the model's leave-one-out rank correlation with the measurements is at least
  ``min_rank_correlation``; otherwise to the unmeasured neighbours of the best cells (within
  ``refine_radius`` of depth). Its picks are ranked by a denoised estimate, each measurement moved
  a quarter of the way towards the model's posterior mean: a lone lucky cell among poor
  neighbours drops, a cell its neighbours confirm keeps its place. The constants live in
  ``SearchParams``; benchmarks/bench_search.py replays them on five recorded landscapes and
  synthetic ones, and holds each recorded landscape out in turn.

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

# Set on five recorded sweeps and synthetic landscapes, held out in turn (benchmarks/bench_search.py).
MIN_INIT = 4
N_ROUNDS = 16  # adaptive and coarse: rounds after the first
COARSE_SHARE = 0.5  # coarse: share of the budget for the lattice


@dataclass(frozen=True, slots=True)
class SearchParams:
    """The adaptive search's constants; the benchmark's leave-one-out passes others."""

    init_share: float = 0.3  # of the budget, on the strided lattice that starts the search
    explore_share: float = 0.25  # of each later round, on the configs farthest from all measured
    min_rank_correlation: float = 0.2  # leave-one-out Spearman the model needs before it steers
    refine_radius: float = 0.06  # of depth: the neighbourhood refined while the model is not trusted
    shrink: float = 0.25  # picks: how far a measurement moves towards the model's posterior mean
    spread: float = 0.03  # of depth: the reach of one pick's damping of its neighbours' chance


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
    """``n`` open configs, each the farthest from everything taken so far (start and size in depth
    fractions, so long blocks count as much as short ones); the first at random when nothing is taken."""
    import numpy as np

    from .surrogate import features, squared_distances

    open_cells = state.open
    n = min(n, len(open_cells))
    if n <= 0:
        return []
    x = features(open_cells, state.n_layers)
    tie = state.rng.random(len(open_cells)) * 1e-12  # seeded tie-break
    chosen: list[Cell] = []
    if taken:  # squared distances: the same order, no square roots
        dist = squared_distances(x, features(list(taken), state.n_layers)).min(axis=1)
    else:  # the first pick is random
        k = int(state.rng.integers(len(open_cells)))
        chosen.append(open_cells[k])
        dist = ((x - x[k]) ** 2).sum(axis=1)
        dist[k] = -1.0
    while len(chosen) < n:
        k = int(np.argmax(dist + tie))
        chosen.append(open_cells[k])
        dist = np.minimum(dist, ((x - x[k]) ** 2).sum(axis=1))
        dist[k] = -1.0
    return chosen


def _stride(universe: Sequence[Cell], target: int) -> int:
    """The smallest stride whose (start, size) lattice holds at most ``target`` configs."""
    n_layers = max(j for _, j in universe)
    for stride in range(1, n_layers + 1):
        if sum(1 for i, j in universe if i % stride == 0 and (j - i - 1) % stride == 0) <= target:
            return stride
    return n_layers


def _lattice(state: RoundState, target: int) -> list[Cell]:
    """``target`` configs on a strided lattice over (start, size), one-layer blocks included (sizes
    1, 1 + stride, ...; starts from a seeded offset): every region and every block length gets
    measured before any model is trusted. A sparse universe (architecture rules) is filled evenly."""
    target = min(state.remaining, max(1, target))
    stride = _stride(state.universe, target)
    offset = int(state.rng.integers(stride))
    lattice = [(i, j) for i, j in state.universe if (i - offset) % stride == 0 and (j - i - 1) % stride == 0]
    if len(lattice) > target:
        keep = sorted(int(k) for k in state.rng.permutation(len(lattice))[:target])
        lattice = [lattice[k] for k in keep]
    if len(lattice) < target:
        lattice += _farthest(_without(state, lattice), target - len(lattice), lattice)
    return lattice


def _neighbours(state: RoundState, n: int, radius: int, best: Sequence[Cell], chosen: Sequence[Cell]) -> list[Cell]:
    """Up to ``n`` open configs within ``radius`` layers (in i and j) of the ``best`` cells, the
    best's neighbours first, nearest first, none of ``chosen``."""
    out: list[Cell] = []
    taken = set(chosen)
    open_cells = state.open
    for ci, cj in best:
        if len(out) >= n:
            break
        near = [c for c in open_cells if c not in taken and max(abs(c[0] - ci), abs(c[1] - cj)) <= radius]
        near.sort(key=lambda c: (abs(c[0] - ci) + abs(c[1] - cj), c))
        for c in near[: n - len(out)]:
            out.append(c)
            taken.add(c)
    return out


def _by_value(values: Mapping[Cell, float | None]) -> list[tuple[Cell, float]]:
    scored = [(c, v) for c, v in values.items() if v is not None]
    return sorted(scored, key=lambda cv: -cv[1])


class GridStrategy:
    """Every config in universe order; the base of the others (picks: the best measurements)."""

    name = "grid"

    def __init__(self, params: SearchParams | None = None) -> None:
        self.params = params or SearchParams()

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
        target = max(1, round(COARSE_SHARE * state.budget))
        if state.index == 0:
            return _lattice(state, target)
        n = min(state.remaining, state.round_size(target))
        radius = max(_stride(state.universe, target) - 1, 1)
        best = [c for c, _ in _by_value(state.values)]
        return _neighbours(state, n, radius, best, []) or _farthest(state, n, list(state.values))


def _without(state: RoundState, cells: Sequence[Cell]) -> RoundState:
    values = dict(state.values)
    values.update(dict.fromkeys(cells))
    return RoundState(
        state.universe, state.n_layers, values, state.remaining - len(cells), state.budget, state.index,
        state.rng, state.n_workers, state.top_fraction,
    )  # fmt: skip


class AdaptiveStrategy(GridStrategy):
    """A strided lattice, then rounds that explore a quarter and exploit the rest: the surrogate's
    likeliest top configs while it predicts held-out cells, else the best cells' neighbourhoods."""

    name = "adaptive"

    def _first(self, budget: int) -> int:
        return min(budget, max(MIN_INIT, round(self.params.init_share * budget)))

    def propose(self, state: RoundState) -> list[Cell]:
        p = self.params
        if state.index == 0:
            return _lattice(state, self._first(state.budget))
        n = min(state.remaining, state.round_size(self._first(state.budget)))
        # exploration: a quarter of all later configs, spread evenly over the rounds even when a
        # round holds one config, so no model, however wrong, starves a region
        size = state.round_size(self._first(state.budget))
        due = round(state.index * size * p.explore_share) - round((state.index - 1) * size * p.explore_share)
        n_exploit = max(0, n - due)
        model = fit(state.values, state.n_layers)
        rho = math.nan if model is None else model.held_out_rank_correlation()
        if model is not None and rho >= p.min_rank_correlation:
            chosen = _likeliest_top(state, model, n_exploit, p.spread * state.n_layers)
        else:  # not trusted: refine around the best measurements
            radius = max(1, round(p.refine_radius * state.n_layers))
            chosen = _neighbours(state, n_exploit, radius, [c for c, _ in _by_value(state.values)], [])
        return chosen + _farthest(_without(state, chosen), n - len(chosen), [*state.values, *chosen])

    def rank(self, values: Mapping[Cell, float | None], n_layers: int) -> list[tuple[Cell, float]]:
        return denoised_ranking(values, n_layers, self.params.shrink)


def fit(values: Mapping[Cell, float | None], n_layers: int) -> Surrogate | None:
    """The surrogate fitted to the scored cells (None with fewer than 3)."""
    from .surrogate import Surrogate

    scored = [(c, v) for c, v in values.items() if v is not None]
    if len(scored) < 3:
        return None
    return Surrogate([c for c, _ in scored], [v for _, v in scored], n_layers)


def denoised_ranking(
    values: Mapping[Cell, float | None], n_layers: int, shrink: float | None = None
) -> list[tuple[Cell, float]]:
    """Measured cells best first by the surrogate's denoised estimate (measurements below 3 cells):
    each measurement moved ``shrink`` of the way towards the posterior mean there."""
    model = fit(values, n_layers)
    if model is None:
        return _by_value(values)
    shrink = SearchParams().shrink if shrink is None else shrink
    mean, _ = model.predict(list(model.cells))
    measured = [values[c] for c in model.cells]
    estimate = [float(y + shrink * (m - y)) for y, m in zip(measured, mean, strict=True) if y is not None]
    order = sorted(range(len(model.cells)), key=lambda k: -estimate[k])
    return [(model.cells[k], estimate[k]) for k in order]


def _likeliest_top(state: RoundState, model: Surrogate, n: int, reach: float = 0.0) -> list[Cell]:
    """``n`` open cells likely to measure above the grid's top-fraction threshold, chosen one at a
    time: each pick damps the chance of the cells around it by 1 - exp(-d²/2r²) (d in layers, r =
    ``reach``), so a round's picks spread over several promising regions instead of crowding one
    peak whose cells share one fate (the next pick stays beside the last only where it is far
    likelier). ``reach`` 0: the n likeliest."""
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
    xy = np.asarray(open_cells, dtype=float)
    chosen: list[int] = []
    for _ in range(min(n, len(open_cells))):
        k = int(np.argmax(chance))  # the first of equals, as a stable sort would take it
        chosen.append(k)
        if reach > 0:
            chance = chance * (1.0 - np.exp(-0.5 * ((xy - xy[k]) ** 2).sum(axis=1) / reach**2))
        chance[k] = -1.0
    return [open_cells[k] for k in chosen]


def _normal_tail(z: np.ndarray) -> np.ndarray:
    """P(Z > z) for a standard normal, elementwise (Abramowitz and Stegun 7.1.26 for erfc, to 1.5e-7:
    vectorised, as a round evaluates it for every open cell fifty times)."""
    import numpy as np

    x = np.abs(np.asarray(z, dtype=float)) / math.sqrt(2)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    upper = 0.5 * poly * np.exp(-x * x)  # P(Z > |z|)
    tail: np.ndarray = np.where(np.asarray(z) >= 0, upper, 1.0 - upper)
    return tail


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
        params: SearchParams | None = None,
    ) -> None:
        if strategy not in STRATEGY_CLASSES:
            raise OptionError(f"--search {strategy!r}: expected one of {', '.join(REPLAY_STRATEGIES)}")
        self.strategy = STRATEGY_CLASSES[strategy](params)
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
