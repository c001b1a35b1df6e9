"""Stacking: a beam search over multi-block configs, seeded by a sweep's best single blocks.

How the original author built his later models: take the best single blocks of a scan (the pool),
keep the best few configs (the beam), and extend each by one more block from the pool; measure the
most promising extensions (ranked by the parent's score plus the added block's own score), keep the
best of them, and go one block deeper, until the best score stops improving (a plateau) or the
depth limit. A config's score is the metric minus ``penalty`` per added layer, so every extra layer
has to pay for its VRAM. Each later block goes after the last occurrence of layer j-1 (the grammar
of ``plan``), so ``2,7;2,7`` runs layers 2..6 three times.

Configs are compared by their expanded layer paths, never by their spec strings: an extension
whose path the folder already holds (under any spec) is not measured again, its score is reused.
Results go into the sweep folder itself, as rows like any other; z is computed against the single
blocks' mean and spread (the original's "method B"), so scores do not drift as rows are added and
a rerun replays the same beam: the results file is the only state.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..arch import check_path
from ..builder.layout import BuildOptions
from ..builder.source import model_constraints
from ..errors import OptionError, PlanError, RysError, ScanError
from ..events import Note, OnEvent, Progress, emit
from ..gguffile.reader import GGUFModel
from ..llama.options import RuntimeOptions
from ..plan import format_blocks, parse_blocks, parse_plan
from ..sweepfolder.fingerprint import sweep_model
from ..sweepfolder.metric import Delta, check_metric, deltas_of
from ..sweepfolder.records import RESULTS_FILE, probe_spec_of, read_meta, read_rows
from .grid import GridSpec
from .options import ScanOptions
from .sweep import run_scan

Block = tuple[int, int]


@dataclass(frozen=True, slots=True)
class StackOptions:
    """The beam (width, depth, seed pool, evaluations per depth, layer penalty, plateau rule, metric),
    the build rules (None: the sweep's) and how configs are measured (None: the sweep's runtime)."""

    width: int = 4  # configs kept per depth
    depth: int = 3  # most blocks in a config
    pool: int = 8  # best single blocks that extend the beam
    expand: int = 12  # extensions measured per depth (the most promising)
    penalty: float = 0.0  # subtracted from the metric per added layer
    min_gain: float = 0.0  # stop when a depth improves the best score by no more than this
    metric: str = "z"
    build: BuildOptions | None = None
    scan: ScanOptions | None = None


@dataclass(frozen=True, slots=True)
class StackNode:
    """A config of the beam: its blocks, spec, layer path and penalised score."""

    blocks: tuple[Block, ...]
    spec: str
    path: tuple[int, ...]
    score: float


@dataclass(frozen=True, slots=True)
class StackResult:
    """Per depth, the beam kept; how many configs were measured; why the search stopped."""

    beams: tuple[tuple[StackNode, ...], ...]
    n_measured: int
    stopped: str
    best: StackNode | None = None


def stack_scores(deltas: Mapping[str, Delta | None], metric: str, singles: Sequence[str]) -> dict[str, float]:
    """Every scored config's metric; z against the single blocks' mean and spread (method B)."""
    import numpy as np

    from ..sweepfolder.metric import spread

    scored = {c: d for c, d in deltas.items() if d is not None}
    if metric != "z":
        index = {"sum": None, "math": 0, "eq": 1}[metric]
        return {c: (d[0] or 0.0) + (d[1] or 0.0) if index is None else d[index] or 0.0 for c, d in scored.items()}
    base = [scored[c] for c in singles if c in scored]
    stats = []
    for k in (0, 1):
        arr = np.asarray([d[k] or 0.0 for d in base], dtype=float)
        stats.append((float(arr.mean()) if len(arr) else 0.0, spread(arr) if len(arr) else 1.0))
    return {c: sum(((d[k] or 0.0) - stats[k][0]) / stats[k][1] for k in (0, 1)) for c, d in scored.items()}


def extensions(
    beam: Sequence[StackNode],
    pool: Sequence[StackNode],
    n_layers: int,
    allowed: Callable[[Sequence[int], str], bool],
) -> list[tuple[StackNode, float]]:
    """Each beam config extended by each pool block, deduplicated by layer path, most promising first
    (parent score + block score); nodes carry the parent's score until measured."""
    out: dict[tuple[int, ...], tuple[StackNode, float]] = {}
    for parent in beam:
        for block in pool:
            blocks = (*parent.blocks, *block.blocks)
            spec = format_blocks(list(blocks))
            try:
                plan = parse_plan(spec, n_layers)
            except PlanError:
                continue
            if plan.path in out or plan.path == parent.path or not allowed(plan.path, spec):
                continue
            out[plan.path] = (StackNode(blocks, spec, plan.path, parent.score), parent.score + block.score)
    return sorted(out.values(), key=lambda nv: (-nv[1], nv[0].spec))


def check_stack_options(options: StackOptions) -> None:
    """Refuse a layer penalty that is not a finite number >= 0 and a gain that is not finite: a
    NaN score ranks nothing, so the best would be arbitrary."""
    if not (math.isfinite(options.penalty) and options.penalty >= 0):
        raise OptionError(f"--penalty {options.penalty:g}: expected a finite number >= 0 (e.g. 0.05 per added layer)")
    if not math.isfinite(options.min_gain):
        raise OptionError(f"--min-gain {options.min_gain:g}: expected a finite number (e.g. 0.1)")


def run_stack(
    directory: str | os.PathLike[str],
    options: StackOptions = StackOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> StackResult:
    """Beam-search multi-block configs from the single blocks measured in ``directory`` (resumable).

    ``progress`` and ``on_event`` see each depth's measurements as a scan's (``run_scan``).

    Raises:
        ScanError: no scored single blocks, a model or probe set that cannot be rebuilt.
    """
    spec = options
    check_stack_options(spec)
    directory = Path(directory)
    meta = read_meta(directory)
    check_metric(spec.metric, meta, directory)
    build = spec.build or BuildOptions(write_swa_pattern=bool((meta.get("build") or {}).get("write_swa_pattern")))
    base = spec.scan or ScanOptions(runtime=RuntimeOptions(**(meta.get("runtime") or {})))
    opts = replace(base, probes=probe_spec_of(meta, directory), build=build)
    model_path = sweep_model(directory, meta)  # the file the sweep measured, or a refusal
    with GGUFModel(model_path) as model:
        constraints = model_constraints(model)
    n_layers = constraints.n_layers

    def allowed(path: Sequence[int], config: str) -> bool:
        try:
            check_path(constraints, path, config, swa_array=build.write_swa_pattern)
        except RysError:
            return False
        return True

    def known(warnings: list[str] | None = None) -> tuple[dict[tuple[int, ...], float], list[str]]:
        rows = read_rows(directory / RESULTS_FILE, warnings, n_layers=n_layers)
        singles = [r["config"] for r in rows if _single(r["config"])]
        scores = stack_scores(deltas_of(rows), spec.metric, singles)
        by_path: dict[tuple[int, ...], float] = {}
        for config, value in scores.items():
            try:
                plan = parse_plan(config, n_layers)
            except PlanError:
                continue
            by_path.setdefault(plan.path, value - spec.penalty * plan.n_extra)
        return by_path, singles

    warnings: list[str] = []
    by_path, singles = known(warnings)
    for warning in warnings:  # rows that cannot be used: named once, before the first depth
        emit(on_event, Note(warning, warning=True))
    seeds = []
    for config in singles:
        plan = parse_plan(config, n_layers)
        if plan.path in by_path:
            seeds.append(StackNode(tuple(parse_blocks(config)), plan.spec, plan.path, by_path[plan.path]))
    if not seeds:
        raise ScanError(f"{directory / RESULTS_FILE}: no scored single block to stack; run a scan first")
    seeds.sort(key=lambda n: (-n.score, n.spec))
    pool, beam = seeds[: spec.pool], seeds[: spec.width]
    best, beams, measured = beam[0], [tuple(beam)], 0
    stopped = f"reached the depth limit ({spec.depth} blocks)"
    for _ in range(2, spec.depth + 1):
        chosen = [node for node, _ in extensions(beam, pool, n_layers, allowed)[: spec.expand]]
        todo = [n.spec for n in chosen if n.path not in by_path]
        if todo:
            grid = GridSpec(configs=tuple(todo))
            scan = run_scan(model_path, directory, replace(opts, grid=grid), progress=progress, on_event=on_event)
            measured += scan.n_run
            by_path, _ = known()
        scored = sorted(
            (replace(n, score=by_path[n.path]) for n in chosen if n.path in by_path), key=lambda n: (-n.score, n.spec)
        )
        if not scored:
            stopped = "no extension could be measured"
            break
        beam = scored[: spec.width]
        beams.append(tuple(beam))
        if beam[0].score <= best.score + spec.min_gain:
            stopped = f"plateau: {len(beam[0].blocks)} blocks gained no more than {spec.min_gain:g} over the best"
            best = max(best, beam[0], key=lambda n: n.score)
            break
        best = beam[0]
    return StackResult(tuple(beams), measured, stopped, best)


def _single(config: str) -> bool:
    try:
        blocks = parse_blocks(config)
    except PlanError:
        return False
    return len(blocks) == 1 and blocks[0] != (0, 0)
