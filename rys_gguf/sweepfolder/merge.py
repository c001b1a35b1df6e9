"""Join sweeps of one model and probe set (one folder per machine, or per --shard slice) into one.

One row per config: a scored row wins over a failed one, then the later finish. Sweeps of another
model or probe set are refused, as is an output folder that holds other results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from ..errors import ScanError
from ..events import Note, OnEvent, Progress, emit
from ..files import RESUME_FIX, write_atomic
from ..untrusted import safe_json
from .records import (
    RESULTS_FILE,
    SKIPPED_FILE,
    SWEEP_FILE,
    ResultRow,
    SweepMeta,
    identity,
    read_skipped,
    read_sweep,
    write_json_atomic,
)


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What ``merge_sweeps`` wrote: counts and the output folder."""

    out: Path
    n_sweeps: int
    n_rows_read: int
    n_configs: int
    n_skipped: int
    warnings: tuple[str, ...]


def _finished(row: ResultRow) -> datetime:
    text = row.get("finished")
    if isinstance(text, str):
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime.min.replace(tzinfo=timezone.utc)


def _better(new: ResultRow, old: ResultRow) -> bool:
    """Prefer an "ok" row over a failed one, then the later finish time (ties: the later sweep)."""
    new_ok, old_ok = new.get("status") == "ok", old.get("status") == "ok"
    if new_ok != old_ok:
        return new_ok
    return _finished(new) >= _finished(old)


def merge_sweeps(
    out: str | os.PathLike[str],
    dirs: Sequence[str | os.PathLike[str]],
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> MergeResult:
    """Combine sweeps of the same model and probe set into ``out``, one row per config.

    Refuses (ScanError) sweeps whose model fingerprint or probe-set hash differ from the first,
    and an ``out`` that already holds other results unless it is one of the inputs. It has no
    options; what was read with a problem comes as a warning `Note` (and in ``warnings``).
    Nothing here counts ``progress``.
    """
    out = Path(out)
    if not dirs:
        raise ScanError("merge: no sweep folders given; pass OUT then at least one DIR")
    warnings: list[str] = []
    metas: list[SweepMeta] = []
    rows_by_dir: list[list[ResultRow]] = []
    for d in dirs:
        meta, rows = read_sweep(Path(d), warnings)
        metas.append(meta)
        rows_by_dir.append(rows)
    first_id = identity(metas[0])
    if None in first_id:
        raise ScanError(f"{Path(dirs[0]) / SWEEP_FILE}: no model.fingerprint or probe_set.hash")
    for d, meta, rows in zip(dirs, metas, rows_by_dir, strict=True):
        fingerprint, probe_hash = identity(meta)
        if fingerprint != first_id[0]:
            raise ScanError(
                f"{Path(d) / SWEEP_FILE}: another model (fingerprint {str(fingerprint)[:12]}… "
                f"vs {str(first_id[0])[:12]}… in {dirs[0]}); merge only sweeps of one model file"
            )
        if probe_hash != first_id[1]:
            raise ScanError(
                f"{Path(d) / SWEEP_FILE}: another probe set (hash {str(probe_hash)[:12]}… "
                f"vs {str(first_id[1])[:12]}… in {dirs[0]}); scores are not comparable"
            )
        for row in rows:
            row_id = (row.get("model_fingerprint", first_id[0]), row.get("probe_set_hash"))
            if row_id[0] != first_id[0] or row_id[1] not in (None, first_id[1]):
                raise ScanError(
                    f"{Path(d) / RESULTS_FILE}: config {row['config']} was scored on another "
                    "model or probe set than its sweep.json says; remove that line"
                )
    resolved = {Path(d).resolve() for d in dirs}
    if (out / RESULTS_FILE).exists() and out.resolve() not in resolved:
        raise ScanError(
            f"{out / RESULTS_FILE}: already exists; merge into an empty folder or list OUT among the inputs too"
        )

    merged: dict[str, ResultRow] = {}
    for rows in rows_by_dir:
        for row in rows:
            old = merged.get(row["config"])
            if old is None or _better(row, old):
                merged[row["config"]] = row
    skipped: dict[str, str] = {}
    for d in dirs:
        skipped.update(read_skipped(Path(d)))
    for config in merged:
        skipped.pop(config, None)

    meta = cast(SweepMeta, {k: v for k, v in metas[0].items() if k != "shard"})
    meta["merged_from"] = [str(Path(d).resolve()) for d in dirs]
    out.mkdir(parents=True, exist_ok=True)
    _write_rows_atomic(out / RESULTS_FILE, list(merged.values()))
    write_json_atomic(out / SKIPPED_FILE, {"count": len(skipped), "configs": skipped})
    write_json_atomic(out / SWEEP_FILE, meta)
    for warning in warnings:
        emit(on_event, Note(warning, warning=True))
    return MergeResult(
        out=out,
        n_sweeps=len(dirs),
        n_rows_read=sum(len(r) for r in rows_by_dir),
        n_configs=len(merged),
        n_skipped=len(skipped),
        warnings=tuple(warnings),
    )


def _write_rows_atomic(path: Path, rows: list[ResultRow]) -> None:
    text = "".join(safe_json(r, separators=(", ", ": ")) + "\n" for r in rows)
    write_atomic(path, text, RESUME_FIX)
