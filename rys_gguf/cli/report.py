"""``rys-gguf report``: rank a sweep, draw its heatmaps, write its report files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..sweepfolder.metric import METRICS
from .command import Command, argument, option
from .options import NO_PNG, TOP
from .progress import echo

if TYPE_CHECKING:
    from ..report.ranking import ReportSummary

METRIC = option(
    "--metric",
    "-m",
    help=(
        "Rank (and, where a search runs, search) by: z = z(Δmath) + z(Δeq) (the original's balanced score), "
        "sum = Δmath + Δeq, math or eq alone."
    ),
    choices=METRICS,
    default="z",
)


def show(summary: ReportSummary, top: int) -> None:
    """Print warnings, the top-N table, the terminal heatmap and the files written."""
    from ..report.tables import format_table
    from ..report.terminal import terminal_heatmap
    from ..untrusted import safe_line

    for warning in summary.warnings:  # they quote sweep files and their lines
        echo(f"rys-gguf: warning: {safe_line(warning, None)}", err=True)
    echo(format_table(summary, top))
    echo("")
    echo(terminal_heatmap(summary, summary.metric))
    names = ", ".join(p.name for p in summary.paths)
    echo(f"\nwrote {names} in {safe_line(summary.directory)}")


def report_command(directory: Path, metric: str, top: int, no_png: bool) -> None:
    from ..report.write import write_report

    show(write_report(directory, metric, top, png=not no_png), top)


COMMANDS = [
    Command(
        "report",
        report_command,
        "Rank a sweep; write heatmaps, ranking.csv/json and report.md into DIR.",
        (
            argument("directory", "A sweep folder (sweep.json + results.jsonl).", type=Path, metavar="DIR"),
            METRIC,
            TOP,
            NO_PNG,
        ),
    ),
]
