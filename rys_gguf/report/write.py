"""Write a sweep's report into its folder: ranking.csv, ranking.json, report.md, heatmap PNGs and
the Pareto plot.

``write_report(DIR)`` reads the sweep folder, ranks it (``ranking``), adds a search's side when a
search chose the configs (``searchview``), draws the PNGs (``png``, only when matplotlib is
installed) and writes the files (``tables`` makes their text).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ProbeError, ScanError
from ..events import Note, OnEvent, Progress, emit
from ..files import write_atomic
from ..sweepfolder.records import VALIDATION_FILE, n_layers_of, read_rows, read_skipped, read_sweep
from ..untrusted import safe_json
from .pareto import pareto_front
from .ranking import ReportSummary, summarize, validate
from .searchview import search_view
from .tables import eval_markdown, report_markdown, to_csv, to_json

EVAL_FILE = "eval.json"  # rys-gguf eval's results in a sweep folder

REPORT_FILES = ("ranking.csv", "ranking.json", "report.md")
PARETO_FILE = "pareto.png"
FIX = "free some disk space, then rerun `rys-gguf report`"


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The ranking ``metric`` (``sweepfolder.metric.METRICS``), the configs report.md lists
    (``top``), and whether to draw PNGs (``png``: needs matplotlib)."""

    metric: str = "z"
    top: int = 10
    png: bool = True


def write_report(
    directory: str | os.PathLike[str],
    options: ReportOptions = ReportOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> ReportSummary:
    """Rank the sweep in ``directory`` and write ranking.csv/json, report.md and the heatmap PNGs.

    What was read with a problem (a truncated last line, a bad search.json) is in the summary's
    ``warnings`` and comes as a warning `Note` each. Nothing here counts ``progress``.
    """
    metric, top, png = options.metric, options.top, options.png
    directory, warnings = Path(directory), list[str]()
    meta, rows = read_sweep(directory, warnings)
    try:
        summary = summarize(meta, rows, read_skipped(directory), metric, directory)
    except ScanError as e:  # e.g. the baseline's row was skipped: say which lines were
        raise ScanError("; ".join([str(e), *warnings])) from None
    try:
        drawn = ("math", "eq", "sum" if metric == "sum" else "z")
        summary = replace(summary, search=search_view(directory, rows, summary.n_layers, metric, drawn))
    except ScanError as e:  # a bad search.json must not cost the report
        warnings.append(str(e))
    if (directory / VALIDATION_FILE).exists():
        try:
            vrows = validate(summary, read_rows(directory / VALIDATION_FILE, warnings, n_layers_of(meta)))
            summary = replace(summary, validation=vrows)
        except (ScanError, ProbeError) as e:  # a bad validation file must not cost the report
            warnings.append(str(e))
    images: list[Path] = []
    if png:
        from . import png as heatmaps  # matplotlib is an optional extra: import it only when drawing

        if heatmaps.matplotlib_available():
            images = heatmaps.write_heatmaps(summary, directory)
            front = pareto_front(summary.baseline, summary.ranked, metric)
            images.append(heatmaps.draw_pareto(summary, front, directory / PARETO_FILE))
        else:
            warnings.append("no PNGs: matplotlib is missing; pip install 'rys-gguf[report]'")
    csv_path, json_path, md_path = (directory / n for n in REPORT_FILES)
    paths = (*images, csv_path, json_path, md_path)
    summary = replace(summary, paths=paths, warnings=tuple(warnings))
    write_atomic(csv_path, to_csv(summary), FIX)
    write_atomic(json_path, safe_json(to_json(summary), indent=2) + "\n", FIX)
    pareto_image = PARETO_FILE if directory / PARETO_FILE in images else None
    markdown = report_markdown(summary, top, [p.name for p in images], pareto_image)
    if (directory / EVAL_FILE).exists():  # written by rys-gguf eval --sweep
        try:
            markdown += "\n" + eval_markdown(json.loads((directory / EVAL_FILE).read_text(encoding="utf-8"))) + "\n"
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.append(f"{directory / EVAL_FILE}: not readable ({e}); the report has no benchmark section")
            summary = replace(summary, warnings=tuple(warnings))
    write_atomic(md_path, markdown, FIX)
    for warning in summary.warnings:
        emit(on_event, Note(warning, warning=True))
    return summary
