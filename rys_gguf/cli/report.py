"""``rys-gguf report`` (rank and draw a sweep) and ``rys-gguf merge`` (join sweeps)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..heatmap import terminal_heatmap
from ..report import ReportSummary, format_table, write_report
from ..sweepdir import merge_sweeps
from . import command


class Metric(str, Enum):
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
Top = Annotated[int, typer.Option("--top", "-n", min=1, help="Configs in the top table.")]
NoPng = Annotated[bool, typer.Option("--no-png", help="Skip the PNG heatmaps (no matplotlib).")]


def show(summary: ReportSummary, top: int) -> None:
    """Print warnings, the top-N table, the terminal heatmap and the files written."""
    for warning in summary.warnings:
        typer.echo(f"rys-gguf: warning: {warning}", err=True)
    typer.echo(format_table(summary, top))
    typer.echo("")
    typer.echo(terminal_heatmap(summary, summary.metric))
    names = ", ".join(p.name for p in summary.paths)
    typer.echo(f"\nwrote {names} in {summary.directory}")


@command("report")
def report_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A sweep folder (sweep.json + results.jsonl).")],
    metric: MetricOpt = Metric.z,
    top: Top = 10,
    no_png: NoPng = False,
) -> None:
    """Rank a sweep; write heatmaps, ranking.csv/json and report.md into DIR."""
    show(write_report(directory, metric.value, top, png=not no_png), top)


@command("merge")
def merge_command(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder for the merged sweep.")],
    dirs: Annotated[list[Path], typer.Argument(metavar="DIR...", help="Sweep folders (e.g. one per shard).")],
    metric: MetricOpt = Metric.z,
    top: Top = 10,
    no_png: NoPng = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Only merge the rows.")] = False,
) -> None:
    """Join sweeps of one model and probe set (one row per config: ok over failed, then latest)."""
    result = merge_sweeps(out, dirs)
    for warning in result.warnings:
        typer.echo(f"rys-gguf: warning: {warning}", err=True)
    typer.echo(
        f"merged {result.n_rows_read} rows from {result.n_sweeps} sweeps into {out}: "
        f"{result.n_configs} configs, {result.n_skipped} skipped by architecture rules"
    )
    if not no_report:
        show(write_report(out, metric.value, top, png=not no_png), top)
