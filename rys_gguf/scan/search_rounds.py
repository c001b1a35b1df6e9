"""A scan that searches: the search's rounds measured by the worker pool, the results file as state.

``run_scan`` hands over here when the strategy is not ``grid``. The universe is the configs the
filters and architecture rules allow (single blocks, in grid order); each round of the search
(``search.Search``) is run by the pool like a small grid, then the rows are read back and the next
round is planned from them. Nothing but results.jsonl is read to decide: a rerun after Ctrl-C or
kill -9 replays the rounds and measures only what is missing. ``search.json`` records what the
search was asked (for the report), never what it has done.

A budget in time (``--budget 8h``) becomes a count once the baseline is measured
(``search.timebudget``): the count comes from the baseline's recorded wall time, so a rerun plans
the same rounds, and the run's own deadline keeps the pool from starting a config that cannot end
in time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError, ScanError
from ..events import Note, OnEvent, Stage, emit
from ..plan import LayerPlan
from ..search.strategies import DEFAULT_BUDGET, DEFAULT_STRATEGY, SEARCH_FROM, STRATEGIES, Cell, Search, budget_count
from ..search.timebudget import TimeBudget, config_seconds, configs_in_time, describe, read_budget
from ..sweepfolder.metric import Delta, deltas_of
from ..sweepfolder.records import BASELINE, RESULTS_FILE, SEARCH_FILE, read_rows, write_json_atomic
from .grid import GridSpec, SweepPlan, shift_order
from .options import ScanOptions
from .pool import WorkerPool


def resolve_strategy(strategy: str | None, budget: str | None, grid: GridSpec, n_configs: int) -> str:
    """The strategy a scan runs over ``n_configs`` allowed configs. Without --search: grid for
    explicit configs and slices, DEFAULT_STRATEGY when a --budget is given or the universe holds at
    least SEARCH_FROM configs (a full triangle of 24 layers), else grid (small enough to measure)."""
    fixed = grid.configs or grid.configs_file is not None or grid.machine_slice is not None
    if strategy is None:
        large = budget is not None or n_configs >= SEARCH_FROM
        strategy = DEFAULT_STRATEGY if large and not fixed else "grid"
    if strategy not in STRATEGIES:
        raise OptionError(f"--search {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if strategy == "grid":
        if budget is not None:
            raise OptionError("--budget needs --search coarse or adaptive (grid measures every config)")
        return strategy
    if grid.machine_slice is not None:
        raise OptionError(
            f"--slice splits a fixed grid, but --search {strategy} plans each round from the results so far; "
            "use --gpus for several GPUs on one machine, or --search grid to slice"
        )
    if grid.configs or grid.configs_file is not None:
        raise OptionError(f"--configs lists what to run; --search {strategy} chooses among the filtered triangle")
    return strategy


def single_blocks(plans: list[LayerPlan]) -> dict[Cell, LayerPlan]:
    """The universe: every planned config as (i, j), in plan order."""
    out: dict[Cell, LayerPlan] = {}
    for plan in plans:
        block = plan.single_block
        if block is None:
            raise ScanError(f"config {plan.spec}: a search chooses among single blocks; use --search grid")
        out[block] = plan
    return out


def outcomes_of(out_dir: Path, universe: dict[Cell, LayerPlan], rescore: bool = False) -> dict[Cell, Delta | None]:
    """What results.jsonl says about the universe's configs (None: measured without a score);
    with ``rescore``, early-stopped configs count as not measured (a scan with --no-early-stop)."""
    n_layers = next(iter(universe.values())).n_layers if universe else None
    rows = read_rows(out_dir / RESULTS_FILE, n_layers=n_layers)
    if rescore:
        rows = [r for r in rows if r.get("status") != "early-stopped"]
    deltas = deltas_of(rows)
    return {c: deltas[p.spec] for c, p in universe.items() if p.spec in deltas}


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A search over ``universe`` whose budget is a count, a share or a time (counted later)."""

    strategy: str
    universe: dict[Cell, LayerPlan]
    n_layers: int
    budget: int | float | TimeBudget
    options: ScanOptions

    @property
    def n_workers(self) -> int:
        return len(self.options.gpus) or 1

    def search(self, n_budget: int) -> Search:
        spec, cells = self.options.search, list(self.universe)
        return Search(self.strategy, cells, self.n_layers, n_budget, spec.seed, spec.metric, self.n_workers)

    def counted(self, out_dir: Path) -> Search | None:
        """The search with its budget as a count (None: a time budget before the baseline is measured)."""
        if not isinstance(self.budget, TimeBudget):
            return self.search(budget_count(self.budget, len(self.universe)))
        baseline_s = baseline_seconds(out_dir)
        if baseline_s is None:
            return None
        return self.search(configs_in_time(self.budget, baseline_s, list(self.universe), self.n_layers, self.n_workers))


def plan_search(sweep: SweepPlan, options: ScanOptions, strategy: str) -> SearchPlan:
    """The search over the runnable configs of ``sweep`` (its first config is the baseline)."""
    universe = single_blocks(sweep.configs[1:])
    if not universe:
        raise ScanError("the filters and architecture rules leave no config to search; widen --min/--max-block")
    budget = read_budget(options.search.budget or DEFAULT_BUDGET)
    return SearchPlan(strategy, universe, sweep.configs[0].n_layers, budget, options)


def baseline_seconds(out_dir: Path) -> float | None:
    """The wall time of the scored baseline in results.jsonl (None: not measured yet)."""
    for row in read_rows(out_dir / RESULTS_FILE):
        timings = row.get("timings")
        if row.get("config") == BASELINE and row.get("status") == "ok" and isinstance(timings, dict):
            wall = timings.get("wall_s")
            if isinstance(wall, int | float) and wall > 0:
                return float(wall)
    return None


def record_search(out_dir: Path, plan: SearchPlan | None, options: ScanOptions) -> None:
    """Write search.json (what the search is asked to do); a grid scan removes a stale one."""
    path = out_dir / SEARCH_FILE
    if plan is None:
        path.unlink(missing_ok=True)  # a grid scan over the folder: it is a grid sweep now
        return
    spec = options.search
    search = plan.counted(out_dir)
    write_json_atomic(
        path,
        {
            "strategy": plan.strategy, "budget": spec.budget or DEFAULT_BUDGET,
            "n_budget": search.budget if search is not None else None,
            "seed": spec.seed, "metric": spec.metric, "configs": [p.spec for p in plan.universe.values()],
        },
    )  # fmt: skip


def remaining(plan: SearchPlan, out_dir: Path, rescore: bool = False) -> int | None:
    """Configs the search has yet to measure (None: a time budget not counted yet)."""
    search = plan.counted(out_dir)
    if search is None:
        return None
    return search.budget - len(search.evaluated(outcomes_of(out_dir, plan.universe, rescore)))


def run_rounds(
    plan: SearchPlan,
    pool: WorkerPool,
    out_dir: Path,
    baseline: LayerPlan | None,
    rescore: bool = False,
    on_event: OnEvent | None = None,
) -> None:
    """Measure the baseline (when ``baseline`` is given), then each round until the budget is spent
    (or, with a time budget, until the next config could not end in time)."""
    started = time.monotonic()
    if baseline is not None:
        pool.run([baseline], baseline_pending=True)
    search = plan.counted(out_dir)
    if search is None:
        raise ScanError(f"{out_dir / RESULTS_FILE}: the baseline has no wall time; rerun the scan to measure it")
    if isinstance(plan.budget, TimeBudget):
        _start_the_clock(plan, plan.budget, search, pool, out_dir, started, rescore, on_event)
    universe = plan.universe
    while batch := search.next_batch(outcomes_of(out_dir, universe, rescore)):
        pool.run(sorted((universe[c] for c in batch), key=shift_order), baseline_pending=False)
        if pool.out_of_time:
            emit(on_event, Note(f"the time budget ({plan.options.search.budget}) is spent; rerun to go on"))
            return
        if not (out_dir / RESULTS_FILE).exists():
            raise ScanError(f"{out_dir / RESULTS_FILE}: disappeared during the search; rerun to resume")


def _start_the_clock(
    plan: SearchPlan,
    budget: TimeBudget,
    search: Search,
    pool: WorkerPool,
    out_dir: Path,
    started: float,
    rescore: bool,
    on_event: OnEvent | None,
) -> None:
    """Tell the count a time budget allows, and give the pool its deadline and cost estimate."""
    baseline_s = baseline_seconds(out_dir) or 0.0
    if search.budget == 0:
        raise OptionError(
            f"--budget {budget.text}: the baseline alone took {describe(baseline_s)}, so no config fits; "
            "give the search more time"
        )
    done = len(search.evaluated(outcomes_of(out_dir, plan.universe, rescore)))
    already = f", {done} of them measured already" if done else ""
    emit(
        on_event,
        Note(
            f"about {search.budget} configs in {budget.text} (the baseline took {describe(baseline_s)}; "
            f"longer blocks take longer){already}"
        ),
    )
    pool.total = pool.n_run + search.budget - done
    emit(on_event, Stage(f"search ({plan.strategy}, {budget.text})", search.budget - done, "config"))
    pool.deadline = started + budget.seconds
    pool.estimate = {p.spec: config_seconds(c, plan.n_layers, baseline_s) for c, p in plan.universe.items()}
