"""``build()``: read the source, check everything, then write the RYS model in one pass.

`PreparedBuild` does every check first (plan, architecture rules, destinations, free space),
so a progress bar starts only when the write is sure to be attempted; `write` then streams the
output into temporaries and renames them into place (all shards or none).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..events import OnEvent, Progress, Stage, emit
from ..files import check_destination, check_free_space, format_bytes, staged
from ..gguffile.reader import GGUFModel
from ..gguffile.split import output_paths, split_layout
from ..gguffile.writer import GGUFLayout, write_layout
from ..plan import parse_plan
from .layout import BuildOptions, layout_for_plan
from .source import model_constraints


@dataclass(frozen=True, slots=True)
class BuildResult:
    paths: list[Path]
    n_layers_in: int
    n_layers_out: int
    n_bytes: int
    seconds: float


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
    check_free_space(
        dst.parent,
        need,
        lambda free: f"{dst}: not enough disk space ({format_bytes(need)} needed, {format_bytes(free)} free)",
    )
    return OutputPlan(paths, shards, need)


def write_outputs(plan: OutputPlan, progress: Progress | None = None) -> list[Path]:
    """Write every shard to a temporary file, then rename them all into place."""
    with staged(plan.paths) as temps:
        for shard, tmp in zip(plan.shards, temps, strict=True):
            with open(tmp, "wb") as fh:
                write_layout(fh, shard, progress)
                fh.flush()
                os.fsync(fh.fileno())
    return plan.paths


class PreparedBuild:
    """A checked build (plan valid, destination writable, disk large enough), ready to write."""

    def __init__(
        self, src: str | os.PathLike[str], dst: str | os.PathLike[str], spec: str, options: BuildOptions
    ) -> None:
        self.model = GGUFModel(src)
        try:
            c = model_constraints(self.model)
            self.plan = parse_plan(spec, c.n_layers)
            layout = layout_for_plan(self.model, self.plan, options)
            sources = [f.path for f in self.model.files]
            self.outputs = plan_outputs(Path(dst), layout, sources, options.split_max_bytes, options.force)
        except BaseException:
            self.model.close()
            raise
        self.n_layers_in = c.n_layers + c.n_tail
        self.n_layers_out = len(self.plan.path) + c.n_tail

    @property
    def n_bytes(self) -> int:
        return self.outputs.n_bytes

    def write(self, progress: Progress | None = None) -> BuildResult:
        start = time.monotonic()
        paths = write_outputs(self.outputs, progress)
        return BuildResult(paths, self.n_layers_in, self.n_layers_out, self.n_bytes, time.monotonic() - start)

    def close(self) -> None:
        self.model.close()

    def __enter__(self) -> PreparedBuild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: str,
    options: BuildOptions = BuildOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> BuildResult:
    """Write the RYS model of ``src`` under ``config`` to ``dst`` (atomically, streaming).

    Args:
        src: the source GGUF (or the first shard of a split model); never opened for writing.
        dst: the output path; with ``options.split_max_bytes`` the shards get llama.cpp's names.
        config: a layer plan (``i,j``, ``i,j;k,l`` or ``layers:...``).
        options: overrides and output choices.
        progress: called with the number of bytes written as the copy advances.
        on_event: a `Stage` once everything is checked, before the first byte is written.

    Raises:
        RysError: bad input, a plan the architecture refuses, or an unwritable destination.
    """
    with PreparedBuild(src, dst, config, options) as job:
        emit(on_event, Stage(f"build {job.outputs.paths[0].name}", job.n_bytes, "B"))
        return job.write(progress)
