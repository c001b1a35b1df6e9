"""The ``rys-gguf`` command line: the only place that prints, exits or draws progress bars.

Each command lives in a module of this package and registers itself with ``@command``, which is
also the one error boundary: a RysError becomes one line on stderr and exit code 2 (with the
traceback only when RYS_DEBUG=1); Ctrl-C exits with 130.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from tqdm import tqdm

from ..errors import RysError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="rys-gguf",
    help="Make RYS (Repeat Your Self) GGUF models: duplicate a block of layers, find the best block.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def debug() -> bool:
    return os.environ.get("RYS_DEBUG") == "1"


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise (code 2)."""
    typer.echo(f"rys-gguf: error: {message}", err=True)
    return typer.Exit(2)


class LazyBar:
    """A tqdm bar drawn on the first update, so nothing shows before every input was checked."""

    def __init__(self, quiet: bool, **tqdm_args: Any) -> None:
        self.quiet, self.tqdm_args = quiet, tqdm_args
        self.bar: tqdm[None] | None = None

    def update(self, n: int = 1, total: int | None = None) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, disable=self.quiet, leave=False, **self.tqdm_args)
        self.bar.update(n)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            typer.echo(text)

    def __enter__(self) -> LazyBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def command(name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register a CLI command with the error boundary around it."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except RysError as e:
                if debug():
                    raise
                raise fail(str(e)) from None
            except KeyboardInterrupt:
                if debug():
                    raise
                typer.echo("rys-gguf: interrupted", err=True)
                raise typer.Exit(130) from None

        app.command(name, **kwargs)(wrapper)
        return fn

    return decorate


def main() -> None:
    """Console entry point."""
    app()


# Command modules register themselves on import (one line each).
from . import build
from . import convert
from . import export
from . import report
from . import scan
from . import validate
