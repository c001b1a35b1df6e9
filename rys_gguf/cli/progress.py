"""What the CLI shows while a job runs: the library's callbacks turned into bars and lines.

Every entry point reports the same way (``rys_gguf.events``): a `Stage` starts a step with the
units it will count, ``progress(n)`` advances it, a `Note` is a line. `Reporter` is the one
handler: a tqdm bar per stage (drawn on its first update, so nothing shows before every input was
checked), notes above it, and a line for each config that failed or stopped early. tqdm is
imported when a bar is first drawn, so commands that finish at once never load it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..untrusted import safe_line

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..events import Event
    from ..report.ranking import ReportSummary


def echo(text: str = "", err: bool = False) -> None:
    """Print one line to stdout (or stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


class LazyBar:
    """A tqdm bar drawn on the first update; a quiet bar never loads tqdm at all."""

    def __init__(self, quiet: bool, **tqdm_args: Any) -> None:
        # The stream is the stderr of the moment the bar is made: a library that captures stderr
        # while it runs (lm-eval does) must not swallow our bar.
        self.quiet, self.tqdm_args = quiet, {"file": sys.stderr, "leave": False, **tqdm_args}
        self.bar: tqdm[None] | None = None

    def update(self, n: int = 1) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(**self.tqdm_args)
        self.bar.update(n)

    def write(self, text: str, err: bool = False) -> None:
        """Print a line above the bar (callers escape text from files: ``untrusted``)."""
        if self.bar is not None and not err:
            self.bar.write(text)
        else:
            echo(text, err)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Reporter:
    """A job's ``progress`` and ``on_event``, shown: bars per stage, notes, failed configs.

    ``numbered`` announces each stage as "[k] what it does" (a pipeline such as convert).
    """

    def __init__(self, quiet: bool, *, numbered: bool = False) -> None:
        self.quiet, self.numbered = quiet, numbered
        self.bar = LazyBar(True)
        self.n_stages = 0

    def progress(self, n: int) -> None:
        self.bar.update(n)

    def on_event(self, event: Event) -> None:
        from ..events import Note, Stage
        from ..scan.pool import ConfigDone  # loaded by then: only a scan sends it

        if isinstance(event, Stage):
            self.bar.close()
            self.n_stages += 1
            if self.numbered and not self.quiet:
                echo(f"[{self.n_stages}] {safe_line(event.text)}", err=True)  # stage lines name files
            unit = event.unit
            self.bar = LazyBar(
                self.quiet, total=event.total, unit=unit, unit_scale=unit == "B", desc=_short(event.text)
            )
        elif isinstance(event, Note):
            if event.warning:
                self.bar.write(f"rys-gguf: warning: {safe_line(event.text, None)}", err=True)
            else:
                self.bar.write(safe_line(event.text, None))
        elif isinstance(event, ConfigDone) and event.row["status"] != "ok":
            row = event.row
            self.bar.write(f"{safe_line(row['config'])}: {row['status']}: {safe_line(row.get('reason'))}")

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(text: str) -> str:
    """A bar's label: the stage's first words, escaped."""
    return safe_line(text.split(":")[0], 40)


def show_report(summary: ReportSummary, top: int, files: bool = True) -> None:
    """Print the report's warnings, the top-N table (with the build command of the best), the
    terminal heatmap and (``files``) the files written."""
    from ..report.tables import format_table
    from ..report.terminal import terminal_heatmap

    for warning in summary.warnings:  # they quote sweep files and their lines
        echo(f"rys-gguf: warning: {safe_line(warning, None)}", err=True)
    echo(format_table(summary, top))
    if files:
        echo("")
    echo(terminal_heatmap(summary, summary.metric))
    if files:
        names = ", ".join(p.name for p in summary.paths)
        echo(f"\nwrote {names} in {safe_line(summary.directory)}")
