"""Split models the way llama.cpp's gguf-split does.

Every shard is a standalone GGUF named ``{prefix}-{no:05d}-of-{count:05d}.gguf``. The first holds
all metadata; every shard carries ``split.no`` (0-based), and llama.cpp reads ``split.count`` and
``split.tensors.count`` from the first. `split_keys` is the one encoder of those keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .spec import ValueType, split_path
from .writer import GGUFLayout, OutTensor, encode_kv

SHARD_OVERHEAD = 1 << 20  # room for a shard's header when packing tensors by size


def split_keys(no: int, count: int | None = None, n_tensors: int | None = None, bo: str = "<") -> list[bytes]:
    """Encoded ``split.no`` and, when given, ``split.count`` and ``split.tensors.count``."""
    keys = [encode_kv("split.no", ValueType.UINT16, no, bo=bo)]
    if count is not None:
        keys.append(encode_kv("split.count", ValueType.UINT16, count, bo=bo))
    if n_tensors is not None:
        keys.append(encode_kv("split.tensors.count", ValueType.INT32, n_tensors, bo=bo))
    return keys


def split_layout(layout: GGUFLayout, max_bytes: int) -> list[GGUFLayout]:
    """Split into shards of at most ``max_bytes`` each (a tensor never spans two shards)."""
    if max_bytes <= 0:
        return [layout]
    groups: list[list[OutTensor]] = [[]]
    size = sum(len(kv) for kv in layout.kv)  # the first shard also carries all metadata
    for t in layout.tensors:
        n = t.source.n_bytes + (-t.source.n_bytes % layout.alignment)
        if groups[-1] and size + n + SHARD_OVERHEAD > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(t)
        size += n
    if len(groups) == 1:
        return [layout]
    return shard_layouts(layout, groups)


def shard_layouts(layout: GGUFLayout, groups: Sequence[list[OutTensor]]) -> list[GGUFLayout]:
    """One layout per tensor group, with the split keys in each (metadata in the first only)."""
    bo, count = layout.byteorder, len(groups)
    n_tensors = sum(len(g) for g in groups)
    shards = []
    for no, group in enumerate(groups):
        keys = split_keys(no, count, n_tensors, bo)
        kv = layout.kv + keys if no == 0 else keys
        shards.append(GGUFLayout(layout.version, bo, layout.alignment, kv, group))
    return shards


def output_paths(dst: Path, n_shards: int) -> list[Path]:
    """``dst`` itself, or the shard names of a split output (``.gguf`` stem as the prefix)."""
    if n_shards == 1:
        return [dst]
    stem = dst.with_suffix("") if dst.suffix == ".gguf" else dst
    return [split_path(stem, k, n_shards) for k in range(1, n_shards + 1)]
