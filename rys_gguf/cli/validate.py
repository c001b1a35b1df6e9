"""``rys-gguf validate``: re-score the best configs with the large probe sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from ..report import format_table
from ..scan import ScanEvent
from ..validate import run_validation
from . import command


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
    bars: list[tqdm] = []

    def on_event(event: ScanEvent) -> None:
        if not bars:
            bars.append(tqdm(total=event.total, unit="config", desc="validate", disable=quiet, leave=False))
        bars[0].update(1)

    try:
        summary, note = run_validation(directory, top, eq_set, on_event=on_event)
    finally:
        for bar in bars:
            bar.close()
    if note:
        typer.echo(f"note: {note}", err=True)
    typer.echo(format_table(summary, top))
    typer.echo(f"validation table: {directory / 'report.md'}")
