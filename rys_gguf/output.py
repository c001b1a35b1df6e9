"""Safe output: temporary files beside the destination, renamed only when complete.

Also splits a layout into shards the way llama.cpp's gguf-split does: every shard is a
standalone GGUF; the first holds all metadata plus ``split.no``/``split.count``/
``split.tensors.count``, the others only the split keys.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError
from .gguffile import GGUFLayout, OutTensor, ValueType, encode_kv, split_path, write_layout

SHARD_OVERHEAD = 1 << 20  # room for a shard's header when packing tensors by size


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
    """One layout per tensor group, with llama.cpp's split keys (metadata in the first only)."""
    bo, count = layout.byteorder, len(groups)
    n_tensors = sum(len(g) for g in groups)
    shards = []
    for no, group in enumerate(groups):
        split_kv = [
            encode_kv("split.no", ValueType.UINT16, no, bo=bo),
            encode_kv("split.count", ValueType.UINT16, count, bo=bo),
            encode_kv("split.tensors.count", ValueType.INT32, n_tensors, bo=bo),
        ]
        kv = layout.kv + split_kv if no == 0 else split_kv
        shards.append(GGUFLayout(layout.version, bo, layout.alignment, kv, group))
    return shards


def output_paths(dst: Path, n_shards: int) -> list[Path]:
    if n_shards == 1:
        return [dst]
    stem = dst.with_suffix("") if dst.suffix == ".gguf" else dst
    return [split_path(stem, k, n_shards) for k in range(1, n_shards + 1)]


def check_destination(dst: Path, sources: Sequence[Path], force: bool) -> None:
    """Refuse writing over a source, into a missing folder, or over a file without force."""
    for src in sources:
        same = dst.exists() and src.exists() and os.path.samefile(dst, src)
        if same or dst.resolve() == src.resolve():
            raise OutputError(f"{dst}: the output is the input file; choose another output path")
    if not dst.parent.is_dir():
        raise OutputError(f"{dst}: folder {dst.parent} does not exist; create it first")
    if dst.exists() and not force:
        raise OutputError(f"{dst}: already exists; pass --force to overwrite it")


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """Checked destination(s) for a layout: final paths, one layout per shard, total size."""

    paths: list[Path]
    shards: list[GGUFLayout]
    n_bytes: int


def plan_outputs(
    dst: Path, layout: GGUFLayout, sources: Sequence[Path], split_max_bytes: int = 0, force: bool = False
) -> OutputPlan:
    """Split ``layout`` if asked and check every destination and the free disk space."""
    shards = split_layout(layout, split_max_bytes)
    paths = output_paths(dst, len(shards))
    for p in paths:
        check_destination(p, sources, force)
    need = sum(s.n_bytes for s in shards)
    free = shutil.disk_usage(dst.parent).free
    if need > free:
        raise OutputError(f"{dst}: not enough disk space ({need / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free)")
    return OutputPlan(paths, shards, need)


def write_outputs(plan: OutputPlan, progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write every shard to a temporary file, then rename them all into place."""
    with staged(plan.paths) as temps:
        for shard, tmp in zip(plan.shards, temps, strict=True):
            with open(tmp, "wb") as fh:
                write_layout(fh, shard, progress)
                fh.flush()
                os.fsync(fh.fileno())
    return plan.paths


@contextlib.contextmanager
def staged(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``paths``; rename them into place only if the body succeeds."""
    temps = [p.with_name(f".{p.name}.partial-{os.getpid()}") for p in paths]
    for p in paths:
        remove_stale_partials(p)
    renamed: list[Path] = []
    try:
        yield temps
        for tmp, final in zip(temps, paths, strict=True):
            os.replace(tmp, final)
            renamed.append(final)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise OutputError(f"{paths[0]}: disk full while writing; nothing was written") from None
        raise OutputError(f"{paths[0]}: cannot write ({e.strerror or e})") from None
    finally:
        if len(renamed) < len(paths):  # interrupted among the renames: never leave part of a split set
            for final in renamed:
                with contextlib.suppress(OSError):
                    final.unlink()
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def remove_stale_partials(path: Path) -> None:
    """Delete temporaries that a killed run (kill -9, OOM) left beside ``path``.

    They are named ``.NAME.partial-PID`` (build) or ``.NAME.PID.*.tmp`` (convert's work folder,
    quantize's output) and removed only when process PID is gone.
    """
    own = re.compile(rf"\.{re.escape(path.name)}\.(?:partial-(\d+)|(\d+)\..*\.tmp)")
    for old in path.parent.glob(f".{glob.escape(path.name)}.*"):
        m = own.fullmatch(old.name)
        if m and not _alive(int(m[1] or m[2])):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True
