"""A ranked sweep as text: the terminal table, ranking.csv, ranking.json and report.md.

Failed and skipped configs are shown as such, never as zeros. Deliberately left out: printing
(the CLI prints the strings), files (``write``) and running probes (the scan).
"""

from __future__ import annotations

import csv
import io
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..scan.sweepdir import BASELINE
from .metrics import METRIC_LABELS
from .ranking import ConfigScore, ReportSummary, ValidationRow

CSV_COLUMNS = (
    "rank", "config", "i", "j", "status", "reason", "baseline", "n_layers", "n_extra",
    "math", "eq", "d_math", "d_eq", "d_sum", "z", "math_parse_rate", "eq_parse_rate",
)  # fmt: skip


def output_name(model_path: str, config: str) -> str:
    """``<stem>-rys-45-52.gguf`` (a split model's ``-00001-of-00003`` suffix dropped)."""
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", Path(model_path).stem)
    slug = re.sub(r"[^0-9a-zA-Z]+", "-", config).strip("-")
    if len(slug) > 40:
        slug = f"custom{len(config.split(','))}"
    return f"{stem}-rys-{slug}.gguf"


def build_command(model_path: str, config: str) -> str:
    """The ``rys-gguf build`` line that makes this config."""
    out = str(Path(model_path).parent / output_name(model_path, config))
    return f'rys-gguf build {shlex.quote(model_path)} {shlex.quote(out)} --config "{config}"'


def _f(x: float | None, digits: int = 3, sign: bool = True) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _layers(s: ConfigScore) -> str:
    return "?" if s.n_layers is None else f"{s.n_layers} ({s.n_extra or 0:+d})"


def format_table(summary: ReportSummary, top: int = 10) -> str:
    """The terminal summary: baseline, the top-N table, failures, skips and the build line."""
    b = summary.baseline
    lines = [
        f"{summary.model_name} ({summary.n_layers} layers): {len(summary.ranked)} scored, "
        f"{len(summary.failed)} failed, {len(summary.skipped)} skipped; "
        f"ranked by {METRIC_LABELS[summary.metric]}",
        f"baseline {BASELINE}: math {_f(b.math, sign=False)}, eq {_f(b.eq, sign=False)}",
        f"{'rank':>4}  {'config':<12} {'layers':>9} {'Δmath':>7} {'Δeq':>7} {'Δsum':>7} {'z':>6}",
    ]
    for s in summary.ranked[:top]:
        lines.append(
            f"{s.rank:>4}  {s.config:<12} {_layers(s):>9} {_f(s.d_math):>7} {_f(s.d_eq):>7} "
            f"{_f(s.d_sum):>7} {_f(s.z, 2):>6}"
        )
    for s in summary.failed[:top]:
        lines.append(f"{'FAIL':>4}  {s.config:<12} {_layers(s):>9}  {s.reason}")
    if len(summary.failed) > top:
        lines.append(f"      ... {len(summary.failed) - top} more failed (see ranking.csv)")
    if summary.skipped:
        ex = summary.skipped[0]
        lines.append(f"skipped {len(summary.skipped)} (architecture rules or memory), e.g. {ex.config}: {ex.reason}")
    if summary.best is not None:
        lines.append("build the best: " + build_command(summary.model_path, summary.best.config))
    return "\n".join(lines)


def _row_dict(s: ConfigScore) -> dict[str, Any]:
    d = asdict(s)
    d.pop("block")
    i, j = s.block if s.block is not None else (None, None)
    return {**d, "i": i, "j": j, "d_sum": s.d_sum}


def to_csv(summary: ReportSummary) -> str:
    """Every config, one CSV line each (empty cells where a config has no score)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in summary.configs:
        writer.writerow({k: ("" if v is None else v) for k, v in _row_dict(s).items()})
    return buf.getvalue()


def to_json(summary: ReportSummary) -> dict[str, Any]:
    """Every config with its deltas and rank, plus the model and metric."""
    return {
        "format": 1,
        "model": {
            "name": summary.model_name,
            "path": summary.model_path,
            "n_layers": summary.n_layers,
        },
        "metric": summary.metric,
        "metric_label": METRIC_LABELS[summary.metric],
        "best": None if summary.best is None else summary.best.config,
        "configs": [_row_dict(s) for s in summary.configs],
        "validation": [asdict(v) for v in summary.validation],
    }


def report_markdown(summary: ReportSummary, top: int = 10, images: Sequence[str] = ()) -> str:
    """report.md: summary, heatmaps, the top-N table with build commands, failures, validation."""
    b, ranked = summary.baseline, summary.ranked[:top]
    out = [
        f"# RYS scan: {summary.model_name}\n\nModel `{summary.model_path}` ({summary.n_layers} "
        f"layers). Baseline {BASELINE}: math {_f(b.math, sign=False)}, EQ {_f(b.eq, sign=False)}. "
        f"{len(summary.ranked)} configs scored, {len(summary.failed)} failed, "
        f"{len(summary.skipped)} skipped (architecture rules or memory). "
        f"Ranked by {METRIC_LABELS[summary.metric]}.\n"
    ]
    if images:
        out.append(
            "## Heatmaps\n\nRows i (block start), columns j (block end, exclusive): block "
            "i..j-1 runs twice. Red is better than the baseline, blue worse; ○ baseline, ★ best, "
            "dark grey × failed, light grey skipped, blank not scanned.\n"
        )
        out += [f"![{Path(p).stem}]({p})\n" for p in images]
    out.append(f"## Top {len(ranked)}\n\n| rank | config | layers | Δ math | Δ EQ | Δ sum | z |")
    out.append("|---|---|---|---|---|---|---|")
    out += [
        f"| {s.rank} | `{s.config}` | {_layers(s)} | {_f(s.d_math)} | {_f(s.d_eq)} | {_f(s.d_sum)} | {_f(s.z, 2)} |"
        for s in ranked
    ]
    if ranked:
        cmds = [f"# {s.rank}. {s.config}\n{build_command(summary.model_path, s.config)}" for s in ranked]
        out.append("\nBuild them:\n\n```sh\n" + "\n".join(cmds) + "\n```")
    if summary.failed:
        out.append(f"\n## Failed ({len(summary.failed)})\n\n| config | reason |\n|---|---|")
        out += [f"| `{s.config}` | {s.reason} |" for s in summary.failed]
    if summary.skipped:
        ex, n = summary.skipped[0], len(summary.skipped)
        shown = ", ".join(f"`{s.config}`" for s in summary.skipped[:20])
        out.append(
            f"\n## Skipped ({n})\n\nNot run because of the architecture rules (e.g. `{ex.config}`: "
            f"{ex.reason}): {shown}{' ...' if n > 20 else ''} (every reason is in ranking.csv)."
        )
    if summary.validation:
        out.append("\n" + validation_markdown(summary.validation))
    out.append("\nEvery config with its scores, deltas and rank: `ranking.csv`, `ranking.json`.\n")
    return "\n".join(out)


def validation_markdown(rows: Sequence[ValidationRow]) -> str:
    """The "Validation" section: Δ with 95 % bootstrap intervals and rank change vs the search."""
    out = [
        "## Validation\n\nRe-scored on the large probe sets; 95 % paired bootstrap intervals "
        "(10,000 resamples); change = search rank − validation rank (positive: moved up).\n",
        "| rank | config | Δ math [95 % CI] | Δ EQ [95 % CI] | search rank | change |",
        "|---|---|---|---|---|---|",
    ]
    for v in rows:
        m, e, was = v.d_math, v.d_eq, v.search_rank
        change = "—" if was is None else ("=" if was == v.rank else f"{was - v.rank:+d}")
        out.append(
            f"| {v.rank} | `{v.config}` | {_f(m[0])} [{_f(m[1])}, {_f(m[2])}] | {_f(e[0])} "
            f"[{_f(e[1])}, {_f(e[2])}] | {'—' if was is None else was} | {change} |"
        )
    return "\n".join(out)
