"""A search budget given in time (``--budget 8h``, ``90m``, ``1h30m``): how many configs fit in it.

The count is fixed from what the results file holds, so a rerun after kill -9 plans the same
rounds: the baseline's measured wall time (load, assemble and both probes in full) is the cost of
one pass through the model's ``n_layers`` layers, and a config whose path runs ``n_layers + L``
layers costs that much longer. The time left after the baseline, times the workers, over the
mean cost of the configs the search may choose, is the count. The deadline itself belongs to the
run: the pool starts no config whose estimate would end past it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import OptionError
from .strategies import Cell, parse_budget

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


@dataclass(frozen=True, slots=True)
class TimeBudget:
    """A search's budget as wall-clock seconds for this run, with the text it was given as."""

    seconds: float
    text: str


def parse_time(text: str) -> TimeBudget | None:
    """``8h``, ``90m``, ``1h30m``, ``45s`` -> TimeBudget; None when ``text`` is not a time."""
    t = text.strip().lower().replace(" ", "")
    parts = _PART.findall(t)
    if not parts or "".join(a + u for a, u in parts) != t or len({u for _, u in parts}) != len(parts):
        return None  # not a time: a count, a share, or nonsense (parse_budget says which)
    seconds = sum(float(a) * _SECONDS[u] for a, u in parts)
    if not (math.isfinite(seconds) and seconds > 0):
        raise OptionError(f"--budget {text!r}: a time budget must be longer than 0 s (e.g. 8h or 90m)")
    return TimeBudget(seconds, text.strip())


def read_budget(text: str) -> int | float | TimeBudget:
    """``--budget``: configs (``40``), a share (``10%``) or a time (``8h``, ``90m``)."""
    found = parse_time(text)
    if found is not None:
        return found
    try:
        return parse_budget(text)
    except OptionError:
        raise OptionError(
            f"--budget {text!r}: expected a number of configs (e.g. 40), a share (e.g. 10%) or a time (e.g. 8h, 90m)"
        ) from None


def config_seconds(cell: Cell, n_layers: int, baseline_s: float) -> float:
    """The expected wall time of config (i, j): the baseline's, scaled by the layers its path runs."""
    i, j = cell
    return baseline_s * (n_layers + (j - i)) / n_layers


def configs_in_time(
    budget: TimeBudget, baseline_s: float, universe: Sequence[Cell], n_layers: int, n_workers: int = 1
) -> int:
    """How many configs of ``universe`` fit in ``budget`` after a baseline that took ``baseline_s``
    (at most the universe; 0 when not even one fits)."""
    if not universe:
        return 0
    mean = sum(config_seconds(c, n_layers, baseline_s) for c in universe) / len(universe)
    left = (budget.seconds - baseline_s) * max(1, n_workers)
    return max(0, min(len(universe), math.floor(left / mean))) if mean > 0 else len(universe)


def describe(seconds: float) -> str:
    """8h, 1h 30m, 90 s, 2.5 s: how long, as a person says it."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours and minutes else f"{hours}h" if hours else f"{minutes}m"
