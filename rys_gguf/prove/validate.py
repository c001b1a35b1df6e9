"""Validation stage: re-score the top configs and the baseline with the large probe sets.

The search probes are small (16 + 16 items), so rankings carry noise. Validation reruns the
best K configs and the baseline on 120 math items and the larger EQ set (EQ-Bench v2's 171
questions when they can be fetched, else the built-in set), in a sub-sweep ``DIR/validation``
that resumes like any scan, then adds paired-bootstrap intervals to the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import ProbeError, ScanError
from ..files import RESUME_FIX, write_atomic
from ..llama.options import RuntimeOptions
from ..probes import ProbeSpec, load_probe_set
from ..report.ranking import ReportSummary
from ..report.write import write_report
from ..scan.grid import GridSpec
from ..scan.options import ScanOptions
from ..scan.pool import ScanEvent
from ..scan.sweep import run_scan
from ..scan.sweepdir import BASELINE, RESULTS_FILE, VALIDATION_DIR, VALIDATION_FILE, read_meta


def validation_probes(eq: str = "eqbench-v2") -> tuple[ProbeSpec, str | None]:
    """The large sets; falls back to the built-in EQ set (with a note) when v2 is unavailable."""
    try:
        load_probe_set(math="validation", eq=eq)
        return ProbeSpec(math="validation", eq=eq), None
    except ProbeError as e:
        if eq != "eqbench-v2":
            raise
        return ProbeSpec(math="validation", eq="builtin"), f"EQ-Bench v2 unavailable ({e}); used the built-in EQ set"


def run_validation(
    directory: Path,
    top: int = 5,
    eq: str = "eqbench-v2",
    options: ScanOptions | None = None,
    on_event: Callable[[ScanEvent], None] | None = None,
    memory: tuple[int, ...] | None = None,
) -> tuple[ReportSummary, str | None]:
    """Validate the top ``top`` configs of the sweep in ``directory``; returns the new report.

    ``memory`` is the budget per device (None: what llama.cpp reports; (): no check): configs
    that cannot fit are skipped, and an unchanged model that cannot fit stops before loading.
    """
    meta = read_meta(directory)
    summary = write_report(directory, png=False)
    configs = [s.config for s in summary.ranked[:top]]
    if not configs:
        raise ScanError(f"{directory}: no scored configs to validate yet; run the scan first")
    probes, note = validation_probes(eq)
    base = options or ScanOptions(runtime=RuntimeOptions(**(meta.get("runtime") or {})))
    opts = replace(base, probes=probes, grid=GridSpec(configs=(BASELINE, *configs)))
    if memory is not None:
        opts = replace(opts, memory=memory)
    sub = directory / VALIDATION_DIR
    run_scan(Path(meta["model"]["path"]), sub, opts, on_event)
    write_atomic(directory / VALIDATION_FILE, (sub / RESULTS_FILE).read_bytes(), RESUME_FIX)
    return write_report(directory), note
