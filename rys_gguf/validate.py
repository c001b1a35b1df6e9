"""Validation stage: re-score the top configs and the baseline with the large probe sets.

The search probes are small (16 + 16 items), so rankings carry noise. Validation reruns the
best K configs and the baseline on 120 math items and the larger EQ set (EQ-Bench v2's 171
questions when they can be fetched, else the built-in set), in a sub-sweep ``DIR/validation``
that resumes like any scan, then adds paired-bootstrap intervals to the report.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .errors import ProbeError, ScanError
from .probes import load_probe_set
from .ranking import ReportSummary
from .report import VALIDATION_FILE, write_report
from .runner import RuntimeOptions
from .scan import BASELINE, GridSpec, ProbeSpec, ScanEvent, ScanOptions, run_scan
from .sweepdir import read_meta

SUBDIR = "validation"


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
) -> tuple[ReportSummary, str | None]:
    """Validate the top ``top`` configs of the sweep in ``directory``; returns the new report."""
    meta = read_meta(directory)
    summary = write_report(directory, png=False)
    configs = [s.config for s in summary.ranked[:top]]
    if not configs:
        raise ScanError(f"{directory}: no scored configs to validate yet; run the scan first")
    probes, note = validation_probes(eq)
    base = options or ScanOptions(runtime=RuntimeOptions(**(meta.get("runtime") or {})))
    opts = replace(base, probes=probes, grid=GridSpec(configs=(BASELINE, *configs)))
    sub = directory / SUBDIR
    run_scan(Path(meta["model"]["path"]), sub, opts, on_event)
    tmp = directory / (VALIDATION_FILE + ".partial")
    shutil.copyfile(sub / "results.jsonl", tmp)
    os.replace(tmp, directory / VALIDATION_FILE)
    return write_report(directory), note
