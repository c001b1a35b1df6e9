"""A ranked sweep as text: the terminal table, ranking.csv, ranking.json and report.md.

Failed and skipped configs are shown as such, never as zeros. The model's name and path, the
configs and the failure reasons come from the sweep folder (and so from the model file and the
workers): each is escaped for its place (``untrusted``): the terminal, Markdown, CSV.
Deliberately left out: printing (the CLI prints the strings), files (``write``) and running
probes (the scan).
"""

from __future__ import annotations

import csv
import io
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..sweepfolder.metric import METRIC_LABELS
from ..sweepfolder.records import BASELINE
from ..untrusted import safe_code, safe_csv, safe_line, safe_markdown
from .pareto import pareto_front
from .ranking import ConfigScore, ReportSummary, ValidationRow, interval_verdict
from .sections import early_stopped_markdown, layer_map_comment, pareto_markdown, search_markdown

_PLAIN_CONFIG_RE = re.compile(r"[0-9,;:a-z ]+")  # the config grammar: safe between double quotes
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
    """The ``rys-gguf build`` line that makes this config, quoted for a POSIX shell, on one line.

    Both values come from the sweep folder: a config outside the plan grammar is shell-quoted,
    and hidden characters are escaped, so pasting the line runs nothing but rys-gguf.
    """
    out = str(Path(model_path).parent / output_name(model_path, config))
    quoted = f'"{config}"' if _PLAIN_CONFIG_RE.fullmatch(config) else shlex.quote(config)
    return safe_line(f"rys-gguf build {shlex.quote(model_path)} {shlex.quote(out)} --config {quoted}", None)


def _f(x: float | None, digits: int = 3, sign: bool = True) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _interval(d: Sequence[float]) -> str:
    """A (mean, low, high) difference as "+0.012 [-0.010, +0.034]"."""
    return f"{_f(d[0])} [{_f(d[1])}, {_f(d[2])}]"


def _layers(s: ConfigScore) -> str:
    return "?" if s.n_layers is None else f"{s.n_layers} ({s.n_extra or 0:+d})"


def format_table(summary: ReportSummary, top: int = 10) -> str:
    """The terminal summary: baseline, the top-N table, failures, skips and the build line."""
    b = summary.baseline
    lines = [
        f"{safe_line(summary.model_name)} ({summary.n_layers} layers): {len(summary.ranked)} scored, "
        f"{len(summary.failed)} failed, {len(summary.skipped)} skipped; "
        f"ranked by {METRIC_LABELS[summary.metric]}",
        f"baseline {BASELINE}: math {_f(b.math, sign=False)}, eq {_f(b.eq, sign=False)}",
        f"{'rank':>4}  {'config':<12} {'layers':>9} {'Δmath':>7} {'Δeq':>7} {'Δsum':>7} {'z':>6}",
    ]
    for s in summary.ranked[:top]:
        lines.append(
            f"{s.rank:>4}  {safe_line(s.config):<12} {_layers(s):>9} {_f(s.d_math):>7} {_f(s.d_eq):>7} "
            f"{_f(s.d_sum):>7} {_f(s.z, 2):>6}"
        )
    for s in summary.failed[:top]:
        lines.append(f"{'FAIL':>4}  {safe_line(s.config):<12} {_layers(s):>9}  {safe_line(s.reason)}")
    if len(summary.failed) > top:
        lines.append(f"      ... {len(summary.failed) - top} more failed (see ranking.csv)")
    if summary.early_stopped:
        ex = summary.early_stopped[0]
        lines.append(
            f"early-stopped {len(summary.early_stopped)} (garbage from their first answers, not scored), "
            f"e.g. {safe_line(ex.config)}: {safe_line(ex.reason)}"
        )
    if summary.skipped:
        ex = summary.skipped[0]
        lines.append(
            f"skipped {len(summary.skipped)} (architecture rules or memory), e.g. {safe_line(ex.config)}: "
            f"{safe_line(ex.reason)}"
        )
    if summary.search is not None and summary.search.picks:
        config, estimate = summary.search.picks[0]
        lines.append(f"{summary.search.label}; its pick by its estimate: {safe_line(config)} ({estimate:+.2f})")
        lines.append("build the pick: " + build_command(summary.model_path, config))
    elif summary.best is not None:
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
        writer.writerow({k: ("" if v is None else safe_csv(v)) for k, v in _row_dict(s).items()})
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
        "shortlist": summary.shortlist(),
        "configs": [_row_dict(s) for s in summary.configs],
        "validation": [{**asdict(v), "verdict": v.verdict} for v in summary.validation],
    }


def report_markdown(
    summary: ReportSummary, top: int = 10, images: Sequence[str] = (), pareto_image: str | None = None
) -> str:
    """report.md: summary, heatmaps, the top-N table with build commands and layer lists, the search's
    picks, the Pareto frontier, failures, early stops, validation."""
    b, ranked = summary.baseline, summary.ranked[:top]
    out = [
        f"# RYS scan: {safe_markdown(summary.model_name)}\n\nModel {safe_code(summary.model_path)} ({summary.n_layers} "
        f"layers). Baseline {BASELINE}: math {_f(b.math, sign=False)}, EQ {_f(b.eq, sign=False)}. "
        f"{len(summary.ranked)} configs scored, {len(summary.failed)} failed, "
        f"{len(summary.early_stopped)} early-stopped, {len(summary.skipped)} skipped (architecture rules or memory). "
        f"Ranked by {METRIC_LABELS[summary.metric]}.\n"
    ]
    if images:
        out.append(
            "## Heatmaps\n\nRows i (block start), columns j (block end, exclusive): block "
            "i..j-1 runs twice. Red is better than the baseline, blue worse; ○ baseline, ★ best, "
            "dark grey × failed, goldenrod – early-stopped, light grey skipped, blank not scanned"
            + ("; faded with a dot: predicted by the search's model, not measured" if summary.search else "")
            + ".\n"
        )
        out += [f"![{Path(p).stem}]({p})\n" for p in images if Path(p).stem != "pareto"]
    out.append(f"## Top {len(ranked)}\n\n| rank | config | layers | Δ math | Δ EQ | Δ sum | z |")
    out.append("|---|---|---|---|---|---|---|")
    out += [
        f"| {s.rank} | {safe_code(s.config)} | {_layers(s)} | {_f(s.d_math)} | {_f(s.d_eq)} | {_f(s.d_sum)} | "
        f"{_f(s.z, 2)} |"
        for s in ranked
    ]
    if ranked:
        # One line each (build_command escapes newlines), so nothing can close the fence.
        cmds = [
            "\n".join(
                line
                for line in (
                    f"# {s.rank}. {safe_line(s.config)}",
                    build_command(summary.model_path, s.config),
                    layer_map_comment(s.config, summary.n_layers),  # empty for a config outside the grammar
                )
                if line
            )
            for s in ranked
        ]
        out.append(
            "\nBuild them (the `layer_map` line is the same model for runtimes that repeat layers "
            "without copying them, such as exllamav3):\n\n```sh\n" + "\n".join(cmds) + "\n```"
        )
    if summary.search is not None:
        out.append("\n" + search_markdown(summary, top))
    out.append(
        "\n" + pareto_markdown(pareto_front(summary.baseline, summary.ranked, summary.metric), summary, pareto_image)
    )
    if summary.failed:
        out.append(f"\n## Failed ({len(summary.failed)})\n\n| config | reason |\n|---|---|")
        out += [f"| {safe_code(s.config)} | {safe_markdown(s.reason)} |" for s in summary.failed]
    if summary.early_stopped:
        out.append("\n" + early_stopped_markdown(summary))
    if summary.skipped:
        ex, n = summary.skipped[0], len(summary.skipped)
        shown = ", ".join(safe_code(s.config) for s in summary.skipped[:20])
        out.append(
            f"\n## Skipped ({n})\n\nNot run because of the architecture rules or the memory budget "
            f"(e.g. {safe_code(ex.config)}: "
            f"{safe_markdown(ex.reason)}): {shown}{' ...' if n > 20 else ''} (every reason is in ranking.csv)."
        )
    if summary.validation:
        out.append("\n" + validation_markdown(summary.validation))
    out.append("\nEvery config with its scores, deltas and rank: `ranking.csv`, `ranking.json`.\n")
    return "\n".join(out)


def format_validation(summary: ReportSummary) -> str:
    """The terminal view of a validation: each re-scored config's Δ with 95 % intervals, its verdict,
    and the build line of the best config whose verdict is "better" (or why there is none)."""
    lines = [
        f"validation of {safe_line(summary.model_name)}: Δ vs the baseline on the validation sets, 95 % intervals",
        f"{'rank':>4}  {'config':<12} {'Δmath [95 % CI]':<25} {'Δeq [95 % CI]':<25} {'verdict':<16} search rank",
    ]
    for v in summary.validation:
        m, e = _interval(v.d_math), _interval(v.d_eq)
        was = "—" if v.search_rank is None else v.search_rank
        lines.append(f"{v.rank:>4}  {safe_line(v.config):<12} {m:<25} {e:<25} {v.verdict:<16} {was}")
    better = [v for v in summary.validation if v.verdict == "better"]
    if better:
        lines.append("build the best validated: " + build_command(summary.model_path, better[0].config))
    else:
        lines.append("no config is clearly better than the baseline: every gain is within the noise or mixed")
    return "\n".join(lines)


def validation_markdown(rows: Sequence[ValidationRow]) -> str:
    """The "Validation" section: Δ with 95 % bootstrap intervals and rank change vs the search."""
    out = [
        "## Validation\n\nRe-scored on the large probe sets; 95 % paired bootstrap intervals "
        "(10,000 resamples); search rank = place on the sweep's shortlist (a search's picks by its own estimate, "
        "else the probes' ranking); change = search rank − validation rank (positive: moved up). Verdict: better "
        "when an interval lies above 0 and none below; an interval that holds 0 is noise, not a gain.\n",
        "| rank | config | Δ math [95 % CI] | Δ EQ [95 % CI] | verdict | search rank | change |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in rows:
        m, e, was = v.d_math, v.d_eq, v.search_rank
        change = "—" if was is None else ("=" if was == v.rank else f"{was - v.rank:+d}")
        out.append(
            f"| {v.rank} | {safe_code(v.config)} | {_interval(m)} | {_interval(e)} | {v.verdict} "
            f"| {'—' if was is None else was} | {change} |"
        )
    return "\n".join(out)


def eval_markdown(data: Mapping[str, Any]) -> str:
    """The "Real benchmarks" section from eval.json: each model's score per task and each RYS
    model's paired difference from the source, with its 95 % interval and a verdict."""
    models = [m["label"] for m in data["models"]]
    limit = f", at most {data['limit']} items per task" if data.get("limit") else ""
    out = [
        "## Real benchmarks (lm-evaluation-harness)\n\n"
        f"Source {safe_code(data['source'])}{limit}. Δ = RYS − source over the same items, 95 % paired bootstrap "
        "interval (10,000 resamples); an interval that contains 0 is noise, not a gain.\n",
        "| task | metric | items | source | " + " | ".join(f"{safe_code(m)} | Δ [95 % CI]" for m in models) + " |",
        "|---|---|---|---|" + "---|---|" * len(models),
    ]
    for t in data["tasks"]:
        cells = []
        higher = t.get("higher_is_better", True) is not False
        for m in models:
            d = (t["diff"][m]["mean"], t["diff"][m]["low"], t["diff"][m]["high"])
            gain = d if higher else (-d[0], -d[2], -d[1])  # "better" is lower for a perplexity
            cells += [_f(t["scores"][m], sign=False), f"{_interval(d)} {interval_verdict(gain)}"]
        metric = t["metric"] + (f" ({t['filter']})" if t.get("filter") not in (None, "none") else "")
        metric += "" if higher else ", lower is better"
        head = [safe_markdown(t["task"]), safe_markdown(metric), str(t["n_items"])]
        out.append("| " + " | ".join([*head, _f(t["scores"]["source"], sign=False), *cells]) + " |")
    return "\n".join(out)
