"""llama.cpp's process-wide log, routed through one callback.

llama.cpp logs from C through a single global callback. Ours keeps the last lines, so a failure
can be explained in one line (`capture`), hands each line to an optional listener (quantize's
per-tensor progress), and echoes everything to stderr only when RYS_DEBUG=1.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import llama_cpp

LEVEL_ERROR = 4  # ggml.h: NONE, DEBUG, INFO, WARN, ERROR, CONT
_PREFIX = re.compile(r"^(\w+: )+(error loading model: )?")


def debug_logging() -> bool:
    """Whether RYS_DEBUG=1 asks for llama.cpp's own log on stderr."""
    return os.environ.get("RYS_DEBUG") == "1"


@dataclass
class Capture:
    """What llama.cpp logged while a `capture` was open."""

    lines: deque[str] = field(default_factory=lambda: deque(maxlen=400))
    errors: list[str] = field(default_factory=list)  # error-level lines, prefixes removed
    listener: Callable[[str], None] | None = None

    def first_error(self) -> str | None:
        return self.errors[0] if self.errors else None

    @property
    def text(self) -> str:
        return "".join(self.lines)


_current = Capture()


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _on_log(level: int, raw: bytes, user_data: ctypes.c_void_p) -> None:
    text = (raw or b"").decode("utf-8", errors="replace")
    if debug_logging():
        sys.stderr.write(text)
    capture = _current
    capture.lines.append(text)
    if level == LEVEL_ERROR and len(capture.errors) < 8:
        line = _PREFIX.sub("", text.strip())
        if line:
            capture.errors.append(line)
    if capture.listener is not None:
        capture.listener(text)


@contextmanager
def capture(listener: Callable[[str], None] | None = None) -> Iterator[Capture]:
    """Route llama.cpp's log here and collect it until the block ends.

    The route stays ours afterwards (llama.cpp keeps logging while a model lives), so nothing
    reaches the terminal unless RYS_DEBUG=1.
    """
    global _current
    previous, _current = _current, Capture(listener=listener)
    llama_cpp.llama_log_set(_on_log, ctypes.c_void_p(0))
    try:
        yield _current
    finally:
        _current = previous
