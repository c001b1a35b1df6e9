"""A search in the report: which cells it measured, what its model predicts for the others, its picks.

A sweep folder that a search wrote (``search.json``, see ``scan.search_rounds``) is reported like any
other; this module adds the search's side. The surrogate (``search.surrogate``) is refitted to the
measured single blocks of the universe, once per metric drawn, so each heatmap can show the cells
the search never measured in the model's predicted colour, apart from the measured ones. The picks
are the search's own ranking (``Search.ranking``: the adaptive strategy's denoised estimate), the
order ``validate`` re-scores them in. Pure apart from reading search.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PlanError, ScanError
from ..plan import parse_blocks
from ..search.strategies import STRATEGY_CLASSES, Cell, fit
from ..sweepfolder.metric import Delta, deltas_of, metric_values
from ..sweepfolder.records import SEARCH_FILE, ResultRow

N_PICKS = 50  # picks kept in the report (validate takes its top K from them)


@dataclass(frozen=True, slots=True)
class SearchView:
    """What a search measured, what its model predicts for the rest, and its picks."""

    strategy: str
    budget: str
    n_budget: int
    n_universe: int
    measured: frozenset[Cell]
    picks: tuple[tuple[str, float], ...]  # (config, the search's estimate), best first
    predicted: dict[str, dict[Cell, float]] = field(default_factory=dict)  # metric -> unmeasured cell -> value

    @property
    def label(self) -> str:
        """e.g. 'adaptive search, 17 of 171 configs (budget 10%)'."""
        return f"{self.strategy} search, {len(self.measured)} of {self.n_universe} configs (budget {self.budget})"


def read_search(directory: Path) -> dict[str, object] | None:
    """DIR/search.json, or None when the sweep was a grid."""
    path = Path(directory) / SEARCH_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ScanError(f"{path}: not readable JSON ({e}); delete it to report the sweep as a grid") from None
    if not isinstance(data, dict) or not isinstance(data.get("configs"), list):
        raise ScanError(f"{path}: expected the object a search writes; delete it to report the sweep as a grid")
    return data


def _cell(config: str) -> Cell | None:
    try:
        blocks = parse_blocks(config)
    except PlanError:
        return None
    return blocks[0] if len(blocks) == 1 else None


def search_view(
    directory: Path, rows: list[ResultRow], n_layers: int, metric: str, metrics: tuple[str, ...] = ()
) -> SearchView | None:
    """The search side of the report (None for a grid sweep); predictions for ``metrics``."""
    data = read_search(directory)
    if data is None:
        return None
    configs = data["configs"]
    universe = [c for c in (_cell(str(x)) for x in configs) if c is not None] if isinstance(configs, list) else []
    deltas = deltas_of(rows)
    outcomes: dict[Cell, Delta | None] = {}
    allowed = set(universe)
    for config, delta in deltas.items():
        cell = _cell(config)
        if cell is not None and cell in allowed:
            outcomes[cell] = delta
    strategy = str(data.get("strategy"))
    ranking_of = STRATEGY_CLASSES[strategy]().rank if strategy in STRATEGY_CLASSES else None
    values = metric_values(outcomes, metric)
    picks = ranking_of(values, n_layers) if ranking_of else []
    predicted: dict[str, dict[Cell, float]] = {}
    open_cells = [c for c in universe if c not in outcomes]
    for m in dict.fromkeys((*metrics, metric)):
        model = fit(metric_values(outcomes, m), n_layers)
        if model is not None and open_cells:
            mean, _ = model.predict(open_cells)
            predicted[m] = {c: float(v) for c, v in zip(open_cells, mean, strict=True)}
    return SearchView(
        strategy=strategy,
        budget=str(data.get("budget")),
        n_budget=int(data.get("n_budget") or 0),  # type: ignore[call-overload]
        n_universe=len(universe),
        measured=frozenset(outcomes),
        picks=tuple((f"{c[0]},{c[1]}", v) for c, v in picks[:N_PICKS]),
        predicted=predicted,
    )
