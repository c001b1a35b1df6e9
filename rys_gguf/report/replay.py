"""Replay search strategies against a recorded sweep: the benchmark of ``scan --search``.

The folder's single-block configs are the universe and its own ranking by the metric is the truth.
Each strategy runs as it would in a scan (``search.strategies.Search``), seeded, but every config it asks
for is answered from the recorded rows, and only those, in the order asked. Its pick is the config
it would report first; its shortlist the first K of its ranking. Per strategy and budget: the share
of seeds whose pick lies in the truth's top fraction (the best ``top_count`` of the scored configs),
the shortlist's recall (the share of that top the search's best K hold, with K the top's size, and
with K = 10), the mean percentile of the pick (100 = the truth's best, 0 = its worst) and the
evaluations used. ``random`` also runs at twice each budget, so "half the evaluations for the same
result" can be read off the table.

A recording need not be a complete grid: configs never measured (a region not scanned, a scan cut
short) are simply not in the universe, and the table says how many of the model's single-block
triangle are missing; failed or early-stopped configs are in it, without a score, as a scan would
meet them. Multi-block rows or rows of another model or probe set are refused with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PlanError, ScanError
from ..events import Note, OnEvent, Progress, Stage, emit
from ..plan import parse_blocks
from ..search.strategies import (
    REPLAY_STRATEGIES,
    TOP_FRACTION,
    Cell,
    Search,
    SearchParams,
    budget_count,
    top_count,
)
from ..sweepfolder.metric import METRIC_LABELS, Delta, deltas_of
from ..sweepfolder.records import BASELINE, RESULTS_FILE, identity, read_skipped, read_sweep
from ..untrusted import safe_line
from .ranking import summarize

DEFAULT_BUDGETS = (0.05, 0.1, 0.2)
DEFAULT_SEEDS = 20
DEFAULT_STRATEGIES = REPLAY_STRATEGIES
RECALL_AT = 10  # the second shortlist: what a user validates by hand


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One strategy at one budget over every seed."""

    strategy: str
    budget: float  # share of n_configs
    n_evaluations: int  # mean over the seeds, rounded
    seeds: int
    top_hit_rate: float
    mean_percentile: float
    recall: float  # mean share of the truth's top held by the search's best n_top
    recall_10: float  # ... by its best RECALL_AT


@dataclass(frozen=True, slots=True)
class ReplayTable:
    """Every strategy and budget replayed on one recording."""

    source: str  # the folder (or the recording's name)
    model_name: str
    n_layers: int
    n_configs: int  # the universe: every config the recording holds
    n_missing: int  # configs of the single-block triangle it does not hold
    n_top: int
    metric: str
    top_fraction: float
    results: tuple[ReplayResult, ...]

    def as_json(self) -> dict[str, object]:
        """The ``--json`` object."""
        return {
            "n_layers": self.n_layers,
            "n_configs": self.n_configs,
            "n_missing": self.n_missing,
            "n_top": self.n_top,
            "metric": self.metric,
            "top_fraction": self.top_fraction,
            "results": [
                {
                    "strategy": r.strategy,
                    "budget": r.budget,
                    "n_evaluations": r.n_evaluations,
                    "seeds": r.seeds,
                    "top_hit_rate": r.top_hit_rate,
                    "recall": r.recall,
                    "recall_10": r.recall_10,
                    "mean_percentile": r.mean_percentile,
                }
                for r in self.results
            ],
        }

    def result(self, strategy: str, budget: float) -> ReplayResult:
        """The row of ``strategy`` at ``budget`` (a share); KeyError when it was not replayed."""
        for r in self.results:
            if r.strategy == strategy and abs(r.budget - budget) < 1e-9:
                return r
        raise KeyError((strategy, budget))


@dataclass(frozen=True, slots=True)
class RecordedSweep:
    """A recorded single-block sweep: the universe in grid order, each config's Δ, the truth."""

    name: str
    n_layers: int
    universe: tuple[Cell, ...]  # every config recorded, scored or not
    outcomes: dict[Cell, Delta | None]  # None: failed or early-stopped
    ranks: dict[Cell, int]  # scored configs only; 1 = the truth's best

    @property
    def n_missing(self) -> int:
        """Configs of the model's single-block triangle the recording does not hold."""
        return self.n_layers * (self.n_layers + 1) // 2 - len(self.universe)


def _cell(config: str, where: Path) -> Cell:
    try:
        blocks = parse_blocks(config)
    except PlanError:
        blocks = []
    if len(blocks) != 1:
        raise ScanError(f"{where}: mixed folder: {config} is not a single block; replay needs a single-block sweep")
    return blocks[0]


def load_recorded(directory: Path, metric: str = "z", warnings: list[str] | None = None) -> RecordedSweep:
    """Read a sweep folder for replay; raises ScanError naming what is missing or mixed.

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
    if not any(r["config"] == BASELINE and r.get("status") == "ok" for r in rows):
        raise ScanError(f"{results}: incomplete: no scored baseline ({BASELINE}); deltas need it")
    cells = {_cell(r["config"], results): r for r in rows if r["config"] != BASELINE}
    n_scored = sum(1 for r in cells.values() if r.get("status") == "ok")
    if n_scored < 2:
        raise ScanError(f"{results}: incomplete: {n_scored} config(s) scored; replay needs a sweep")
    n_layers = int(meta.get("model", {}).get("n_layers") or 0)
    if n_layers < 1 or any(j > n_layers for _, j in cells):
        raise ScanError(f"{directory / 'sweep.json'}: model.n_layers is missing or too small")
    summary = summarize(meta, rows, read_skipped(directory), metric, directory)
    ranks = {_cell(s.config, results): s.rank for s in summary.ranked if s.rank}
    deltas = deltas_of(list(rows))
    universe = tuple(sorted(cells, key=lambda c: (c[1] - c[0], c[0])))  # the scan's grid order
    return RecordedSweep(summary.model_name, n_layers, universe, {c: deltas[_spec(c)] for c in universe}, ranks)


def _spec(cell: Cell) -> str:
    return f"{cell[0]},{cell[1]}"


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
    ranking, asked = replay_ranking(sweep, strategy, n_budget, seed, metric, top_fraction, answer)
    return ranking[0], asked


def replay_ranking(
    sweep: RecordedSweep,
    strategy: str,
    n_budget: int,
    seed: int,
    metric: str = "z",
    top_fraction: float = TOP_FRACTION,
    answer: Callable[[Cell], Delta | None] | None = None,
    params: SearchParams | None = None,
) -> tuple[list[Cell], list[Cell]]:
    """One seeded run: (its shortlist, best first; the configs it asked for, in order).
    ``answer`` defaults to the rows; ``params`` overrides the adaptive search's constants."""
    ask = answer or sweep.outcomes.__getitem__
    search = Search(
        strategy, sweep.universe, sweep.n_layers, n_budget, seed, metric, top_fraction=top_fraction, params=params
    )
    known: dict[Cell, Delta | None] = {}
    asked: list[Cell] = []
    while batch := search.next_batch(known):
        for cell in batch:
            asked.append(cell)
            known[cell] = ask(cell)
    ranking = search.ranking(known)
    if not ranking:
        raise ScanError(f"{strategy}: measured no scored config within {n_budget} evaluations")
    return [c for c, _ in ranking], asked


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
    seeds; the ``metric`` ranked by; a pick is a hit when it lies in the top ``top_fraction``;
    ``params`` overrides the adaptive search's constants (the benchmark's leave-one-out)."""

    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    seeds: int = DEFAULT_SEEDS
    metric: str = "z"
    top_fraction: float = TOP_FRACTION
    plan: tuple[tuple[str, float], ...] | None = None  # exact (strategy, share) runs; None: plan_runs
    params: SearchParams | None = None


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
    if options.metric not in METRIC_LABELS:
        raise ScanError(f"metric {options.metric!r}: expected one of {', '.join(METRIC_LABELS)}")
    warnings: list[str] = []
    try:
        sweep = load_recorded(directory, options.metric, warnings)
    finally:  # a row skipped may be why the folder is refused: say it either way
        for warning in warnings:
            emit(on_event, Note(warning, warning=True))
    return replay_sweep(sweep, options, str(directory), progress=progress, on_event=on_event)


def replay_sweep(
    sweep: RecordedSweep,
    options: ReplayOptions = ReplayOptions(),
    source: str = "",
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> ReplayTable:
    """`replay` of a recording already read (``ranks`` by ``options.metric``)."""
    metric, top_fraction, seeds = options.metric, options.top_fraction, options.seeds
    n = len(sweep.universe)
    n_ranked = len(sweep.ranks)
    n_top = top_count(n_ranked, top_fraction)
    top = {c for c, r in sweep.ranks.items() if r <= n_top}  # more than n_top where values tie
    results = []
    runs = list(options.plan) if options.plan is not None else plan_runs(options.strategies, options.budgets)
    emit(on_event, Stage(f"replay {Path(source).name or sweep.name}", seeds * len(runs), "run"))
    for strategy, share in runs:
        hits, percentiles, used, recall, recall_10 = 0, 0.0, 0, 0.0, 0.0
        for seed in range(seeds):
            ranking, asked = replay_ranking(
                sweep, strategy, budget_count(share, n), seed, metric, top_fraction, params=options.params
            )
            rank = sweep.ranks[ranking[0]]
            hits += rank <= n_top
            percentiles += 100 * (n_ranked - rank) / max(1, n_ranked - 1)
            recall += len(top.intersection(ranking[:n_top])) / n_top
            recall_10 += len(top.intersection(ranking[:RECALL_AT])) / n_top
            used += len(asked)
            if progress:
                progress(1)
        means = (hits / seeds, percentiles / seeds, recall / seeds, recall_10 / seeds)
        results.append(ReplayResult(strategy, round(share, 6), round(used / seeds), seeds, *means))
    return ReplayTable(
        source, sweep.name, sweep.n_layers, n, sweep.n_missing, n_top, metric, top_fraction, tuple(results)
    )


def format_replay(table: ReplayTable) -> str:
    """The replay table as text."""
    pct = f"{100 * table.top_fraction:g}%"
    missing = f", {table.n_missing} of its triangle not recorded" if table.n_missing else ""
    lines = [
        f"{safe_line(table.model_name)} ({safe_line(table.source)}): {table.n_layers} layers, "
        f"{table.n_configs} configs{missing}; truth = the folder's ranking by {METRIC_LABELS[table.metric]}; "
        f"top {pct} = the best {table.n_top}",
        f"{'strategy':<10} {'budget':>6} {'evals':>6} {'top-' + pct + ' hit':>11} {'recall':>7} "
        f"{'recall@' + str(RECALL_AT):>9} {'mean pct':>9}",
    ]
    for r in table.results:
        lines.append(
            f"{r.strategy:<10} {100 * r.budget:>5.0f}% {r.n_evaluations:>6} {r.top_hit_rate:>11.2f} "
            f"{r.recall:>7.2f} {r.recall_10:>9.2f} {r.mean_percentile:>9.1f}"
        )
    lines.append(
        f"(hit: the pick in the top {pct}; recall: the share of the top {pct} the search's best {table.n_top} "
        f"hold; recall@{RECALL_AT}: its best {RECALL_AT})"
    )
    return "\n".join(lines)
