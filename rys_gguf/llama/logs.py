"""llama.cpp's process-wide log, routed through one callback.

llama.cpp logs from C through a single global callback. Ours keeps the last lines, so a failure
can be explained in one line (`capture`), hands each line to an optional listener (quantize's
per-tensor progress), and echoes everything to stderr only when RYS_DEBUG=1. Captures nest: a
line reaches every open capture, so an outer one sees what an inner one (the engine's) records.
`reported_buffers` reads the buffer sizes llama.cpp reports as it loads a model and creates
contexts (weights, KV cache, compute and output buffers), for checking the memory planner.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
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


_open: list[Capture] = []  # innermost last
_BUFFER = re.compile(r"(\S+)\s+(model|KV|compute|output|RS)\s+buffer size =\s+([\d.]+) MiB")


@dataclass(frozen=True, slots=True)
class ReportedBuffer:
    """One buffer llama.cpp allocated, as its log reports it."""

    device: str  # "CPU_Mapped", "CPU", "CUDA0", "CUDA_Host", ...
    kind: str  # "model", "KV", "compute", "output" or "RS" (recurrent state)
    n_bytes: int  # from the logged MiB (two decimals, so within 5 KiB)


def reported_buffers(lines: Iterable[str]) -> list[ReportedBuffer]:
    """The "... buffer size = X MiB" lines of llama.cpp's log, in order."""
    found = []
    for line in lines:
        m = _BUFFER.search(line)
        if m:
            found.append(ReportedBuffer(m[1], m[2], round(float(m[3]) * 2**20)))
    return found


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _on_log(level: int, raw: bytes, user_data: ctypes.c_void_p) -> None:
    text = (raw or b"").decode("utf-8", errors="replace")
    if debug_logging():
        sys.stderr.write(text)
    line = _PREFIX.sub("", text.strip()) if level == LEVEL_ERROR else ""
    for capture in _open:
        capture.lines.append(text)
        if line and len(capture.errors) < 8:
            capture.errors.append(line)
        if capture.listener is not None:
            capture.listener(text)


@contextmanager
def capture(listener: Callable[[str], None] | None = None) -> Iterator[Capture]:
    """Route llama.cpp's log here and collect it until the block ends.

    The route stays ours afterwards (llama.cpp keeps logging while a model lives), so nothing
    reaches the terminal unless RYS_DEBUG=1.
    """
    current = Capture(listener=listener)
    _open.append(current)
    llama_cpp.llama_log_set(_on_log, ctypes.c_void_p(0))
    try:
        yield current
    finally:
        _open.remove(current)
