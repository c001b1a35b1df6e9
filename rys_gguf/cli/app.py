"""The ``rys-gguf`` application: the commands of each job, behind one error boundary.

`guard` is the boundary: a RysError (or a stray OSError) becomes one line on stderr and exit
code 2, with the traceback only when RYS_DEBUG=1; Ctrl-C exits with 130. Command modules only
define functions; this module registers them, so no command module imports this one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import RysError
from . import build, convert, prove, report, scan, ship

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED_CHECK = 1  # verify: a check failed
EXIT_ERROR = 2  # the command refused its input or could not finish (click's usage errors too)
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="rys-gguf",
    help="Make RYS (Repeat Your Self) GGUF models: duplicate a block of layers, find the best block.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: loading rich would double the start-up time
    context_settings={"help_option_names": ["-h", "--help"]},
)


def debug() -> bool:
    return os.environ.get("RYS_DEBUG") == "1"


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    typer.echo(f"rys-gguf: error: {message}", err=True)
    return typer.Exit(EXIT_ERROR)


def _os_message(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


def guard(fn: F) -> F:
    """The one error boundary around every command."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except (RysError, OSError) as e:
            if debug():
                raise
            raise fail(str(e) if isinstance(e, RysError) else _os_message(e)) from None
        except KeyboardInterrupt:
            if debug():
                raise
            typer.echo("rys-gguf: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    ("build", build.build_command),
    ("inspect", build.inspect_command),
    ("convert", convert.convert_command),
    ("quantize", convert.quantize_command),
    ("scan", scan.scan_command),
    ("merge", scan.merge_command),
    ("report", report.report_command),
    ("validate", prove.validate_command),
    ("verify", ship.verify_command),
    ("ollama", ship.ollama_command),
    ("lmstudio", ship.lmstudio_command),
]
for _name, _fn in COMMANDS:
    app.command(_name)(guard(_fn))


def main() -> None:
    """Console entry point."""
    app()
