"""The heatmaps and the Pareto plot as PNG files (matplotlib's Agg canvas, imported only when drawing).

A title holds the model's name from its file: escaped like terminal text, and with ``$``
escaped, since matplotlib reads text between two ``$`` as mathtext (which can fail to parse).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..files import write_atomic
from ..sweepfolder.metric import METRIC_LABELS
from ..untrusted import safe_line
from .cells import BEST, EARLY, FAILED, NEUTRAL, SKIPPED, UNITS, build_grid, format_value
from .pareto import FrontierPoint
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


def plain_text(value: object, limit: int = 120) -> str:
    """Text from a file as matplotlib shows it literally: one line, escaped, no mathtext."""
    return safe_line(value, limit).replace("$", r"\$")


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
            elif state == "predicted" and v is not None:  # the search's model, not a measurement: faded
                img[i, j] = 0.5 + 0.5 * np.asarray(cmap(norm(v)))
            elif state in ("failed", "skipped", "early-stopped"):
                img[i, j] = to_rgba({"failed": FAILED, "skipped": SKIPPED, "early-stopped": EARLY}[state])
            elif state == "baseline":
                img[i, j] = to_rgba(NEUTRAL)
    # Fixed layout in inches around a square map (constrained layout costs more than drawing).
    side, left, right, bottom, top = min(10.0, max(5.5, 0.3 * n + 2.5)), 0.8, 1.5, 1.15, 0.65
    width, height = left + side + right, bottom + side + top
    fig = Figure(figsize=(width, height), dpi=110)
    ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
    ax.imshow(img, origin="upper", interpolation="nearest")
    cell_pt = 72 * side / n
    mark_pt = max(9.0, cell_pt * 0.65)  # markers stay visible on an 80-layer map
    marks = (
        ("open", 0.15, ".", "#bbbbbb"), ("failed", 0.55, "x", "white"), ("early-stopped", 0.55, "_", "white"),
        ("predicted", 0.1, "o", "#777777"),
    )  # fmt: skip
    for state, size, mark, ink in marks:
        cells = [(j, i) for i in range(n) for j in range(n) if grid.states[i][j] == state]
        if cells:
            xs, ys = [c[0] for c in cells], [c[1] for c in cells]
            line = 0 if mark in (".", "o") else max(0.6, cell_pt / 14)
            ax.scatter(xs, ys, s=(cell_pt * size) ** 2, c=ink, marker=mark, linewidths=line)
    if n <= 20:  # small maps carry their numbers
        size = min(8.0, cell_pt * 0.22)
        for i in range(n):
            for j in range(n):
                v = grid.values[i][j]
                if v is not None and (i, j) != grid.best and grid.states[i][j] == "ok":
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
                label=f"best by {summary.metric}: {plain_text(best.config)} ({value})",
            )
        )
    handles += [
        Patch(facecolor=FAILED, label=f"failed ({len(summary.failed)})"),
        Patch(facecolor=EARLY, label=f"early-stopped ({len(summary.early_stopped)})"),
        Patch(facecolor=SKIPPED, label=f"skipped: architecture rules or memory ({len(summary.skipped)})"),
        Line2D([], [], ls="", marker=".", color="#bbbbbb", label="not scanned"),
    ]
    if summary.search is not None:
        n_predicted = sum(row.count("predicted") for row in grid.states)
        predicted = f"predicted by the search, not measured ({n_predicted})"
        handles.append(Line2D([], [], ls="", marker="o", ms=3, color="#777777", label=predicted))
    step = 1 if n <= 26 else 2 if n <= 50 else 4 if n <= 100 else 8
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=8 if n <= 40 else 7)
    ax.set_xlabel("j = end of the repeated block (exclusive)")
    ax.set_ylabel("i = start of the repeated block")
    ax.set_title(
        f"{plain_text(summary.model_name)}: {label}\nblock i..j-1 runs twice; "
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


def draw_pareto(summary: ReportSummary, front: Sequence[FrontierPoint], path: Path) -> Path:
    """pareto.png: every scored config's gain against its added layers, the frontier as a step line."""
    from matplotlib.figure import Figure

    base = summary.baseline.value(summary.metric) or 0.0
    points = [
        (s.n_extra, v - base)
        for s in summary.ranked
        if (v := s.value(summary.metric)) is not None and s.n_extra is not None
    ]
    fig = Figure(figsize=(8.0, 5.0), dpi=110)
    ax = fig.add_axes((0.1, 0.12, 0.86, 0.78))
    if points:
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=12, c="#9ecae1", label="configs")
    ax.step([p.n_extra for p in front], [p.gain for p in front], where="post", color="#b2182b", lw=1.6)
    ax.scatter([p.n_extra for p in front], [p.gain for p in front], s=28, c="#b2182b", zorder=3, label="frontier")
    for p in front[1:]:
        ax.annotate(
            plain_text(p.config, 40), (p.n_extra, p.gain), textcoords="offset points", xytext=(4, 4), fontsize=8
        )
    ax.axhline(0.0, color="#888888", lw=0.8)
    ax.set_xlabel("added layers (each one is a real copy: file size, VRAM, KV cache)")
    ax.set_ylabel(f"gain: {METRIC_LABELS[summary.metric]} minus the baseline's")
    ax.set_title(
        f"{plain_text(summary.model_name)}: gain against added layers ({len(front) - 1} configs on the frontier)"
    )
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue(), "free some disk space, then rerun `rys-gguf report`")
    return path
