"""Which configs a sweep runs, and in what order: the filtered triangle or a configs file,
this machine's ``--slice``, the architecture rules' skips, the baseline first, then by
shift (j - i) so the layer cache stays small."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..arch import check_path
from ..builder.layout import BuildOptions
from ..builder.source import model_constraints
from ..errors import RysError, ScanError
from ..files import read_text
from ..gguffile.reader import GGUFModel
from ..plan import LayerPlan, block_grid, canonical, parse_plan
from ..sweepfolder.records import BASELINE
from .slices import grid_slice


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Which configs to sweep: a filtered triangle, or the specs of a file."""

    min_block: int = 1
    max_block: int | None = None
    starts: tuple[int, int] | None = None
    configs_file: Path | None = None
    configs: tuple[str, ...] = ()  # explicit specs (used by validation)
    machine_slice: tuple[int, int] | None = None  # (k, n): this machine's slice (--slice k/n)


@dataclass(frozen=True, slots=True)
class SweepPlan:
    configs: list[LayerPlan]  # to run, baseline first
    skipped: dict[str, str]  # spec -> why the architecture rules refuse it


def read_config_file(path: Path, n_layers: int) -> list[LayerPlan]:
    """One spec per line ('#' comments and blank lines ignored); errors name the line. A config
    spelled several ways (``4,8``, ``[4,8]``, its ``layers:`` path) is one plan, under its one key."""
    lines = read_text(path, "configs file").splitlines()
    plans = []
    for no, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            try:
                plans.append(parse_plan(text, n_layers))
            except RysError as e:
                raise ScanError(f"{path}:{no}: {e}") from None
    if not plans:
        raise ScanError(f"{path}: no configs in the file")
    return one_per_path(plans)


def one_per_path(plans: list[LayerPlan]) -> list[LayerPlan]:
    """Each layer path once (the first spelling's place), under its canonical key."""
    seen: dict[tuple[int, ...], LayerPlan] = {}
    for plan in plans:
        seen.setdefault(plan.path, canonical(plan))
    return list(seen.values())


def shift_order(plan: LayerPlan) -> tuple[int, int]:
    """Sort key that groups configs needing the same shifted shards."""
    offsets = [k - src for k, src in enumerate(plan.path) if k != src]
    return (max(offsets, default=0), min(offsets, default=0))


def plan_sweep(model: GGUFModel, grid: GridSpec, build: BuildOptions = BuildOptions()) -> SweepPlan:
    """The configs to run (baseline first, then by shift) and those the rules skip."""
    c = model_constraints(model)
    if c.refused and not (build.allow_unknown_arch and "not in rys-gguf" in c.refused):
        raise ScanError(f"{model.path}: {c.arch} is refused: {c.refused}")
    n = c.n_layers
    if grid.configs:
        plans = one_per_path([parse_plan(spec, n) for spec in grid.configs])
    elif grid.configs_file is not None:
        plans = read_config_file(grid.configs_file, n)
    else:
        blocks = block_grid(n, grid.min_block, grid.max_block, grid.starts)
        plans = sorted((parse_plan(f"{i},{j}", n) for i, j in blocks), key=lambda p: (p.n_extra, p.path))
    plans = [p for p in plans if p.spec != BASELINE]
    if grid.machine_slice is not None:
        by_spec = {p.spec: p for p in plans}
        chosen = grid_slice(list(by_spec), lambda s: len(by_spec[s].path), *grid.machine_slice)
        plans = [by_spec[s] for s in chosen]
    runnable, skipped = [], {}
    for plan in plans:
        try:
            check_path(
                c, plan.path, plan.spec, swa_array=build.write_swa_pattern, allow_unknown=build.allow_unknown_arch
            )
            runnable.append(plan)
        except RysError as e:
            skipped[plan.spec] = str(e)
    runnable.sort(key=shift_order)
    return SweepPlan([parse_plan(BASELINE, n), *runnable], skipped)
