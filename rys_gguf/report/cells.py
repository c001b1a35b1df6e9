"""The heatmap's cells, shared by the terminal and PNG drawings (pure).

The map is the original's: a square of side N+1, row i = start of the repeated block, column j =
its end (exclusive), a diverging RdBu_r scale centred on 0 with symmetric limits ±max|value| (red
better than the baseline, blue worse). Only single-block configs have a cell. Failed cells are
dark grey, early-stopped ones (garbage from the first answers) goldenrod, skipped ones light
grey, cells not in the sweep blank; none is drawn as 0. After a search, the cells it did not
measure carry its model's prediction, drawn faded and marked apart from the measured ones. The
baseline (0,0) and the best config are marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .ranking import ReportSummary

# ColorBrewer RdBu anchors, reversed (matplotlib's RdBu_r): blue = worse, red = better.
RDBU_R = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)  # fmt: skip
FAILED, SKIPPED, BEST = "#4d4d4d", "#bdbdbd", "#39ff14"
EARLY = "#b8860b"  # early-stopped: garbage from the first answers (dark goldenrod, off the blue-red scale)
NEUTRAL = RDBU_R[len(RDBU_R) // 2]  # the colour of "no change": the baseline's cell
RAMP = "▁▂▃▄▅▆▇█"
UNITS = {
    "z": "balanced z = z(Δmath) + z(ΔEQ), in standard deviations",
    "sum": "Δmath + ΔEQ vs baseline (scores on a 0–1 scale)",
    "math": "Δ math score vs baseline (score on a 0–1 scale)",
    "eq": "Δ EQ score vs baseline (score on a 0–1 scale)",
}


@dataclass(frozen=True, slots=True)
class Grid:
    """Cells of the (N+1)² map: value (ok cells), state per cell, colour limit, marked cells."""

    metric: str
    values: tuple[tuple[float | None, ...], ...]
    # "ok" | "baseline" | "failed" | "early-stopped" | "skipped" | "predicted" (a search did not measure
    # it; its value is the search model's) | "open" | "" (i >= j)
    states: tuple[tuple[str, ...], ...]
    limit: float
    best: tuple[int, int] | None

    @property
    def n(self) -> int:
        return len(self.values)


def build_grid(summary: ReportSummary, metric: str) -> Grid:
    """Place single-block configs on the (N+1)² map for ``metric``."""
    n = summary.n_layers + 1
    values: list[list[float | None]] = [[None] * n for _ in range(n)]
    states = [["open" if i < j else "" for j in range(n)] for i in range(n)]
    for s in summary.configs:
        if s.block is None or not (0 <= s.block[0] < n and 0 <= s.block[1] < n):
            continue
        i, j = s.block
        # The baseline is the reference every delta is taken from: neutral, never a coloured value
        # (its own z-score could otherwise make it look like the best config).
        states[i][j] = "baseline" if s.baseline else s.status
        values[i][j] = s.value(metric) if states[i][j] == "ok" else None
    predicted = summary.search.predicted.get(metric, {}) if summary.search is not None else {}
    for (i, j), v in predicted.items():
        if 0 <= i < j < n and states[i][j] == "open":
            states[i][j], values[i][j] = "predicted", v
    finite = [abs(v) for row in values for v in row if v is not None and math.isfinite(v)]
    best = summary.best.block if summary.best is not None else None
    return Grid(
        metric=metric,
        values=tuple(tuple(r) for r in values),
        states=tuple(tuple(r) for r in states),
        limit=max(finite, default=0.0) or 1e-9,
        best=best if best is not None and best[0] < n and best[1] < n else None,
    )


def faded(rgb: tuple[int, int, int], share: float = 0.5) -> tuple[int, int, int]:
    """``rgb`` mixed with white (a predicted cell's colour)."""
    r, g, b = (round(c + (255 - c) * share) for c in rgb)
    return r, g, b


def hex_rgb(color: str) -> tuple[int, int, int]:
    """(r, g, b) of ``#rrggbb``."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def diverging(v: float, limit: float) -> tuple[int, int, int]:
    """RdBu_r colour of ``v`` on the scale −limit..+limit (0 is near-white)."""
    t = min(1.0, max(0.0, (v / limit + 1) / 2)) * (len(RDBU_R) - 1)
    k = min(int(t), len(RDBU_R) - 2)
    a, b = hex_rgb(RDBU_R[k]), hex_rgb(RDBU_R[k + 1])
    r, g, bl = (round(x + (y - x) * (t - k)) for x, y in zip(a, b, strict=True))
    return r, g, bl


def format_value(v: float, metric: str) -> str:
    """A cell's value as the map prints it."""
    return f"{v:+.2f}" if metric == "z" else f"{v:+.3f}"
