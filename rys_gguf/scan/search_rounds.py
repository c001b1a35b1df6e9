"""A scan that searches: the search's rounds measured by the worker pool, the results file as state.

``run_scan`` hands over here when the strategy is not ``grid``. The universe is the configs the
filters and architecture rules allow (single blocks, in grid order); each round of the search
(``search.Search``) is run by the pool like a small grid, then the rows are read back and the next
round is planned from them. Nothing but results.jsonl is read to decide: a rerun after Ctrl-C or
kill -9 replays the rounds and measures only what is missing. ``search.json`` records what the
search was asked (for the report), never what it has done.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError, PlanError, ScanError
from ..plan import LayerPlan, parse_blocks
from ..search.strategies import DEFAULT_BUDGET, DEFAULT_STRATEGY, STRATEGIES, Cell, Search, budget_count, parse_budget
from ..sweepfolder.metric import Delta, deltas_of
from ..sweepfolder.records import RESULTS_FILE, SEARCH_FILE, read_rows, write_json_atomic
from .grid import GridSpec, SweepPlan, shift_order
from .options import ScanOptions
from .pool import WorkerPool


def resolve_strategy(strategy: str | None, budget: str | None, grid: GridSpec) -> str:
    """The strategy a scan runs: the default is grid for explicit configs and slices, else DEFAULT_STRATEGY."""
    fixed = grid.configs or grid.configs_file is not None or grid.machine_slice is not None
    if strategy is None:
        strategy = "grid" if fixed else DEFAULT_STRATEGY
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
        try:
            blocks = parse_blocks(plan.spec)
        except PlanError:
            blocks = []
        if len(blocks) != 1:
            raise ScanError(f"config {plan.spec}: a search chooses among single blocks; use --search grid")
        out[blocks[0]] = plan
    return out


def outcomes_of(out_dir: Path, universe: dict[Cell, LayerPlan], rescore: bool = False) -> dict[Cell, Delta | None]:
    """What results.jsonl says about the universe's configs (None: measured without a score);
    with ``rescore``, early-stopped configs count as not measured (a scan with --no-early-stop)."""
    rows = read_rows(out_dir / RESULTS_FILE)
    if rescore:
        rows = [r for r in rows if r.get("status") != "early-stopped"]
    deltas = deltas_of(rows)
    return {c: deltas[p.spec] for c, p in universe.items() if p.spec in deltas}


def plan_search(sweep: SweepPlan, options: ScanOptions, strategy: str) -> tuple[Search, dict[Cell, LayerPlan]]:
    """The search over the runnable configs of ``sweep`` (its first config is the baseline)."""
    universe = single_blocks(sweep.configs[1:])
    if not universe:
        raise ScanError("the filters and architecture rules leave no config to search; widen --min/--max-block")
    spec = options.search
    n_budget = budget_count(parse_budget(spec.budget or DEFAULT_BUDGET), len(universe))
    n_workers = len(options.gpus) or 1
    search = Search(strategy, list(universe), sweep.configs[0].n_layers, n_budget, spec.seed, spec.metric, n_workers)
    return search, universe


def record_search(out_dir: Path, search: Search | None, universe: dict[Cell, LayerPlan], options: ScanOptions) -> None:
    """Write search.json (what the search is asked to do); a grid scan removes a stale one."""
    path = out_dir / SEARCH_FILE
    if search is None:
        path.unlink(missing_ok=True)  # a grid scan over the folder: it is a grid sweep now
        return
    spec = options.search
    write_json_atomic(
        path,
        {
            "strategy": search.strategy.name, "budget": spec.budget or DEFAULT_BUDGET, "n_budget": search.budget,
            "seed": spec.seed, "metric": spec.metric, "configs": [p.spec for p in universe.values()],
        },
    )  # fmt: skip


def remaining(search: Search, out_dir: Path, universe: dict[Cell, LayerPlan], rescore: bool = False) -> int:
    """Configs the search has yet to measure (its budget minus the rounds already done)."""
    return search.budget - len(search.evaluated(outcomes_of(out_dir, universe, rescore)))


def run_rounds(
    search: Search,
    universe: dict[Cell, LayerPlan],
    pool: WorkerPool,
    out_dir: Path,
    baseline: LayerPlan | None,
    rescore: bool = False,
) -> None:
    """Measure the baseline (when ``baseline`` is given), then each round until the budget is spent."""
    if baseline is not None:
        pool.run([baseline], baseline_pending=True)
    while batch := search.next_batch(outcomes_of(out_dir, universe, rescore)):
        pool.run(sorted((universe[c] for c in batch), key=shift_order), baseline_pending=False)
        if not (out_dir / RESULTS_FILE).exists():
            raise ScanError(f"{out_dir / RESULTS_FILE}: disappeared during the search; rerun to resume")
