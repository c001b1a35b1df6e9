"""Run the CLI in this process and capture what it prints (the way users see it: one stream).

``CliRunner().invoke(app, args)`` runs ``rys_gguf.cli.main(args)``, the command line behind its one
error boundary, exactly as the ``rys-gguf`` script does (typer's own test runner skips it)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rys_gguf.cli import main


@dataclass
class Result:
    exit_code: int
    output: str  # stdout and stderr, interleaved as written
    stdout: str
    stderr: str
    exception: BaseException | None


class _Tee(io.StringIO):
    def __init__(self, both: io.StringIO) -> None:
        super().__init__()
        self.both = both

    def write(self, text: str) -> int:
        self.both.write(text)
        return super().write(text)


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None] | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env or {}}
    try:
        for k, v in (env or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class CliRunner:
    """``CliRunner().invoke(app, ["build", ...], env={...})`` -> Result."""

    def invoke(self, app: Any, args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Result:
        both = io.StringIO()
        out, err = _Tee(both), _Tee(both)
        exception: BaseException | None = None
        with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except Exception as e:
                exception, code = e, 1
        if exception is None and code not in (0, None):
            exception = SystemExit(code)
        return Result(code or 0, both.getvalue(), out.getvalue(), err.getvalue(), exception)


__all__ = ["CliRunner", "Result"]
