"""The heatmap in a terminal: 24-bit or 256 colours, or a ▁..█ ramp without colour.

Up to 40 rows the cells are two characters wide; larger maps pack two rows per line in colour
(half blocks) or use one character per cell without colour. NO_COLOR and TERM=dumb are honoured.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..sweepfolder.metric import METRIC_LABELS
from ..untrusted import safe_line
from .cells import (
    BEST,
    EARLY,
    FAILED,
    NEUTRAL,
    RAMP,
    SKIPPED,
    Grid,
    build_grid,
    diverging,
    faded,
    format_value,
    hex_rgb,
)
from .ranking import ReportSummary

RESET = "\x1b[0m"


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
    if state == "predicted" and v is not None:
        return faded(diverging(v, grid.limit))
    colours = {"failed": FAILED, "early-stopped": EARLY, "skipped": SKIPPED, "baseline": NEUTRAL}
    return hex_rgb(colours[state]) if state in colours else None


def _glyph(grid: Grid, i: int, j: int, width: int, mode: str) -> str:
    """One cell, ``width`` characters wide (colour background or a no-colour ramp)."""
    state, v = grid.states[i][j], grid.values[i][j]
    mark = "()" if (i, j) == (0, 0) else "**" if (i, j) == grid.best else ""
    if mode == "none":
        if mark:
            text = mark
        elif state in ("ok", "predicted") and v is not None:
            level = round((v / grid.limit + 1) / 2 * (len(RAMP) - 1))
            ramp = RAMP[min(len(RAMP) - 1, max(0, level))]
            text = ramp * 2 if state == "ok" else ramp + "·"  # a predicted cell: half a bar and a dot
        else:
            text = {"failed": "x ", "early-stopped": "~ ", "skipped": "░░", "open": ". "}.get(state, "  ")
        return text[:width]
    rgb = _cell_rgb(grid, i, j)
    glyphs = {"failed": " x", "early-stopped": " ~", "open": ". ", "predicted": " ·"}
    text = (mark or glyphs.get(state, "  "))[:width]
    if rgb is None:
        return f"\x1b[2m{text}{RESET}" if text.strip() else text
    ink = (255, 255, 255) if state in ("failed", "early-stopped") or sum(rgb) < 300 else (0, 0, 0)
    return f"{_sgr(rgb, mode, True)}{_sgr(ink, mode, False)}{text}{RESET}"


def _halfblock_row(grid: Grid, i: int, mode: str) -> str:
    """Rows i and i+1 in one line: upper half = row i (foreground), lower = row i+1."""

    def rgb(i: int, j: int) -> tuple[int, int, int] | None:
        return hex_rgb(BEST) if (i, j) == grid.best else _cell_rgb(grid, i, j)

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
        f"{safe_line(summary.model_name)}: {label}",  # from the model file: escaped
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
    lo, hi = format_value(-grid.limit, grid.metric), format_value(grid.limit, grid.metric)
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
        value = format_value(best.value(grid.metric) or 0.0, grid.metric)
        marks.append(
            f"{'lime' if packed else '**'} best by {summary.metric}: {safe_line(best.config)} ({value}){where}"
        )
    failed, skipped, states = len(summary.failed), len(summary.skipped), list[str]()
    early = len(summary.early_stopped)
    if packed:
        states += [f"dark grey failed ({failed})", f"goldenrod early-stopped ({early})"]
        states.append(f"light grey skipped ({skipped})")
    else:
        states += [
            f"x failed ({failed})",
            f"~ early-stopped ({early})",
            f"{'░░' if mode == 'none' else 'grey'} skipped ({skipped})",
        ]
    if summary.search is not None:
        n_predicted = sum(row.count("predicted") for row in grid.states)
        shown = "faded" if packed else "▅·" if mode == "none" else "faded ·"
        states.append(f"{shown} predicted by the {summary.search.strategy} search's model ({n_predicted} cells)")
    states.append("blank: not scanned" if packed else ". not scanned")
    return [f"{lo} {scale} {hi}  (worse ← → better)", "   ".join(marks), "   ".join(states)]
