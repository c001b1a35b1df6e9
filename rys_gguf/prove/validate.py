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

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..builder.layout import BuildOptions
from ..errors import ProbeError, ScanError
from ..events import Event, Note, OnEvent, Progress, emit
from ..files import RESUME_FIX, write_atomic
from ..llama.options import RuntimeOptions
from ..probes import ProbeSpec, fetch_eqbench_v2, load_probe_set
from ..report.ranking import ReportSummary
from ..report.write import ReportOptions, write_report
from ..scan.grid import GridSpec
from ..scan.options import ScanOptions
from ..scan.sweep import run_scan
from ..sweepfolder.fingerprint import sweep_model
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


@dataclass(frozen=True, slots=True)
class ValidateOptions:
    """What ``run_validation`` re-scores: the ``top`` configs on the large sets (EQ: ``eq_set``), or
    ``n_math``/``n_eq`` of their items (quicker, wider intervals); ``min_parse_rate`` replaces the
    scan's guard on the baseline's parse rate; ``memory`` is the budget per device (None: what
    llama.cpp reports; (): no check); ``scan``: how configs are measured (None: the sweep's runtime).
    """

    top: int = 5
    eq_set: str = "eqbench-v2"
    n_math: int | None = None
    n_eq: int | None = None
    min_parse_rate: float | None = None
    memory: tuple[int, ...] | None = None
    scan: ScanOptions | None = None


def run_validation(
    directory: str | os.PathLike[str],
    options: ValidateOptions = ValidateOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> ReportSummary:
    """Validate the top configs of the sweep in ``directory``; returns the new report.

    Configs that cannot fit the memory budget are skipped, and an unchanged model that cannot fit
    stops before loading. ``progress`` and ``on_event`` see the measurements as a scan's
    (``run_scan``); a fallback to the built-in EQ validation set comes as a `Note`.

    Raises:
        ProbeError: the validation probes share items with the sweep's search probes.
        ScanError: nothing scored to validate, or the sweep folder is unreadable.
        MemoryBudgetError: the unchanged model cannot fit the budget.
    """
    o = options
    directory = Path(directory)
    meta = read_meta(directory)
    model_path = sweep_model(directory, meta)  # the file the sweep measured, or a refusal
    summary = write_report(directory, ReportOptions(png=False), on_event=on_event)  # its warnings, once
    configs = summary.shortlist(o.top)
    if not configs:
        raise ScanError(f"{directory}: no scored configs to validate yet; run the scan first")
    probes, note = validation_probes(o.eq_set, o.n_math, o.n_eq)
    check_held_out(directory, meta, probes)
    if note:
        emit(on_event, Note(note))
    base = o.scan or ScanOptions(runtime=RuntimeOptions(**(meta.get("runtime") or {})))
    if o.min_parse_rate is not None:
        base = replace(base, min_parse_rate=o.min_parse_rate)
    build = BuildOptions(write_swa_pattern=bool((meta.get("build") or {}).get("write_swa_pattern")))
    opts = replace(base, probes=probes, grid=GridSpec(configs=(BASELINE, *configs)), build=build)
    if o.memory is not None:
        opts = replace(opts, memory=o.memory)
    sub = directory / VALIDATION_DIR

    def relay(event: Event) -> None:  # the sub-scan's bars and configs; its plan lines are its own
        if not isinstance(event, Note):
            emit(on_event, event)

    run_scan(model_path, sub, opts, progress=progress, on_event=relay)
    write_atomic(directory / VALIDATION_FILE, (sub / RESULTS_FILE).read_bytes(), RESUME_FIX)
    return write_report(directory)
