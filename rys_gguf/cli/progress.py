"""What the CLI shows while it works: progress bars and lines (the library only calls back).

tqdm is imported when a bar is first drawn, so commands that finish at once never load it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..untrusted import safe_line

if TYPE_CHECKING:
    from tqdm import tqdm


def echo(text: str = "", err: bool = False) -> None:
    """Print one line to stdout (or stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _bar(quiet: bool, **tqdm_args: Any) -> tqdm[None]:
    from tqdm import tqdm

    return tqdm(disable=quiet, leave=False, **tqdm_args)


class LazyBar:
    """A tqdm bar drawn on the first update, so nothing shows before every input was checked;
    a quiet bar never loads tqdm at all."""

    def __init__(self, quiet: bool, **tqdm_args: Any) -> None:
        # The stream is the stderr of the moment the command starts: a library that captures
        # stderr while it runs (lm-eval does) must not swallow our bar.
        self.quiet, self.tqdm_args = quiet, {"file": sys.stderr, **tqdm_args}
        self.bar: tqdm[None] | None = None

    def update(self, n: int = 1, total: int | None = None) -> None:
        if self.quiet:
            return
        if self.bar is None:
            self.bar = _bar(self.quiet, **({"total": total} | self.tqdm_args))
        self.bar.update(n)

    def write(self, text: str) -> None:
        """Print a line above the bar (callers escape text from files: ``untrusted``)."""
        if self.bar is not None:
            self.bar.write(text)
        else:
            echo(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> LazyBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StageBars:
    """One bar per stage of a pipeline, each announced and numbered as it starts."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = LazyBar(True)
        self.n = 0

    def start(self, text: str, total: int) -> None:
        self.close()
        self.n += 1
        if self.quiet:
            return
        echo(f"[{self.n}] {safe_line(text)}", err=True)  # stage lines name the model folder
        if total > 0:
            unit = "B" if total > 10**5 else "it"
            self.bar = LazyBar(False, total=total, unit=unit, unit_scale=unit == "B")

    def update(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
