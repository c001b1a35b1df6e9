"""Score and rank a sweep's configs: deltas vs the baseline, balanced z, bootstrap intervals.

Ranking follows the original RYS analysis: Δ = score − baseline per probe, and the balanced score
z(Δmath) + z(Δeq), with z over all scored non-baseline configs (numpy std, ddof 0; a spread below
1e-12 counts as 1), ties broken by Δeq then Δmath. Failed and skipped configs are kept as such,
never scored as zero. Validation rows (scored on the large probe sets) get paired bootstrap
intervals. Early-stopped configs (garbage from their first answers) are kept apart too. Pure: rows
in, values out; text is ``tables``', drawings ``terminal``/``png``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PlanError, ProbeError, ScanError
from ..plan import parse_blocks
from ..sweepfolder.metric import METRICS, check_metric, z_of, zscores
from ..sweepfolder.records import BASELINE, RESULTS_FILE, SWEEP_FILE, ResultRow, SweepMeta

if TYPE_CHECKING:
    from .searchview import SearchView


@dataclass(frozen=True, slots=True)
class ConfigScore:
    """One config of a sweep: its scores, deltas vs the baseline, balanced z and rank."""

    config: str
    block: tuple[int, int] | None
    status: str  # "ok" | "failed" | "early-stopped" | "skipped"
    reason: str | None = None
    n_layers: int | None = None
    n_extra: int | None = None
    math: float | None = None
    eq: float | None = None
    d_math: float | None = None
    d_eq: float | None = None
    z: float | None = None
    rank: int | None = None
    baseline: bool = False
    math_parse_rate: float | None = None
    eq_parse_rate: float | None = None

    @property
    def d_sum(self) -> float | None:
        """Δmath + Δeq; a probe the sweep did not run counts as 0."""
        if self.d_math is None and self.d_eq is None:
            return None
        return (self.d_math or 0.0) + (self.d_eq or 0.0)

    def value(self, metric: str) -> float | None:
        """The number ``metric`` ranks by (None for failed, early-stopped or skipped configs)."""
        return {"z": self.z, "sum": self.d_sum, "math": self.d_math, "eq": self.d_eq}[metric]


@dataclass(frozen=True, slots=True)
class ValidationRow:
    """A config re-scored on the large probe sets: (mean Δ, 95 % low, high) per probe."""

    config: str
    d_math: tuple[float, float, float]
    d_eq: tuple[float, float, float]
    rank: int
    search_rank: int | None

    @property
    def verdict(self) -> str:
        return interval_verdict(self.d_math, self.d_eq)


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """A ranked sweep: the baseline, scored configs best first, failures, skips, files written."""

    directory: Path
    model_name: str
    model_path: str
    n_layers: int
    metric: str
    baseline: ConfigScore
    ranked: tuple[ConfigScore, ...]
    failed: tuple[ConfigScore, ...] = ()
    skipped: tuple[ConfigScore, ...] = ()
    validation: tuple[ValidationRow, ...] = ()
    paths: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    early_stopped: tuple[ConfigScore, ...] = ()  # garbage from their first answers: cut short, unscored
    search: SearchView | None = None  # set when a search (not the grid) chose the configs

    @property
    def best(self) -> ConfigScore | None:
        """The best measurement (after a search, the shortlist's first may differ: see shortlist)."""
        return self.ranked[0] if self.ranked else None

    def shortlist(self, k: int | None = None) -> list[str]:
        """The configs to prove, best first: after a search its picks by its own (denoised)
        estimate, else the ranking. validate --top K, eval --sweep and the report's build line all
        take this list, so they agree on what "the best" is."""
        if self.search is not None and self.search.picks:
            configs = [config for config, _ in self.search.picks]
        else:
            configs = [s.config for s in self.ranked]
        return configs if k is None else configs[:k]

    @property
    def configs(self) -> tuple[ConfigScore, ...]:
        """Every config: baseline, ranked, failed, early-stopped, skipped."""
        return (self.baseline, *self.ranked, *self.failed, *self.early_stopped, *self.skipped)


def rank_scores(scores: Sequence[ConfigScore], metric: str) -> list[ConfigScore]:
    """Set z (over these configs) and rank 1.. by ``metric``; ties by Δeq, then Δmath."""
    zm = zscores([s.d_math or 0.0 for s in scores])
    ze = zscores([s.d_eq or 0.0 for s in scores])
    scored = [replace(s, z=a + b) for s, a, b in zip(scores, zm, ze, strict=True)]
    order = sorted(scored, key=lambda s: _rank_key(s, metric), reverse=True)  # stable on ties
    return [replace(s, rank=n) for n, s in enumerate(order, start=1)]


def _rank_key(s: ConfigScore, metric: str) -> tuple[float, float, float]:
    return (s.value(metric) or 0.0, s.d_eq or 0.0, s.d_math or 0.0)


def block_of(config: str, row_block: Any = None) -> tuple[int, int] | None:
    """(i, j) for a single-block config, else None."""
    if isinstance(row_block, list | tuple) and len(row_block) == 2:
        return int(row_block[0]), int(row_block[1])
    try:
        blocks = parse_blocks(config)
    except PlanError:
        return None
    return blocks[0] if len(blocks) == 1 else None


def summarize(
    meta: SweepMeta,
    rows: Sequence[ResultRow],
    skipped: dict[str, str],
    metric: str = "z",
    directory: Path = Path("."),
) -> ReportSummary:
    """Deltas vs the "0,0" row, balanced z over the other scored configs, and the ranking."""
    if metric not in METRICS:
        raise ScanError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    scores = [_score_of(row) for row in rows]
    ok = [s for s in scores if s.status == "ok"]
    base = next((s for s in ok if s.baseline), None)
    if base is None:
        raise ScanError(
            f"{Path(directory) / RESULTS_FILE}: no scored baseline ({BASELINE}); deltas need "
            "it (resume the scan: it measures the baseline first)"
        )
    # A probe the sweep did not run (--math none / --eq-set none) has no score anywhere.
    has_math, has_eq = base.math is not None, base.eq is not None
    check_metric(metric, meta, directory, {"math": base.math, "eq": base.eq})
    deltas = [
        replace(
            s,
            d_math=s.math - base.math if s.math is not None and base.math is not None else None,
            d_eq=s.eq - base.eq if s.eq is not None and base.eq is not None else None,
        )
        for s in ok
        if not s.baseline and (s.math is not None or not has_math) and (s.eq is not None or not has_eq)
    ]
    # The baseline's own z uses the same mean and spread, so it has a place on the z map.
    dm, de = [s.d_math or 0.0 for s in deltas], [s.d_eq or 0.0 for s in deltas]
    base_z = z_of(0.0, dm) + z_of(0.0, de) if deltas else 0.0
    done = {s.config for s in scores}
    found: Any = meta.get("model")
    model: dict[str, Any] = found if isinstance(found, dict) else {}
    path = str(model.get("path", "model.gguf"))
    n_layers = model.get("n_layers") or base.n_layers
    if not isinstance(n_layers, int):
        raise ScanError(f"{Path(directory) / SWEEP_FILE}: model.n_layers is missing")
    return ReportSummary(
        directory=Path(directory),
        model_name=str(model.get("name") or Path(path).stem),
        model_path=path,
        n_layers=n_layers,
        metric=metric,
        baseline=replace(base, d_math=0.0, d_eq=0.0, z=base_z),
        ranked=tuple(rank_scores(deltas, metric)),
        failed=tuple(s for s in scores if s.status == "failed"),
        early_stopped=tuple(s for s in scores if s.status == "early-stopped"),
        skipped=tuple(ConfigScore(c, block_of(c), "skipped", reason=r) for c, r in skipped.items() if c not in done),
    )


def _score_of(row: ResultRow) -> ConfigScore:
    block = block_of(row["config"], row.get("block"))
    s = ConfigScore(
        config=row["config"],
        block=block,
        status="ok",
        reason=row.get("reason"),
        n_layers=row.get("n_layers"),
        n_extra=row.get("n_extra"),
        math=_num(row.get("math")),
        eq=_num(row.get("eq")),
        baseline=row["config"] == BASELINE or block == (0, 0),
        math_parse_rate=_num(row.get("math_parse_rate")),
        eq_parse_rate=_num(row.get("eq_parse_rate")),
    )
    if row.get("status") == "ok" and (s.math is not None or s.eq is not None):
        return s
    if row.get("status") == "early-stopped":
        return replace(s, status="early-stopped", math=None, eq=None, reason=s.reason or "early-stopped")
    why = s.reason or ("no score recorded" if row.get("status") == "ok" else "failed")
    return replace(s, status="failed", reason=why)


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def validate(summary: ReportSummary, rows: Sequence[ResultRow]) -> tuple[ValidationRow, ...]:
    """Bootstrap intervals vs the validation baseline and ranks among the validated configs."""
    items = {r["config"]: r.get("items") or {} for r in rows if r.get("status") == "ok"}
    if BASELINE not in items:
        raise ScanError(f"validation.jsonl: no scored baseline ({BASELINE}); validation skipped")
    base = items.pop(BASELINE)
    boot = {
        c: (
            paired_bootstrap(base.get("math") or [], it.get("math") or []),
            paired_bootstrap(base.get("eq") or [], it.get("eq") or []),
        )
        for c, it in items.items()
    }
    # A config with no paired item has NaN means: it ranks as Δ = 0 rather than poisoning z.
    scores = [ConfigScore(c, block_of(c), "ok", d_math=_num(m[0]), d_eq=_num(e[0])) for c, (m, e) in boot.items()]
    search = {config: n for n, config in enumerate(summary.shortlist(), start=1)}  # its place on the shortlist
    ranked = rank_scores(scores, summary.metric)
    return tuple(ValidationRow(s.config, *boot[s.config], s.rank or 0, search.get(s.config)) for s in ranked)


def interval_verdict(*intervals: tuple[float, float, float]) -> str:
    """What (mean, low, high) 95 % intervals of differences say together: "better" when one lies
    above 0 and none below, "worse" the mirror, "mixed" when one lies on each side, and "no clear
    change" when every interval holds 0 (or has no items)."""
    up = any(low > 0 for _, low, _ in intervals)
    down = any(high < 0 for _, _, high in intervals)
    return "mixed" if up and down else "better" if up else "worse" if down else "no clear change"


def paired_bootstrap(
    base_items: Sequence[float | None],
    cfg_items: Sequence[float | None],
    n_boot: int = 10000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean per-item difference (cfg − base) and its 95 % percentile bootstrap interval.

    Items are paired by index; a pair is dropped when either side is None; NaNs when no pair is
    left. Raises ProbeError when the two lists differ in length (not the same probe items).
    """
    if len(base_items) != len(cfg_items):
        raise ProbeError(
            f"paired bootstrap: {len(base_items)} baseline items vs {len(cfg_items)} config "
            "items; score the baseline and the config on the same probe set"
        )
    import numpy as np

    pairs = zip(base_items, cfg_items, strict=True)
    d = np.array([c - b for b, c in pairs if b is not None and c is not None], dtype=float)
    if d.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // d.size)  # resample in chunks: bounded memory for long item lists
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        means[start:stop] = d[rng.integers(0, d.size, size=(stop - start, d.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(d.mean()), float(lo), float(hi))
