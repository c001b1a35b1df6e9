"""Replay search strategies against a complete recorded sweep: the benchmark of ``scan --search``.

The folder's single-block configs are the universe and its own ranking by the metric is the truth.
Each strategy runs as it would in a scan (``search.strategies.Search``), seeded, but every config it asks
for is answered from the recorded rows, and only those, in the order asked. Its pick is the config
it would report first. Per strategy and budget: the share of seeds whose pick lies in the truth's
top fraction (the best ``top_count(n)`` configs), the mean percentile of the pick (100 = the
truth's best, 0 = its worst) and the evaluations used. ``random`` also runs at twice each budget,
so "half the evaluations for the same result" can be read off the table.

A folder with failed, early-stopped or missing configs (a hole in its filtered grid), multi-block
rows, or rows of another model or probe set is refused with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PlanError, ScanError
from ..events import Note, OnEvent, Progress, Stage, emit
from ..plan import block_grid, parse_blocks
from ..search.strategies import REPLAY_STRATEGIES, TOP_FRACTION, Cell, Search, budget_count, top_count
from ..sweepfolder.metric import METRIC_LABELS, Delta, deltas_of
from ..sweepfolder.records import BASELINE, RESULTS_FILE, identity, read_skipped, read_sweep
from ..untrusted import safe_line
from .ranking import summarize

DEFAULT_BUDGETS = (0.05, 0.1, 0.2)
DEFAULT_SEEDS = 20
DEFAULT_STRATEGIES = REPLAY_STRATEGIES


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One strategy at one budget over every seed."""

    strategy: str
    budget: float  # share of n_configs
    n_evaluations: int  # mean over the seeds, rounded
    seeds: int
    top_hit_rate: float
    mean_percentile: float


@dataclass(frozen=True, slots=True)
class ReplayTable:
    """Every strategy and budget replayed on one sweep folder."""

    directory: Path
    model_name: str
    n_configs: int
    n_top: int
    metric: str
    top_fraction: float
    results: tuple[ReplayResult, ...]

    def as_json(self) -> dict[str, object]:
        """The ``--json`` object."""
        return {
            "n_configs": self.n_configs,
            "metric": self.metric,
            "top_fraction": self.top_fraction,
            "results": [
                {
                    "strategy": r.strategy,
                    "budget": r.budget,
                    "n_evaluations": r.n_evaluations,
                    "seeds": r.seeds,
                    "top_hit_rate": r.top_hit_rate,
                    "mean_percentile": r.mean_percentile,
                }
                for r in self.results
            ],
        }


@dataclass(frozen=True, slots=True)
class RecordedSweep:
    """A complete single-block sweep: the universe in grid order, each config's Δ, the truth."""

    name: str
    n_layers: int
    universe: tuple[Cell, ...]
    outcomes: dict[Cell, Delta | None]
    ranks: dict[Cell, int]  # 1 = the truth's best


def _cell(config: str, where: Path) -> Cell:
    try:
        blocks = parse_blocks(config)
    except PlanError:
        blocks = []
    if len(blocks) != 1:
        raise ScanError(f"{where}: mixed folder: {config} is not a single block; replay needs a single-block sweep")
    return blocks[0]


def load_recorded(directory: Path, metric: str = "z", warnings: list[str] | None = None) -> RecordedSweep:
    """Read a complete sweep folder for replay; raises ScanError naming what is missing or mixed.

    Rows that cannot be used are skipped and named in ``warnings`` (``records.read_rows``).
    """
    directory = Path(directory)
    meta, rows = read_sweep(directory, warnings)
    results = directory / RESULTS_FILE
    fingerprint, probe_hash = identity(meta)
    bad = [r for r in rows if r.get("probe_set_hash", probe_hash) != probe_hash]
    bad += [r for r in rows if r.get("model_fingerprint", fingerprint) != fingerprint]
    if bad:
        raise ScanError(f"{results}: mixed folder: {bad[0]['config']} was scored on another model or probe set")
    unscored = [r for r in rows if r.get("status") != "ok"]
    if unscored:
        r = unscored[0]
        raise ScanError(
            f"{results}: incomplete: {len(unscored)} config(s) have no score (e.g. {r['config']}: "
            f"{r.get('status')}); rescan them or replay a complete folder"
        )
    if not any(r["config"] == BASELINE for r in rows):
        raise ScanError(f"{results}: incomplete: no baseline ({BASELINE}); deltas need it")
    cells = {_cell(r["config"], results): r for r in rows if r["config"] != BASELINE}
    if len(cells) < 2:
        raise ScanError(f"{results}: incomplete: {len(cells)} config(s) measured; replay needs a sweep")
    n_layers = int(meta.get("model", {}).get("n_layers") or 0)
    _check_no_holes(results, set(cells), set(read_skipped(directory)), n_layers)
    summary = summarize(meta, rows, read_skipped(directory), metric, directory)
    ranks = {_cell(s.config, results): s.rank or 0 for s in summary.ranked}
    deltas = deltas_of(list(rows))
    universe = tuple(sorted(cells, key=lambda c: (c[1] - c[0], c[0])))  # the scan's grid order
    return RecordedSweep(summary.model_name, n_layers, universe, {c: deltas[_spec(c)] for c in universe}, ranks)


def _spec(cell: Cell) -> str:
    return f"{cell[0]},{cell[1]}"


def _check_no_holes(results: Path, cells: set[Cell], skipped: set[str], n_layers: int) -> None:
    """Every config of the smallest filtered grid (sizes, starts) that holds the folder is measured."""
    if n_layers < 1 or any(j > n_layers for _, j in cells):
        raise ScanError(f"{results.parent / 'sweep.json'}: model.n_layers is missing or too small")
    sizes = [j - i for i, j in cells]
    starts = [i for i, _ in cells]
    grid = block_grid(n_layers, min(sizes), max(sizes), (min(starts), max(starts) + 1))
    missing = [c for c in grid if c not in cells and _spec(c) not in skipped]
    if missing:
        raise ScanError(
            f"{results}: incomplete: {len(missing)} config(s) of its grid (block sizes {min(sizes)}-{max(sizes)}, "
            f"starts {min(starts)}-{max(starts)}) are not measured (e.g. {_spec(missing[0])}); finish the scan "
            "(rerun it to resume) or replay a complete folder"
        )


def replay_one(
    sweep: RecordedSweep,
    strategy: str,
    n_budget: int,
    seed: int,
    metric: str = "z",
    top_fraction: float = TOP_FRACTION,
    answer: Callable[[Cell], Delta | None] | None = None,
) -> tuple[Cell, list[Cell]]:
    """One seeded run: (its pick, the configs it asked for, in order). ``answer`` defaults to the rows."""
    ask = answer or sweep.outcomes.__getitem__
    search = Search(strategy, sweep.universe, sweep.n_layers, n_budget, seed, metric, top_fraction=top_fraction)
    known: dict[Cell, Delta | None] = {}
    asked: list[Cell] = []
    while batch := search.next_batch(known):
        for cell in batch:
            asked.append(cell)
            known[cell] = ask(cell)
    ranking = search.ranking(known)
    if not ranking:
        raise ScanError(f"{strategy}: measured no scored config within {n_budget} evaluations")
    return ranking[0][0], asked


def plan_runs(strategies: Sequence[str], budgets: Sequence[float]) -> list[tuple[str, float]]:
    """(strategy, budget share) pairs to replay; random also at twice each budget."""
    runs = [(s, round(b, 6)) for s in strategies for b in budgets]
    if "random" in strategies:  # twice each budget, so "half the evaluations" can be read off
        runs += [("random", round(2 * b, 6)) for b in budgets if 2 * b <= 1]
    unique = sorted(set(runs), key=lambda sb: (list(strategies).index(sb[0]), sb[1]))
    return unique


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """The ``strategies`` replayed, at ``budgets`` (shares of the sweep's configs), over ``seeds``
    seeds; the ``metric`` ranked by; a pick is a hit when it lies in the top ``top_fraction``."""

    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    seeds: int = DEFAULT_SEEDS
    metric: str = "z"
    top_fraction: float = TOP_FRACTION


def replay(
    directory: str | os.PathLike[str],
    options: ReplayOptions = ReplayOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> ReplayTable:
    """Replay the strategies at the budgets over the seeds against the sweep in ``directory``;
    a `Stage` counts the seeded runs, ``progress`` one step per run."""
    directory = Path(directory)
    strategies, budgets, seeds = options.strategies, options.budgets, options.seeds
    metric, top_fraction = options.metric, options.top_fraction
    if metric not in METRIC_LABELS:
        raise ScanError(f"metric {metric!r}: expected one of {', '.join(METRIC_LABELS)}")
    warnings: list[str] = []
    try:
        sweep = load_recorded(directory, metric, warnings)
    finally:  # a row skipped may be why the folder is refused: say it either way
        for warning in warnings:
            emit(on_event, Note(warning, warning=True))
    n = len(sweep.universe)
    n_top = top_count(n, top_fraction)
    results = []
    runs = plan_runs(strategies, budgets)
    emit(on_event, Stage(f"replay {directory.name}", seeds * len(runs), "run"))
    for strategy, share in runs:
        hits, percentiles, used = 0, 0.0, 0
        for seed in range(seeds):
            pick, asked = replay_one(sweep, strategy, budget_count(share, n), seed, metric, top_fraction)
            rank = sweep.ranks[pick]
            hits += rank <= n_top
            percentiles += 100 * (n - rank) / max(1, n - 1)
            used += len(asked)
            if progress:
                progress(1)
        results.append(
            ReplayResult(strategy, round(share, 6), round(used / seeds), seeds, hits / seeds, percentiles / seeds)
        )
    return ReplayTable(directory, sweep.name, n, n_top, metric, top_fraction, tuple(results))


def format_replay(table: ReplayTable) -> str:
    """The replay table as text."""
    pct = f"{100 * table.top_fraction:g}%"
    lines = [
        f"{safe_line(table.model_name)} ({safe_line(table.directory)}): {table.n_configs} configs; "
        f"truth = the folder's ranking by {METRIC_LABELS[table.metric]}; top {pct} = the best {table.n_top}",
        f"{'strategy':<10} {'budget':>6} {'evals':>6} {'top-' + pct + ' hit':>11} {'mean pct':>9}",
    ]
    for r in table.results:
        lines.append(
            f"{r.strategy:<10} {100 * r.budget:>5.0f}% {r.n_evaluations:>6} {r.top_hit_rate:>11.2f} "
            f"{r.mean_percentile:>9.1f}"
        )
    return "\n".join(lines)
