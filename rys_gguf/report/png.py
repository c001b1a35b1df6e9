"""The heatmap as PNG files (matplotlib's Agg canvas, imported only when drawing)."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

from ..files import write_atomic
from .cells import BEST, FAILED, SKIPPED, UNITS, build_grid, format_value
from .metrics import METRIC_LABELS
from .ranking import ReportSummary


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
                    text = format_value(v, metric) if n <= 12 else format_value(v, metric).replace("0.", ".")
                    ink = "white" if abs(norm(v) - 0.5) > 0.3 else "#222222"
                    ax.text(j, i, text, ha="center", va="center", fontsize=size, color=ink)
    ax.plot([0], [0], "o", ms=mark_pt * 1.1, mfc="none", mec="black", mew=1.6)
    handles: list[Any] = [Line2D([], [], ls="", marker="o", mfc="none", mec="black", mew=1.6, label="baseline (0,0)")]
    best = summary.best
    if grid.best is not None and best is not None:
        ax.plot([grid.best[1]], [grid.best[0]], "*", ms=mark_pt, mfc=BEST, mec="black", mew=0.8)
        value = format_value(best.value(metric) or 0.0, metric)
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
        Patch(facecolor=SKIPPED, label=f"skipped: architecture rules or memory ({len(summary.skipped)})"),
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue(), "free some disk space, then rerun `rys-gguf report`")
