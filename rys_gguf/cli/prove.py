"""``rys-gguf validate``: re-score the best configs of a sweep on the large probe sets."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import Quiet, SweepArg
from .progress import LazyBar


def validate_command(
    directory: SweepArg,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="How many of the best configs to re-score.")] = 5,
    eq_set: Annotated[
        str,
        typer.Option(
            "--eq-set", help="EQ set: eqbench-v2 (171, falls back to builtin offline), builtin or a JSON file."
        ),
    ] = "eqbench-v2",
    quiet: Quiet = False,
) -> None:
    """Re-score the top K configs and the baseline on 120 math + the large EQ set, with intervals."""
    from ..prove.validate import run_validation
    from ..report.tables import format_table

    with LazyBar(quiet, unit="config", desc="validate") as bar:
        summary, note = run_validation(directory, top, eq_set, on_event=lambda e: bar.update(1, total=e.total))
    if note:
        typer.echo(f"note: {note}", err=True)
    typer.echo(format_table(summary, top))
    typer.echo(f"validation table: {directory / 'report.md'}")
