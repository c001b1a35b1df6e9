"""Validation stage: re-score the top configs and the baseline with the large probe sets.

The search probes are small (16 + 16 items), so rankings carry noise. Validation reruns the
best K configs (after a search: its picks by its denoised estimate) and the baseline on 120 math
items and the larger EQ set (EQ-Bench v2's 171 questions when they can be fetched, else the
project's held-out built-in validation set of 49 dialogues), in a sub-sweep ``DIR/validation``
that resumes like any scan, then adds paired-bootstrap intervals to the report. A validation
set that shares items with the sweep's search probes is refused: re-scoring the items a search
was tuned on would only measure its luck again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from ..builder.layout import BuildOptions
from ..errors import ProbeError, ScanError
from ..files import RESUME_FIX, write_atomic
from ..llama.options import RuntimeOptions
from ..probes import ProbeSpec, fetch_eqbench_v2, load_probe_set
from ..report.ranking import ReportSummary
from ..report.write import write_report
from ..scan.grid import GridSpec
from ..scan.options import ScanOptions
from ..scan.pool import ScanEvent
from ..scan.sweep import run_scan
from ..sweepfolder.records import (
    BASELINE,
    RESULTS_FILE,
    VALIDATION_DIR,
    VALIDATION_FILE,
    SweepMeta,
    probe_spec_of,
    read_meta,
)


def validation_probes(
    eq: str = "eqbench-v2", n_math: int | None = None, n_eq: int | None = None
) -> tuple[ProbeSpec, str | None]:
    """The large sets (or ``n_math``/``n_eq`` of their items); falls back to the held-out built-in
    EQ set (with a note) when v2 is unavailable."""
    spec, note = ProbeSpec(math="validation", eq=eq, n_math=n_math, n_eq=n_eq), None
    if eq == "eqbench-v2":
        try:
            fetch_eqbench_v2()
        except ProbeError as e:
            note = f"EQ-Bench v2 unavailable ({e}); used the held-out built-in EQ validation set"
            spec = replace(spec, eq="validation")
    load_probe_set(**asdict(spec))  # a sample size out of range or a bad EQ file fails here, as it is
    return spec, note


def check_held_out(directory: Path, meta: SweepMeta, probes: ProbeSpec) -> None:
    """Refuse validation probes that share items with the probes the sweep searched with."""
    try:
        searched = load_probe_set(**asdict(probe_spec_of(meta, directory))).items
    except ScanError:  # e.g. an EQ file the sweep used: compare the sets' names instead
        names = meta.get("probe_set") or {}
        wanted = load_probe_set(**asdict(probes)).description
        same = [p for p in ("math", "eq") if names.get(p) not in (None, "none") and names.get(p) == wanted[p]]
        if same:
            raise ProbeError(
                f"validate: the {same[0]} set {wanted[same[0]]} is the one the sweep searched with; a validation "
                "must be held out: use --eq-set eqbench-v2 or validation"
            ) from None
        return
    seen = {item.user: item.id for item in searched}
    shared = [(item, seen[item.user]) for item in load_probe_set(**asdict(probes)).items if item.user in seen]
    if shared:
        item, was = shared[0]
        raise ProbeError(
            f"validate: the {item.probe} set shares {len(shared)} item(s) with the probes the sweep searched with "
            f"(e.g. {was}); re-scoring the items a search was tuned on validates nothing: use --eq-set eqbench-v2 or "
            "validation (the held-out built-in set)"
        )


def finalists(summary: ReportSummary, top: int) -> list[str]:
    """The configs to re-score: a search's picks by its estimate, else the ranking's top."""
    if summary.search is not None and summary.search.picks:
        return [config for config, _ in summary.search.picks[:top]]
    return [s.config for s in summary.ranked[:top]]


def run_validation(
    directory: Path,
    top: int = 5,
    eq: str = "eqbench-v2",
    options: ScanOptions | None = None,
    on_event: Callable[[ScanEvent], None] | None = None,
    n_math: int | None = None,
    n_eq: int | None = None,
    min_parse_rate: float | None = None,
    memory: tuple[int, ...] | None = None,
) -> tuple[ReportSummary, str | None]:
    """Validate the top ``top`` configs of the sweep in ``directory``; returns the new report.
    ``n_math``/``n_eq`` take a smaller sample of the validation sets (quicker, wider intervals);
    ``min_parse_rate`` replaces the options' guard on the baseline's parse rate. ``memory`` is the
    budget per device (None: what llama.cpp reports; (): no check): configs that cannot fit are
    skipped, and an unchanged model that cannot fit stops before loading.

    Raises:
        ProbeError: the validation probes share items with the sweep's search probes.
        ScanError: nothing scored to validate, or the sweep folder is unreadable.
        MemoryBudgetError: the unchanged model cannot fit the budget.
    """
    meta = read_meta(directory)
    summary = write_report(directory, png=False)
    configs = finalists(summary, top)
    if not configs:
        raise ScanError(f"{directory}: no scored configs to validate yet; run the scan first")
    probes, note = validation_probes(eq, n_math, n_eq)
    check_held_out(directory, meta, probes)
    base = options or ScanOptions(runtime=RuntimeOptions(**(meta.get("runtime") or {})))
    if min_parse_rate is not None:
        base = replace(base, min_parse_rate=min_parse_rate)
    build = BuildOptions(write_swa_pattern=bool((meta.get("build") or {}).get("write_swa_pattern")))
    opts = replace(base, probes=probes, grid=GridSpec(configs=(BASELINE, *configs)), build=build)
    if memory is not None:
        opts = replace(opts, memory=memory)
    sub = directory / VALIDATION_DIR
    run_scan(Path(meta["model"]["path"]), sub, opts, on_event)
    write_atomic(directory / VALIDATION_FILE, (sub / RESULTS_FILE).read_bytes(), RESUME_FIX)
    return write_report(directory), note
