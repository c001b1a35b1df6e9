"""The ``rys-gguf`` application: every job's commands behind one parser and one error boundary.

argparse, not a framework: the command line starts in a few tens of milliseconds, and usage
errors are one line like every other error. The boundary (`App.__call__`) turns a RysError, or
a stray OSError, into one line on stderr and exit code 2 (with the traceback when RYS_DEBUG=1),
escaped by ``untrusted.safe_line`` since messages quote names and strings from files;
Ctrl-C exits with 130. Command modules only declare their commands; this module collects them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import RysError
from ..untrusted import MAX_MESSAGE, safe_line
from ..version import __version__
from . import build, convert, prove, report, scan, search, ship
from .command import Command, CommandFailed

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # verify: a check failed
EXIT_ERROR = 2  # the command refused its input or could not finish; usage errors too
EXIT_INTERRUPTED = 130
DESCRIPTION = "Make RYS (Repeat Your Self) GGUF models: duplicate a block of layers, find the best block."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"rys-gguf: error: {safe_line(message, MAX_MESSAGE)} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_ERROR)


def debug() -> bool:
    return os.environ.get("RYS_DEBUG") == "1"


def _os_message(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


class App:
    """The command line; call it with the arguments (without the program name)."""

    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands = {c.name: c for c in commands}

    def parser(self) -> argparse.ArgumentParser:
        top = _Parser(prog="rys-gguf", description=DESCRIPTION)
        top.add_argument("--version", action="version", version=f"rys-gguf {__version__}")
        subs = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
        for c in self.commands.values():
            sub = subs.add_parser(c.name, help=c.summary, description=c.summary)
            for p in c.flat_params:
                p.add_to(sub)
        return top

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        parser = self.parser()
        if not args:
            parser.print_help()
            return EXIT_OK
        try:
            namespace = vars(parser.parse_args(args))
        except SystemExit as e:  # --help, --version, usage errors (already printed)
            return int(e.code or 0)
        command = self.commands[namespace.pop("command")]
        try:
            return command.call(namespace) or EXIT_OK
        except CommandFailed as e:
            return e.code
        except (RysError, OSError) as e:
            if debug():
                raise
            # Messages quote file names and strings from files: one line, nothing a terminal acts on.
            message = str(e) if isinstance(e, RysError) else _os_message(e)
            sys.stderr.write(f"rys-gguf: error: {safe_line(message, MAX_MESSAGE)}\n")
            return EXIT_ERROR
        except KeyboardInterrupt:
            if debug():
                raise
            sys.stderr.write("rys-gguf: interrupted\n")
            return EXIT_INTERRUPTED


def commands() -> list[Command]:
    found: list[Command] = []
    for module in (build, convert, scan, search, report, prove, ship):
        found += module.COMMANDS
    return found


app = App(commands())


def main() -> None:
    """Console entry point."""
    sys.exit(app())
