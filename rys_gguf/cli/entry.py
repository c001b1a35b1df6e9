"""The ``rys-gguf`` application: every job's commands on one typer app, behind one error boundary.

Command modules declare their commands (``options.command``); this module adds them to `app` and
owns the boundary (`main`): a RysError, a stray OSError, or a usage error (an unknown option,
a missing argument, a value out of range) becomes one line on stderr and exit code 2 (with the
traceback when RYS_DEBUG=1), escaped by ``untrusted.safe_line`` since messages quote names and
strings from files; a stray OSError gets its fix by errno, and a temporary named in any message
is replaced by the output it stands for. Ctrl-C exits with 130. Heavy imports wait until a command runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
import typer

from ..errors import RysError
from ..untrusted import MAX_MESSAGE, safe_line
from ..version import __version__
from . import build, convert, prove, report, scan, ship
from .helpformat import PanelGroup
from .options import CommandFailed, Interrupted, add_command

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # verify: a check failed
EXIT_ERROR = 2  # the command refused its input or could not finish; usage errors too
EXIT_INTERRUPTED = 130
DESCRIPTION = "Make RYS (Repeat Your Self) GGUF models: duplicate a block of layers, find the best block."
PROG = "rys-gguf"

app = typer.Typer(
    name=PROG,
    help=DESCRIPTION,
    cls=PanelGroup,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Make RYS (Repeat Your Self) GGUF models: duplicate a block of layers, find the best block."""


COMMANDS = {cmd.name: cmd for module in (build, convert, scan, report, prove, ship) for cmd in module.COMMANDS}
for _cmd in COMMANDS.values():
    add_command(app, _cmd)


def debug() -> bool:
    return os.environ.get("RYS_DEBUG") == "1"


def _os_message(e: OSError) -> str:
    from ..files import os_fix

    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}; {os_fix(e)}"


def _fail(message: str) -> int:
    # Messages quote file names and strings from files: one line, nothing a terminal acts on.
    from ..files import public_names

    sys.stderr.write(f"{PROG}: error: {safe_line(public_names(message), MAX_MESSAGE)}\n")
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: sys.argv[1:]); the exit code."""
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except click.ClickException as e:  # usage: an unknown option, a bad value, a missing argument
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else PROG
        return _fail(f"{e.format_message()} (see {where} --help)")
    except CommandFailed as e:
        return e.code
    except (RysError, OSError) as e:
        if debug():
            raise
        return _fail(str(e) if isinstance(e, RysError) else _os_message(e))
    except (KeyboardInterrupt, click.Abort, Interrupted) as e:
        if debug():
            raise (e.__cause__ or e) if isinstance(e, Interrupted) else e  # noqa: B904 (the original, traceback and all)
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    return code if isinstance(code, int) else EXIT_OK


def run() -> None:
    """Console entry point."""
    sys.exit(main())
