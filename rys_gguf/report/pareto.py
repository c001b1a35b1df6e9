"""The Pareto frontier of gain against added layers: what each extra layer of VRAM buys.

A config is on the frontier when no other config gains at least as much with at most as many
added layers (one of the two strictly). The baseline (0 added layers, no gain) is on it, so a
config that adds layers without beating the baseline never is; a sweep where nothing helps has
the baseline alone. Gain is the ranking metric's value minus the baseline's. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ranking import ConfigScore


@dataclass(frozen=True, slots=True)
class FrontierPoint:
    """One config of the frontier (the baseline has config "0,0" and gain 0)."""

    config: str
    n_extra: int
    gain: float
    score: ConfigScore


def pareto_front(baseline: ConfigScore, configs: Sequence[ConfigScore], metric: str) -> list[FrontierPoint]:
    """The frontier, fewest added layers first (each point gains more than the one before)."""
    base = baseline.value(metric) or 0.0
    points = [FrontierPoint(baseline.config, 0, 0.0, baseline)] + [
        FrontierPoint(s.config, s.n_extra, v - base, s)
        for s in configs
        if (v := s.value(metric)) is not None and s.n_extra is not None and not s.baseline
    ]
    points.sort(key=lambda p: (p.n_extra, -p.gain, p.config))
    front: list[FrontierPoint] = []
    for p in points:
        if not front or p.gain > front[-1].gain:
            front.append(p)
    return front
