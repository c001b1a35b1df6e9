"""Assemble a config's model from cached per-layer shards instead of rewriting the whole file.

llama.cpp loads split GGUFs (``name-00001-of-000NN.gguf``), reads metadata only from the first
shard, accepts a first shard without tensors, and only checks ``split.no`` in the others. So a
config is a folder of links with the standard names:

- shard 1: metadata only (layer count, re-indexed arrays), written per config;
- shard 2: the global tensors (embeddings, output), written once;
- shard k+3: ``blk.k.*`` holding source layer path[k], cached per (position, source) pair and
  reused by every config that needs it.

Ordering configs by shift (j - i) keeps the cache near twice the model size: the unshifted
pairs (k, k) serve every config, the shifted ones only the configs of one shift.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..builder.layout import BuildOptions, layout_for_plan
from ..builder.source import model_constraints
from ..errors import ScanError
from ..files import check_free_space, temp_path, try_lock
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import group_by_layer, split_path
from ..gguffile.split import split_keys
from ..gguffile.writer import GGUFLayout, OutTensor, write_layout
from ..plan import LayerPlan

Entry = tuple[int, int]  # (output position, source layer)
CACHE_PREFIX = ".rys-cache-"


class ShardCache:
    """Per-layer shard files for one source model, under ``root``."""

    def __init__(self, model: GGUFModel, root: Path, options: BuildOptions = BuildOptions()) -> None:
        self.model = model
        self.root = root
        self.options = options
        self.n_bytes_written = 0
        c = model_constraints(model)
        self.n_tail = c.n_tail
        self.n_trunk = c.n_layers
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / ".writable"
            probe.touch()
            probe.unlink()
            # Held while this cache lives: a scan killed with -9 releases it, so the next scan
            # sharing the cache folder knows the leftover is stale (remove_stale_caches).
            lock = try_lock(root)
            if lock is None:
                raise OSError(0, "another scan holds it")
            self._lock: IO[str] = lock
        except OSError as e:
            raise ScanError(
                f"{root}: cache folder is not writable ({e.strerror or e}); pick another --cache-dir"
            ) from None
        self._first = model.first

    def full_path(self, plan: LayerPlan) -> list[int]:
        return list(plan.path) + list(range(self.n_trunk, self.n_trunk + self.n_tail))

    def entries(self, plan: LayerPlan) -> set[Entry]:
        return set(enumerate(self.full_path(plan)))

    def _entry_path(self, entry: Entry) -> Path:
        return self.root / f"pos{entry[0]:04d}-src{entry[1]:04d}.gguf"

    def _layout(self, kv: list[bytes], tensors: list[OutTensor]) -> GGUFLayout:
        f = self._first
        return GGUFLayout(f.version, f.byteorder, f.alignment, kv, tensors)

    def _split_no(self, no: int) -> list[bytes]:
        return split_keys(no, bo=self._first.byteorder)

    def _write(self, path: Path, layout: GGUFLayout) -> None:
        # Not fsynced: the cache is scratch space, rebuilt by the next scan after a crash.
        tmp = temp_path(path)
        try:
            with open(tmp, "wb") as fh:
                write_layout(fh, layout)
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ScanError(
                f"{path}: cannot write cache shard ({e.strerror or e}); free space or pick another --cache-dir"
            ) from None
        self.n_bytes_written += path.stat().st_size

    def assemble(self, plan: LayerPlan, folder: Path, stem: str = "model") -> Path:
        """Link a loadable split model for ``plan`` into ``folder``; returns its first shard."""
        layout = layout_for_plan(self.model, plan, self.options)
        grouped = group_by_layer(layout.tensors)
        layers = {k: [t for _, t in pairs] for k, pairs in grouped.layers.items()}
        globals_ = grouped.others
        full = self.full_path(plan)
        missing = [k for k in range(len(full)) if k not in layers]
        if missing or not globals_:
            raise ScanError(
                f"{self.model.path}: layer {missing[0] if missing else '?'} has no tensors; cannot assemble shards"
            )
        count = len(full) + 2
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.gguf"):
            old.unlink()
        split_kv = split_keys(0, count, len(layout.tensors), self._first.byteorder)
        first = folder / split_path(stem, 1, count).name
        self._write(first, self._layout(layout.kv + split_kv, []))
        targets = [self._globals(globals_)]
        for k, src in enumerate(full):
            path = self._entry_path((k, src))
            if not path.exists():
                self._write(path, self._layout(self._split_no(k + 2), layers[k]))
            targets.append(path)
        for no, target in enumerate(targets, start=2):
            os.symlink(target.resolve(), folder / split_path(stem, no, count).name)
        return first

    def _globals(self, tensors: list[OutTensor]) -> Path:
        path = self.root / "globals.gguf"
        if not path.exists():
            self._write(path, self._layout(self._split_no(1), tensors))
        return path

    def retain(self, plans: Iterable[LayerPlan]) -> None:
        """Delete cached layer shards that neither an unshifted pair nor ``plans`` need."""
        keep: set[Entry] = set()
        for plan in plans:
            keep |= self.entries(plan)
        for path in self.root.glob("pos*-src*.gguf"):
            k, src = int(path.name[3:7]), int(path.name[11:15])
            if k != src and (k, src) not in keep:
                path.unlink(missing_ok=True)

    def n_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("*.gguf"))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._lock.close()


def remove_stale_caches(folder: Path) -> None:
    """Delete the shard caches (``.rys-cache-*``) under ``folder`` that no live scan holds."""
    for old in folder.glob(CACHE_PREFIX + "*"):
        try:
            lock = try_lock(old)
        except OSError:
            lock = None  # no lock file to take (not a folder, a cache of an older version): stale too
        else:
            if lock is None:
                continue  # a running scan's cache
            lock.close()
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class CacheNeed:
    """The shard cache's peak size for a sweep, and what it is made of (bytes)."""

    n_globals: int
    n_unshifted: int  # the (k, k) layer shards: kept for the whole sweep
    n_shifted: int  # the largest set of shifted layer shards alive at once
    n_metadata: int  # one metadata shard per worker slot
    n_layers_unshifted: int
    n_layers_shifted: int

    @property
    def n_bytes(self) -> int:
        return self.n_globals + self.n_unshifted + self.n_shifted + self.n_metadata


BLOCK = 4096  # files take whole filesystem blocks


def cache_need(
    model: GGUFModel, plans: Sequence[LayerPlan], n_slots: int = 1, options: BuildOptions = BuildOptions()
) -> CacheNeed:
    """The peak disk use of a sweep over ``plans`` (in run order), from the tensor sizes.

    The cache keeps every unshifted shard, the globals shard and one metadata shard per slot;
    after each config it drops the shifted shards that neither the running configs nor the next
    ``n_slots`` need, so at most ``2 * n_slots - 1`` consecutive configs' shifted shards coexist.
    """
    if not plans:
        return CacheNeed(0, 0, 0, 0, 0, 0)
    f = model.first
    c = model_constraints(model)

    def shard_bytes(tensors: list[OutTensor], kv: list[bytes]) -> int:
        n = GGUFLayout(f.version, f.byteorder, f.alignment, kv, tensors).n_bytes
        return n + (-n % BLOCK)

    split_no = split_keys(0, bo=f.byteorder)
    grouped = group_by_layer(OutTensor(t.name, t) for t in model.tensors)
    globals_ = grouped.others
    size = {src: shard_bytes([t for _, t in pairs], split_no) for src, pairs in grouped.layers.items()}
    tail = list(range(c.n_layers, c.n_layers + c.n_tail))
    entries = [set(enumerate([*plan.path, *tail])) for plan in plans]
    unshifted = set().union(*({e for e in es if e[0] == e[1]} for es in entries))
    window = 2 * max(n_slots, 1) - 1
    shifted: set[tuple[int, int]] = set()
    for k in range(len(entries)):
        alive = set().union(*({e for e in es if e[0] != e[1]} for es in entries[k : k + window]))
        if sum(size.get(src, 0) for _, src in alive) > sum(size.get(src, 0) for _, src in shifted):
            shifted = alive
    layout = layout_for_plan(model, max(plans, key=lambda p: len(p.path)), options)
    # Beside it in each slot's folder: job.json, result.json and the worker's log, a block each.
    per_slot = shard_bytes([], layout.kv + split_keys(0, 0, 0, f.byteorder)) + 3 * BLOCK
    return CacheNeed(
        n_globals=shard_bytes(globals_, split_no),
        n_unshifted=sum(size.get(src, 0) for _, src in unshifted),
        n_shifted=sum(size.get(src, 0) for _, src in shifted),
        n_metadata=max(n_slots, 1) * per_slot,
        n_layers_unshifted=len(unshifted),
        n_layers_shifted=len(shifted),
    )


def ensure_disk(model: GGUFModel, base: Path, plans: list[LayerPlan], n_slots: int, options: BuildOptions) -> None:
    """Refuse to start a sweep whose shard cache cannot fit on the disk under ``base``."""
    need = cache_need(model, plans, n_slots, options)
    n_layers = plans[0].n_layers if plans else 0
    check_free_space(
        base,
        need.n_bytes,
        lambda free: (
            f"{base}: the shard cache needs {need.n_bytes / 1e9:.2f} GB at its peak (globals "
            f"{need.n_globals / 1e9:.2f} + {need.n_layers_unshifted} unshifted layers {need.n_unshifted / 1e9:.2f} + "
            f"{need.n_layers_shifted} shifted layers {need.n_shifted / 1e9:.2f} + metadata "
            f"{need.n_metadata / 1e9:.2f} GB) but {free / 1e9:.2f} GB are free; pick a --cache-dir with more "
            f"room, or skip early block starts with --start A:{n_layers} (a block starting at layer i caches "
            f"{n_layers}-i shifted layers; --max-block shortens the sweep but not this peak)"
        ),
    )
