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

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .errors import ScanError
from .gguffile import GGUFLayout, GGUFModel, OutTensor, ValueType, encode_kv, split_path, write_layout
from .plan import LayerPlan
from .rewrite import BuildOptions, layout_for_plan, model_constraints

Entry = tuple[int, int]  # (output position, source layer)


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

    def _split_no(self, no: int) -> bytes:
        return encode_kv("split.no", ValueType.UINT16, no, bo=self._first.byteorder)

    def _write(self, path: Path, layout: GGUFLayout) -> None:
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                write_layout(fh, layout)
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ScanError(
                f"{path}: cannot write cache shard ({e.strerror or e}); free space or pick another --cache-dir"
            ) from None
        self.n_bytes_written += path.stat().st_size

    def assemble(self, plan: LayerPlan, folder: Path, stem: str = "model") -> Path:
        """Link a loadable split model for ``plan`` into ``folder``; returns its first shard."""
        layout = layout_for_plan(self.model, plan, self.options)
        globals_: list[OutTensor] = []
        layers: dict[int, list[OutTensor]] = {}
        for t in layout.tensors:
            if t.name.startswith("blk."):
                layers.setdefault(int(t.name.split(".")[1]), []).append(t)
            else:
                globals_.append(t)
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
        split_kv = [
            self._split_no(0),
            encode_kv("split.count", ValueType.UINT16, count, bo=self._first.byteorder),
            encode_kv("split.tensors.count", ValueType.INT32, len(layout.tensors), bo=self._first.byteorder),
        ]
        first = folder / split_path(stem, 1, count).name
        self._write(first, self._layout(layout.kv + split_kv, []))
        targets = [self._globals(globals_)]
        for k, src in enumerate(full):
            path = self._entry_path((k, src))
            if not path.exists():
                self._write(path, self._layout([self._split_no(k + 2)], layers[k]))
            targets.append(path)
        for no, target in enumerate(targets, start=2):
            os.symlink(target.resolve(), folder / split_path(stem, no, count).name)
        return first

    def _globals(self, tensors: list[OutTensor]) -> Path:
        path = self.root / "globals.gguf"
        if not path.exists():
            self._write(path, self._layout([self._split_no(1)], tensors))
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
