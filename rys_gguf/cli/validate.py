"""``rys-gguf validate``: re-score the best configs with the large probe sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..report import format_table
from ..validate import run_validation
from . import LazyBar, command


@command("validate")
def validate_command(
    directory: Annotated[Path, typer.Argument(help="A sweep folder made by rys-gguf scan.")],
    top: Annotated[int, typer.Option("--top", "-k", help="How many of the best configs to re-score.")] = 5,
    eq_set: Annotated[
        str,
        typer.Option(
            "--eq-set", help="EQ set: eqbench-v2 (171, falls back to builtin offline), builtin or a JSON file."
        ),
    ] = "eqbench-v2",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Re-score the top K configs and the baseline on 120 math + the large EQ set, with intervals."""
    with LazyBar(quiet, unit="config", desc="validate") as bar:
        summary, note = run_validation(directory, top, eq_set, on_event=lambda e: bar.update(1, total=e.total))
    if note:
        typer.echo(f"note: {note}", err=True)
    typer.echo(format_table(summary, top))
    typer.echo(f"validation table: {directory / 'report.md'}")
