"""What a search steers by: each config's Δ per probe against the baseline, and the ranking metric.

The metric is the report's (``report.ranking`` uses the same functions): ``z`` = z(Δmath) + z(Δeq)
with z over the configs given (numpy std, ddof 0; a spread below 1e-12 counts as 1), ``sum`` =
Δmath + Δeq, or one probe alone; a probe the sweep did not run counts as 0 in z and sum, and
ranking by it alone is refused (``check_metric``): every config would tie at 0. A config without a
score (failed, early-stopped) has no value (None), never 0. Pure: rows in, numbers out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import OptionError
from .records import BASELINE, ResultRow, SweepMeta

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

K = TypeVar("K", bound=Hashable)
METRICS = ("z", "sum", "math", "eq")
METRIC_LABELS = {
    "z": "balanced z (z Δmath + z Δeq)",
    "sum": "Δ sum (Δmath + Δeq) vs baseline",
    "math": "Δ math score vs baseline",
    "eq": "Δ EQ score vs baseline",
}
Delta = tuple[float | None, float | None]  # (Δmath, Δeq); None where the probe did not run
PROBES = ("math", "eq")
PROBE_NAMES = {"math": "math", "eq": "EQ"}
NOT_RUN = {"math": "--math none", "eq": "--eq-set none"}


def probes_run(meta: SweepMeta | Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The probes a sweep ran: those its probe set does not name "none", and, given its scored
    baseline row, that the baseline has a score for."""
    info = meta.get("probe_set")
    names: Mapping[str, Any] = info if isinstance(info, Mapping) else {}
    ran = []
    for probe in PROBES:
        if names.get(probe) == "none":
            continue
        if baseline is not None and not isinstance(baseline.get(probe), int | float):
            continue
        ran.append(probe)
    return tuple(ran)


def usable_metrics(probes: Sequence[str]) -> tuple[str, ...]:
    """The metrics that rank a sweep that ran ``probes``: z and sum, and each probe it ran."""
    return tuple(m for m in METRICS if m in ("z", "sum") or m in probes)


def check_metric(
    metric: str, meta: SweepMeta | Mapping[str, Any], where: str | Path, baseline: Mapping[str, Any] | None = None
) -> None:
    """Refuse ranking the sweep at ``where`` by a probe it did not run (every config would score 0)."""
    probes = probes_run(meta, baseline)
    if metric in PROBES and metric not in probes:
        ran = " and ".join(PROBE_NAMES[p] for p in probes) or "no"
        raise OptionError(
            f"--metric {metric}: the sweep {where} ran {ran} probes, no {PROBE_NAMES[metric]} ({NOT_RUN[metric]}); "
            f"rank it by {', '.join(usable_metrics(probes))}"
        )


def zscores(values: Sequence[float]) -> list[float]:
    """Population z-scores of ``values`` (numpy std, ddof 0; std < 1e-12 counts as 1)."""
    import numpy as np  # numpy loads when configs are ranked, not when the CLI starts

    if not values:
        return []
    arr = np.asarray(values, dtype=float)
    return [float(x) for x in (arr - arr.mean()) / spread(arr)]


def z_of(x: float, values: Sequence[float]) -> float:
    """The z-score of ``x`` against the mean and spread of ``values``."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return (x - float(arr.mean())) / spread(arr)


def spread(arr: npt.NDArray[np.float64]) -> float:
    """The standard deviation used for z (1 when all values are equal)."""
    std = float(arr.std())
    return std if std >= 1e-12 else 1.0


def row_delta(row: ResultRow, base: ResultRow) -> Delta | None:
    """(Δmath, Δeq) of a scored row against the baseline row; None when it has no score."""
    if row.get("status") != "ok":
        return None
    out: list[float | None] = []
    for probe in ("math", "eq"):
        x, b = row.get(probe), base.get(probe)
        if b is None:
            out.append(None)  # the sweep did not run this probe
        elif not isinstance(x, int | float):
            return None  # scored rows carry every probe the baseline has
        else:
            out.append(float(x) - float(b))  # type: ignore[arg-type]
    return out[0], out[1]


def deltas_of(rows: Sequence[ResultRow]) -> dict[str, Delta | None]:
    """Every non-baseline config's Δ (None: failed or early-stopped); {} without a scored baseline."""
    base = next((r for r in rows if r["config"] == BASELINE and r.get("status") == "ok"), None)
    if base is None:
        return {}
    return {r["config"]: row_delta(r, base) for r in rows if r["config"] != BASELINE}


def metric_values(deltas: Mapping[K, Delta | None], metric: str) -> dict[K, float | None]:
    """The metric of every key (z over the scored keys given); None for keys without a score."""
    scored = [(k, d) for k, d in deltas.items() if d is not None]
    dm = [d[0] or 0.0 for _, d in scored]
    de = [d[1] or 0.0 for _, d in scored]
    if metric == "z":
        values = [a + b for a, b in zip(zscores(dm), zscores(de), strict=True)]
    elif metric == "sum":
        values = [a + b for a, b in zip(dm, de, strict=True)]
    elif metric == "math":
        values = dm
    elif metric == "eq":
        values = de
    else:
        raise ValueError(f"metric {metric!r}: expected z, sum, math or eq")
    out: dict[K, float | None] = dict.fromkeys(deltas)
    out.update({k: v for (k, _), v in zip(scored, values, strict=True)})
    return out
