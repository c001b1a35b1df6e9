"""``rys-gguf report``: rank a sweep, draw its heatmaps, write its report files."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import NoPng, Top

if TYPE_CHECKING:
    from ..report.ranking import ReportSummary


class Metric(str, Enum):
    """The choices of --metric: ``report.ranking.METRICS`` (a test keeps the two equal)."""

    z = "z"
    sum = "sum"
    math = "math"
    eq = "eq"


MetricOpt = Annotated[
    Metric,
    typer.Option(
        "--metric",
        "-m",
        help="Rank by: z = z(Δmath) + z(Δeq) (the original's balanced score), sum = Δmath + Δeq, math or eq alone.",
    ),
]


def show(summary: ReportSummary, top: int) -> None:
    """Print warnings, the top-N table, the terminal heatmap and the files written."""
    from ..report.tables import format_table
    from ..report.terminal import terminal_heatmap

    for warning in summary.warnings:
        typer.echo(f"rys-gguf: warning: {warning}", err=True)
    typer.echo(format_table(summary, top))
    typer.echo("")
    typer.echo(terminal_heatmap(summary, summary.metric))
    names = ", ".join(p.name for p in summary.paths)
    typer.echo(f"\nwrote {names} in {summary.directory}")


def report_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A sweep folder (sweep.json + results.jsonl).")],
    metric: MetricOpt = Metric.z,
    top: Top = 10,
    no_png: NoPng = False,
) -> None:
    """Rank a sweep; write heatmaps, ranking.csv/json and report.md into DIR."""
    from ..report.write import write_report

    show(write_report(directory, metric.value, top, png=not no_png), top)
