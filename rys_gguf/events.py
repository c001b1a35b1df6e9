"""What a job tells its caller while it runs: the callbacks every entry point shares.

Every entry point has one shape, ``fn(inputs..., options=XOptions(), *, progress=None,
on_event=None) -> XResult``. ``progress(n)`` says that n more units of the current stage are done;
``on_event`` receives a `Stage` when a step starts (what it does and how many units it will count),
a `Note` for a line worth showing (a memory plan, a fallback, a warning), and the job's own events
(a scan's `scan.pool.ConfigDone`). Both are optional: the library never prints, and the command
line turns them into progress bars and lines. Text in events may quote files: escape it before a
terminal shows it (``untrusted.safe_line``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[int], None]


class Event:
    """Anything ``on_event`` receives."""

    __slots__ = ()


OnEvent = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Stage(Event):
    """A step starts: what it does, and the units ``progress`` will count in it (None: unknown)."""

    text: str
    total: int | None = None
    unit: str = "it"  # "B" (bytes), "config", "tensor", "request", "run", "it"


@dataclass(frozen=True, slots=True)
class Note(Event):
    """A line worth showing the user; ``warning`` for what may need their attention."""

    text: str
    warning: bool = False


def emit(on_event: OnEvent | None, event: Event) -> None:
    """Hand ``event`` to the caller's callback, if any."""
    if on_event is not None:
        on_event(event)
