"""Split a scan grid across machines: ``--slice k/n`` gives machine k a deterministic slice.

Configs are assigned greedily, longest first, each to the least-loaded slice (the classic
longest-processing-time rule, within 4/3 of the best possible balance), where a config's cost is
the length of its layer path: an 87-layer model takes longer to load and run than an 80-layer
one. Every machine computes the same assignment from the same grid, so no coordination is
needed; `rys-gguf merge` joins the results afterwards. Deliberately left out: measuring real
timings, and which configs form the grid (the scan engine decides both).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Sequence

from ..errors import ScanError


def parse_slice(text: str) -> tuple[int, int]:
    """Parse ``k/n`` (1 <= k <= n, e.g. ``2/4`` for the second of four machines)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ScanError(f"--slice {text!r}: expected k/n with 1 <= k <= n (e.g. 2/4 = second of 4 machines)")
    return int(m.group(1)), int(m.group(2))


def assign_slices(configs: Sequence[str], n_layers_of: Callable[[str], int], n: int) -> list[int]:
    """The slice (0-based) of every config, balancing the summed path lengths."""
    if n < 1:
        raise ScanError(f"--slice: n must be >= 1, got {n}")
    costs = [n_layers_of(c) for c in configs]
    # Longest first; equal costs keep grid order, so the result is the same on every machine.
    order = sorted(range(len(configs)), key=lambda x: (-costs[x], x))
    loads = [(0, s) for s in range(n)]  # (load, slice): ties go to the lowest slice index
    owner = [0] * len(configs)
    for x in order:
        load, s = heapq.heappop(loads)
        owner[x] = s
        heapq.heappush(loads, (load + costs[x], s))
    return owner


def grid_slice(configs: Sequence[str], n_layers_of: Callable[[str], int], k: int, n: int) -> list[str]:
    """The configs machine ``k`` of ``n`` (1-based) runs, in their original grid order."""
    if not 1 <= k <= n:
        raise ScanError(f"--slice {k}/{n}: expected 1 <= k <= n")
    owner = assign_slices(configs, n_layers_of, n)
    return [c for c, s in zip(configs, owner, strict=True) if s == k - 1]
