"""Heatmaps of a sweep: PNG files (matplotlib, Agg, imported lazily) and a terminal map.

The map is the original's: a square of side N+1, row i = start of the repeated block, column j =
its end (exclusive), a diverging RdBu_r scale centred on 0 with symmetric limits ±max|value| (red
better than the baseline, blue worse). Only single-block configs have a cell. Failed cells are
dark grey with an x, skipped ones light grey, cells not in the sweep blank; none is drawn as 0.
The baseline (0,0) and the best config are marked. Deliberately left out: ranking (ranking.py)
and printing (the CLI prints the strings built here).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .ranking import METRIC_LABELS, ReportSummary

# ColorBrewer RdBu anchors, reversed (matplotlib's RdBu_r): blue = worse, red = better.
RDBU_R = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)  # fmt: skip
FAILED, SKIPPED, BEST = "#4d4d4d", "#bdbdbd", "#39ff14"
RAMP = "▁▂▃▄▅▆▇█"
UNITS = {
    "z": "balanced z = z(Δmath) + z(ΔEQ), in standard deviations",
    "sum": "Δmath + ΔEQ vs baseline (scores on a 0–1 scale)",
    "math": "Δ math score vs baseline (score on a 0–1 scale)",
    "eq": "Δ EQ score vs baseline (score on a 0–1 scale)",
}
RESET = "\x1b[0m"


@dataclass(frozen=True, slots=True)
class Grid:
    """Cells of the (N+1)² map: value (ok cells), state per cell, colour limit, marked cells."""

    metric: str
    values: tuple[tuple[float | None, ...], ...]
    states: tuple[tuple[str, ...], ...]  # "ok" | "failed" | "skipped" | "open" | "" (i >= j)
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
        states[i][j] = s.status if not s.baseline else "ok"
        values[i][j] = s.value(metric) if states[i][j] == "ok" else None
    finite = [abs(v) for row in values for v in row if v is not None and math.isfinite(v)]
    best = summary.best.block if summary.best is not None else None
    return Grid(
        metric=metric,
        values=tuple(tuple(r) for r in values),
        states=tuple(tuple(r) for r in states),
        limit=max(finite, default=0.0) or 1e-9,
        best=best if best is not None and best[0] < n and best[1] < n else None,
    )


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def diverging(v: float, limit: float) -> tuple[int, int, int]:
    """RdBu_r colour of ``v`` on the scale −limit..+limit (0 is near-white)."""
    t = min(1.0, max(0.0, (v / limit + 1) / 2)) * (len(RDBU_R) - 1)
    k = min(int(t), len(RDBU_R) - 2)
    a, b = _hex(RDBU_R[k]), _hex(RDBU_R[k + 1])
    r, g, bl = (round(x + (y - x) * (t - k)) for x, y in zip(a, b, strict=True))
    return r, g, bl


def _fmt(v: float, metric: str) -> str:
    return f"{v:+.2f}" if metric == "z" else f"{v:+.3f}"


# ---------------------------------------------------------------- terminal


def color_mode(stream: TextIO | None = None) -> str:
    """ "truecolor", "256" or "none" (NO_COLOR set, TERM=dumb, or not a terminal)."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb" or not stream.isatty():
        return "none"
    return "truecolor" if os.environ.get("COLORTERM") in ("truecolor", "24bit") else "256"


def _xterm256(rgb: tuple[int, int, int]) -> int:
    levels = (0, 95, 135, 175, 215, 255)
    idx = [min(range(6), key=lambda k: abs(levels[k] - c)) for c in rgb]
    cube = tuple(levels[k] for k in idx)
    grey = min(23, max(0, round((sum(rgb) / 3 - 8) / 10)))
    grey_rgb = (8 + 10 * grey,) * 3

    def dist(c: tuple[int, ...]) -> int:
        return sum((x - y) ** 2 for x, y in zip(c, rgb, strict=True))

    if dist(grey_rgb) < dist(cube):
        return 232 + grey
    return 16 + 36 * idx[0] + 6 * idx[1] + idx[2]


def _sgr(rgb: tuple[int, int, int], mode: str, bg: bool) -> str:
    layer = 48 if bg else 38
    if mode == "truecolor":
        return f"\x1b[{layer};2;{rgb[0]};{rgb[1]};{rgb[2]}m"
    return f"\x1b[{layer};5;{_xterm256(rgb)}m"


def _cell_rgb(grid: Grid, i: int, j: int) -> tuple[int, int, int] | None:
    state, v = grid.states[i][j], grid.values[i][j]
    if state == "ok" and v is not None:
        return diverging(v, grid.limit)
    return {"failed": _hex(FAILED), "skipped": _hex(SKIPPED)}.get(state)


def _glyph(grid: Grid, i: int, j: int, width: int, mode: str) -> str:
    """One cell, ``width`` characters wide (colour background or a no-colour ramp)."""
    state, v = grid.states[i][j], grid.values[i][j]
    mark = "()" if (i, j) == (0, 0) else "**" if (i, j) == grid.best else ""
    if mode == "none":
        if mark:
            text = mark
        elif state == "ok" and v is not None:
            level = round((v / grid.limit + 1) / 2 * (len(RAMP) - 1))
            text = RAMP[min(len(RAMP) - 1, max(0, level))] * 2
        else:
            text = {"failed": "x ", "skipped": "░░", "open": ". "}.get(state, "  ")
        return text[:width]
    rgb = _cell_rgb(grid, i, j)
    text = (mark or (" x" if state == "failed" else ". " if state == "open" else "  "))[:width]
    if rgb is None:
        return f"\x1b[2m{text}{RESET}" if text.strip() else text
    ink = (255, 255, 255) if state == "failed" or sum(rgb) < 300 else (0, 0, 0)
    return f"{_sgr(rgb, mode, True)}{_sgr(ink, mode, False)}{text}{RESET}"


def _halfblock_row(grid: Grid, i: int, mode: str) -> str:
    """Rows i and i+1 in one line: upper half = row i (foreground), lower = row i+1."""

    def rgb(i: int, j: int) -> tuple[int, int, int] | None:
        return _hex(BEST) if (i, j) == grid.best else _cell_rgb(grid, i, j)

    out = []
    for j in range(grid.n):
        top = rgb(i, j)
        bottom = rgb(i + 1, j) if i + 1 < grid.n else None
        if top is None and bottom is None:
            out.append(" ")
        elif bottom is None:
            out.append(f"{_sgr(top, mode, False)}▀{RESET}" if top else " ")
        elif top is None:
            out.append(f"{_sgr(bottom, mode, False)}▄{RESET}")
        else:
            out.append(f"{_sgr(top, mode, False)}{_sgr(bottom, mode, True)}▀{RESET}")
    return "".join(out)


def terminal_heatmap(summary: ReportSummary, metric: str, color: str | None = None) -> str:
    """The map as text: coloured cells (24-bit or 256 colours) or a ▁..█ ramp, with a legend.

    ``color`` is "truecolor", "256" or "none"; None picks from the environment (color_mode()).
    Up to 40 rows the cells are two characters wide; larger maps pack two rows per line in
    colour (half blocks) or use one character per cell without colour.
    """
    grid = build_grid(summary, metric)
    mode = color_mode() if color is None else color
    n, label = grid.n, METRIC_LABELS[metric]
    width = 2 if n <= 40 else 1
    step = 2 if n <= 12 else 5 if n <= 60 else 10
    head = "".join((f"{j:<{step * width}}" if j % step == 0 else "") for j in range(n))
    lines = [
        f"{summary.model_name}: {label}",
        "rows i = block start, columns j = block end (exclusive): block i..j-1 runs twice",
        f"  i\\j {head}",
    ]
    if mode != "none" and width == 1:
        for i in range(0, n, 2):
            lines.append(f"{i:>4} {_halfblock_row(grid, i, mode)}")
    else:
        for i in range(n):
            cells = "".join(_glyph(grid, i, j, width, mode) for j in range(n))
            lines.append(f"{i:>4} {cells}")
    lines += _legend(summary, grid, mode)
    return "\n".join(lines)


def _legend(summary: ReportSummary, grid: Grid, mode: str) -> list[str]:
    lo, hi = _fmt(-grid.limit, grid.metric), _fmt(grid.limit, grid.metric)
    if mode == "none":
        scale = RAMP
    else:
        steps = [(-1 + 2 * k / 20) * grid.limit for k in range(21)]
        scale = "".join(f"{_sgr(diverging(v, grid.limit), mode, True)} " for v in steps) + RESET
    packed = mode != "none" and grid.n > 40  # half blocks: colours only, no glyphs
    marks = ["top-left corner: baseline 0,0" if packed else "() baseline 0,0"]
    best = summary.best
    if best is not None:
        where = "" if grid.best is not None else " (not on the map)"
        value = _fmt(best.value(grid.metric) or 0.0, grid.metric)
        marks.append(f"{'lime' if packed else '**'} best by {summary.metric}: {best.config} ({value}){where}")
    failed, skipped, states = len(summary.failed), len(summary.skipped), list[str]()
    if packed:
        states += [f"dark grey failed ({failed})", f"light grey skipped ({skipped})"]
    else:
        states += [
            f"x failed ({failed})",
            f"{'░░' if mode == 'none' else 'grey'} skipped ({skipped})",
        ]
    states.append("blank: not scanned" if packed else ". not scanned")
    return [f"{lo} {scale} {hi}  (worse ← → better)", "   ".join(marks), "   ".join(states)]


# ---------------------------------------------------------------- PNG


def matplotlib_available() -> bool:
    """Whether the optional matplotlib dependency is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def write_heatmaps(summary: ReportSummary, directory: Path) -> list[Path]:
    """heatmap_math.png, heatmap_eq.png, heatmap_combined.png (z, or Δsum when ranked by sum)."""
    combined = "sum" if summary.metric == "sum" else "z"
    out = []
    for name, metric in (("math", "math"), ("eq", "eq"), ("combined", combined)):
        path = Path(directory) / f"heatmap_{name}.png"
        draw_png(summary, metric, path)
        out.append(path)
    return out


def draw_png(summary: ReportSummary, metric: str, path: Path) -> None:
    """Draw one heatmap PNG (Agg canvas, no pyplot state)."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, to_rgba
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    grid = build_grid(summary, metric)
    n, label = grid.n, METRIC_LABELS[metric]
    cmap, norm = colormaps["RdBu_r"], Normalize(-grid.limit, grid.limit)
    img = np.ones((n, n, 4))
    for i in range(n):
        for j in range(n):
            state, v = grid.states[i][j], grid.values[i][j]
            if state == "ok" and v is not None:
                img[i, j] = cmap(norm(v))
            elif state in ("failed", "skipped"):
                img[i, j] = to_rgba(FAILED if state == "failed" else SKIPPED)
    # Fixed layout in inches around a square map (constrained layout costs more than drawing).
    side, left, right, bottom, top = min(10.0, max(5.5, 0.3 * n + 2.5)), 0.8, 1.5, 1.15, 0.65
    width, height = left + side + right, bottom + side + top
    fig = Figure(figsize=(width, height), dpi=110)
    ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
    ax.imshow(img, origin="upper", interpolation="nearest")
    cell_pt = 72 * side / n
    mark_pt = max(9.0, cell_pt * 0.65)  # markers stay visible on an 80-layer map
    for state, size, mark, ink in (("open", 0.15, ".", "#bbbbbb"), ("failed", 0.55, "x", "white")):
        cells = [(j, i) for i in range(n) for j in range(n) if grid.states[i][j] == state]
        if cells:
            xs, ys = [c[0] for c in cells], [c[1] for c in cells]
            line = 0 if mark == "." else max(0.6, cell_pt / 14)
            ax.scatter(xs, ys, s=(cell_pt * size) ** 2, c=ink, marker=mark, linewidths=line)
    if n <= 20:  # small maps carry their numbers
        size = min(8.0, cell_pt * 0.22)
        for i in range(n):
            for j in range(n):
                v = grid.values[i][j]
                if v is not None and (i, j) != grid.best:
                    text = _fmt(v, metric) if n <= 12 else _fmt(v, metric).replace("0.", ".")
                    ink = "white" if abs(norm(v) - 0.5) > 0.3 else "#222222"
                    ax.text(j, i, text, ha="center", va="center", fontsize=size, color=ink)
    ax.plot([0], [0], "o", ms=mark_pt * 1.1, mfc="none", mec="black", mew=1.6)
    handles: list[Any] = [Line2D([], [], ls="", marker="o", mfc="none", mec="black", mew=1.6, label="baseline (0,0)")]
    best = summary.best
    if grid.best is not None and best is not None:
        ax.plot([grid.best[1]], [grid.best[0]], "*", ms=mark_pt, mfc=BEST, mec="black", mew=0.8)
        value = _fmt(best.value(metric) or 0.0, metric)
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="*",
                ms=10,
                mfc=BEST,
                mec="black",
                label=f"best by {summary.metric}: {best.config} ({value})",
            )
        )
    handles += [
        Patch(facecolor=FAILED, label=f"failed ({len(summary.failed)})"),
        Patch(facecolor=SKIPPED, label=f"skipped by architecture rules ({len(summary.skipped)})"),
        Line2D([], [], ls="", marker=".", color="#bbbbbb", label="not scanned"),
    ]
    step = 1 if n <= 26 else 2 if n <= 50 else 4 if n <= 100 else 8
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=8 if n <= 40 else 7)
    ax.set_xlabel("j = end of the repeated block (exclusive)")
    ax.set_ylabel("i = start of the repeated block")
    ax.set_title(
        f"{summary.model_name}: {label}\nblock i..j-1 runs twice; "
        f"{summary.n_layers} layers, {len(summary.ranked)} configs scored",
        fontsize=11,
    )
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    cax = fig.add_axes(((left + side + 0.25) / width, (bottom + 0.1 * side) / height,
                        0.2 / width, 0.8 * side / height))  # fmt: skip
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, label=UNITS[metric])
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=((left + side / 2) / width, 0.0),
        ncol=3,
        frameon=False,
        fontsize=8,
    )
    fig.savefig(path)
