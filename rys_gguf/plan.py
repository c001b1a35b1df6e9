"""Layer plans: which source layer runs at each position of an RYS model.

A plan is the list of source layers in execution order. Grammar (the original RYS author's):

- ``i,j``: one block, ``range(0, j) + range(i, N)``; layers i..j-1 run twice. ``0,0`` is the
  unchanged model (the baseline of a scan).
- ``3,6;4,6``: several blocks applied in order; each later block inserts ``range(i, j)`` right
  after the last occurrence of layer j-1 in the current list.
- ``layers:0,1,2,...``: an explicit path.

One config has many spellings (``4,8``, ``4, 8``, ``[4,8]``, ``blocks:4,8``, its ``layers:`` path);
``canonical`` gives each layer path one key, so a sweep measures and ranks it once.

Pure: no files, no numpy. Everything else (metadata, tensors, scan grids) derives from the path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .errors import PlanError

GRAMMAR = "expected 'i,j' (e.g. 45,52), blocks 'i,j;k,l' (e.g. 3,6;4,6) or 'layers:0,1,2,...'"


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """A validated layer path over a model of ``n_layers`` layers."""

    path: tuple[int, ...]
    n_layers: int
    spec: str

    @property
    def n_extra(self) -> int:
        """Layers added by the plan (negative when layers are dropped)."""
        return len(self.path) - self.n_layers

    @property
    def is_identity(self) -> bool:
        return self.path == tuple(range(self.n_layers))

    @property
    def single_block(self) -> tuple[int, int] | None:
        """The one block (i, j) whose path this is ((0, 0): the unchanged model), else None."""
        return single_block(self.path, self.n_layers)


def expand_blocks(blocks: list[tuple[int, int]], n_layers: int) -> list[int]:
    """Apply blocks in order: the first as ``0..j-1, i..N-1``, later ones after the last j-1."""
    path: list[int] = list(range(n_layers))
    for k, (i, j) in enumerate(blocks):
        _check_block(i, j, n_layers, k, len(blocks))
        if (i, j) == (0, 0):
            continue
        if k == 0:
            path = list(range(0, j)) + list(range(i, n_layers))
        else:
            last = len(path) - 1 - path[::-1].index(j - 1)
            path[last + 1 : last + 1] = range(i, j)
    return path


def _check_block(i: int, j: int, n: int, k: int, n_blocks: int) -> None:
    where = f"block {k + 1} ({i},{j}): " if n_blocks > 1 else f"block ({i},{j}): "
    if (i, j) == (0, 0) and n_blocks == 1:
        return
    if i < 0:
        raise PlanError(f"{where}i must be >= 0")
    if j > n:
        raise PlanError(f"{where}j must be <= {n} (the model has {n} layers)")
    if i >= j:
        raise PlanError(f"{where}i must be < j (block i..j-1 runs twice; valid: 0 <= i < j <= {n})")


def parse_plan(spec: str, n_layers: int) -> LayerPlan:
    """Parse a config spec against a model with ``n_layers`` layers; raises PlanError."""
    if n_layers < 1:
        raise PlanError(f"the model has {n_layers} layers; nothing to plan")
    text = spec.strip().replace(" ", "")
    if text.startswith("layers:"):
        path = _parse_ints(text[len("layers:") :], spec)
        if not path:
            raise PlanError(f"config {spec!r}: the explicit path is empty")
        bad = [x for x in path if not 0 <= x < n_layers]
        if bad:
            raise PlanError(
                f"config {spec!r}: layer {bad[0]} does not exist "
                f"(valid layers: 0..{n_layers - 1}, the model has {n_layers} layers)"
            )
        return LayerPlan(tuple(path), n_layers, "layers:" + ",".join(map(str, path)))
    blocks = parse_blocks(spec)
    path = expand_blocks(blocks, n_layers)
    return LayerPlan(tuple(path), n_layers, format_blocks(blocks))


def single_block(path: Sequence[int], n_layers: int) -> tuple[int, int] | None:
    """The one block (i, j) that expands to ``path`` ((0, 0) for the unchanged model), else None."""
    path = tuple(path)
    n_extra = len(path) - n_layers
    if n_extra == 0:
        return (0, 0) if path == tuple(range(n_layers)) else None
    # A block i,j is 0..j-1 then i..N-1: j is where the path first steps back, i = j - n_extra.
    j = next((k for k, layer in enumerate(path) if layer != k), None)
    if n_extra < 0 or j is None or j - n_extra < 0:
        return None
    i = j - n_extra
    return (i, j) if path == (*range(j), *range(i, n_layers)) else None


def canonical(plan: LayerPlan) -> LayerPlan:
    """``plan`` under its one key: a path that one block expands to is spelled ``i,j`` (a
    ``layers:`` path included); other specs keep their normalised spelling (no spaces, brackets
    or ``blocks:`` prefix)."""
    block = plan.single_block
    if block is None:
        return plan
    return LayerPlan(plan.path, plan.n_layers, format_blocks([block]))


def canonical_spec(spec: str, n_layers: int) -> str:
    """The one key of a config spec on a model of ``n_layers`` layers; raises PlanError."""
    return canonical(parse_plan(spec, n_layers)).spec


def parse_blocks(spec: str) -> list[tuple[int, int]]:
    """Parse ``i,j`` or ``i,j;k,l`` (an optional ``blocks:`` prefix, brackets allowed)."""
    text = spec.strip().replace(" ", "")
    text = text.removeprefix("blocks:")
    if not text:
        raise PlanError(f"config {spec!r} is empty; {GRAMMAR}")
    blocks: list[tuple[int, int]] = []
    for part in text.split(";"):
        nums = _parse_ints(part.strip("()[]"), spec)
        if len(nums) != 2:
            raise PlanError(f"config {spec!r}: {part!r} is not a block; {GRAMMAR}")
        blocks.append((nums[0], nums[1]))
    return blocks


def format_blocks(blocks: list[tuple[int, int]]) -> str:
    return ";".join(f"{i},{j}" for i, j in blocks)


def format_layer_path(path: Sequence[int]) -> str:
    """Compact layer path: [0, 1, 2, 3, 2, 3, 4] -> '0-3, 2-4'."""
    runs: list[list[int]] = []
    for layer in path:
        if runs and layer == runs[-1][1] + 1:
            runs[-1][1] = layer
        else:
            runs.append([layer, layer])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def _parse_ints(text: str, spec: str) -> list[int]:
    if text == "":
        return []
    parts = text.split(",")
    if not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise PlanError(f"config {spec!r} is not understood; {GRAMMAR}")
    return [int(p) for p in parts]


def block_grid(
    n_layers: int,
    min_block: int = 1,
    max_block: int | None = None,
    starts: tuple[int, int] | None = None,
) -> Iterator[tuple[int, int]]:
    """All single blocks (i, j), 0 <= i < j <= N, filtered by block size and start range [a, b)."""
    hi = n_layers if max_block is None else max_block
    for j in range(1, n_layers + 1):
        for i in range(j):
            if not min_block <= j - i <= hi:
                continue
            if starts is not None and not starts[0] <= i < starts[1]:
                continue
            yield (i, j)
