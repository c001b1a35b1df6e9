"""``rys-gguf validate``: re-score the best configs of a sweep on the large probe sets."""

from __future__ import annotations

from pathlib import Path

from .command import Command, option
from .options import MEMORY, QUIET, SWEEP, TOP, parse_memory
from .progress import LazyBar, echo


def validate_command(directory: Path, top: int, eq_set: str, memory: str | None, quiet: bool) -> None:
    from ..prove.validate import run_validation
    from ..report.tables import format_table

    with LazyBar(quiet, unit="config", desc="validate") as bar:
        summary, note = run_validation(
            directory, top, eq_set, on_event=lambda e: bar.update(1, total=e.total), memory=parse_memory(memory)
        )
    if note:
        echo(f"note: {note}", err=True)
    echo(format_table(summary, top))
    echo(f"validation table: {directory / 'report.md'}")


COMMANDS = [
    Command(
        "validate",
        validate_command,
        "Re-score the top K configs and the baseline on 120 math + the large EQ set, with intervals.",
        (
            SWEEP,
            TOP(help="How many of the best configs to re-score.", default=5),
            option(
                "--eq-set",
                help="EQ set: eqbench-v2 (171, falls back to builtin offline), builtin or a JSON file.",
                default="eqbench-v2",
            ),
            MEMORY,
            QUIET,
        ),
    ),
]
