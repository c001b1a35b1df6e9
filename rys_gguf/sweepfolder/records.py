"""The sweep folder: read, append to and merge it (sweep.json + results.jsonl + skipped.json).

The folder format is the contract between scan, report, merge and validate, typed here once:
sweep.json (`SweepMeta`) holds the sweep's identity (model fingerprint, probe-set hash),
results.jsonl one `ResultRow` per finished config, skipped.json the configs the architecture
rules ruled out, search.json (written by a search) what the search was asked. Readers keep the
last line per config. Strings from the model file (its name) are written with their hidden
characters as ``\\u`` escapes, so ``cat sweep.json`` is safe and the data exact. Deliberately left
out: locking (the scan engine owns the sweep lock) and any scoring.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict, cast

from ..arch import LLAMA_MAX_LAYERS
from ..errors import PlanError, ProbeError, ScanError
from ..files import RESUME_FIX, write_atomic, write_error
from ..plan import canonical_spec
from ..probes import ProbeSpec, load_probe_set
from ..untrusted import safe_json
from .checks import FORMAT as FORMAT
from .checks import STATUSES, check_meta, row_problem, skipped_rows_warning

SWEEP_FILE = "sweep.json"
RESULTS_FILE = "results.jsonl"
SKIPPED_FILE = "skipped.json"
VALIDATION_FILE = "validation.jsonl"
VALIDATION_DIR = "validation"
SEARCH_FILE = "search.json"  # what a search was asked (strategy, budget, seed, the configs it chose among)
BASELINE = "0,0"  # the unchanged model: measured first, the reference of every delta
# A row with one of these is done (a resumed scan skips it); only "ok" rows carry scores. An
# early-stopped config produced garbage from its first answers and was cut short (never a zero).
FINISHED = STATUSES


class ModelInfo(TypedDict, total=False):
    path: str
    name: str | None
    architecture: str
    n_layers: int
    n_bytes: int
    fingerprint: str


class ProbeSetInfo(TypedDict, total=False):
    hash: str
    math: str
    eq: str
    eq_scorer: str
    n_math: int
    n_eq: int
    seed: int


class SweepMeta(TypedDict, total=False):
    """sweep.json: what was swept, with which probes and runtime."""

    format: int
    tool_version: str
    model: ModelInfo
    probe_set: ProbeSetInfo
    runtime: dict[str, Any]
    build: dict[str, Any]  # the build rules configs were assembled with (write_swa_pattern)
    created: str
    merged_from: list[str]


class _Config(TypedDict):
    config: str


class ResultRow(_Config, total=False):
    """One line of results.jsonl: a finished config (scored or failed) and how it ran."""

    block: list[int] | None
    status: str  # "ok" | "failed" | "early-stopped"
    reason: str | None
    n_layers: int
    n_extra: int
    math: float | None
    eq: float | None
    math_parse_rate: float | None
    eq_parse_rate: float | None
    items: dict[str, list[float | None]] | None
    answers: list[str] | None
    early_stop: dict[str, Any]  # early-stopped rows: reason, seen (garbage kinds), after_tokens
    timings: dict[str, float]
    model_fingerprint: str
    probe_set_hash: str
    runtime: dict[str, Any]
    tool_version: str
    finished: str


def read_meta(directory: Path) -> SweepMeta:
    """Read DIR/sweep.json; raises ScanError when it is missing, not JSON or a field is wrong (``checks``)."""
    path = Path(directory) / SWEEP_FILE
    if not path.is_file():
        where = "" if Path(directory).is_dir() else " (the folder does not exist)"
        raise ScanError(f"{path}: not found{where}; pass the folder a scan wrote (--out)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ScanError(f"{path}: not readable JSON ({e}); restore it or rerun the scan") from None
    check_meta(meta, path)
    return cast(SweepMeta, meta)


def config_key(config: str, n_layers: object) -> str:
    """The one key of a results row's config on a model of ``n_layers`` layers (``4, 8``, ``[4,8]``
    and its ``layers:`` path all read as ``4,8``); a config outside the grammar, or a layer count
    that is not a model's, leaves it as written."""
    if not isinstance(n_layers, int) or isinstance(n_layers, bool) or not 1 <= n_layers <= LLAMA_MAX_LAYERS:
        return config
    try:
        return canonical_spec(config, n_layers)
    except PlanError:
        return config


def read_rows(path: Path, warnings: list[str] | None = None, n_layers: int | None = None) -> list[ResultRow]:
    """Read a results .jsonl file, keeping the last usable row per config (in first-seen order).

    A malformed line raises ScanError naming the line; a malformed LAST line (a crash mid-write)
    is dropped and reported in ``warnings``. A row that cannot be used (``checks.row_problem``
    against ``n_layers``, by default the layer count in the sweep.json beside the file) is
    skipped, as if the line were deleted, and named in one warning unless a later line of its
    config replaces it. A missing file reads as no rows.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        # Lines end at "\n" only: str.splitlines() would also cut at NEL, U+2028 and other
        # separators that JSON leaves raw inside strings (a model's answer may hold them).
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ScanError(f"{path}: cannot be read ({e})") from None
    if n_layers is None and (path.parent / SWEEP_FILE).is_file():
        n_layers = read_meta(path.parent)["model"]["n_layers"]
    while lines and not lines[-1].strip():
        lines.pop()
    rows: dict[str, ResultRow] = {}
    skipped: dict[str, tuple[int, str]] = {}  # config -> its last line, when that line cannot be used
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines):
                if warnings is not None:
                    warnings.append(f"{path}:{n}: ignored a truncated last line (interrupted write)")
                break
            raise ScanError(f"{path}:{n}: not valid JSON ({e.msg}); delete that line to rescan the config") from None
        if not isinstance(row, dict) or not isinstance(row.get("config"), str):
            raise ScanError(f"{path}:{n}: expected a JSON object with a string 'config'; fix or delete that line")
        key = config_key(row["config"], n_layers)
        problem = row_problem(row, n_layers)
        if problem is not None:
            skipped[key] = (n, problem)
            continue
        skipped.pop(key, None)
        if key != row["config"]:
            row = {**row, "config": key}
        rows[key] = cast(ResultRow, row)
    if skipped and warnings is not None:
        warnings.append(skipped_rows_warning(path, sorted(skipped.values())))
    return list(rows.values())


def read_skipped(directory: Path) -> dict[str, str]:
    """Read DIR/skipped.json as {config: reason}; a missing file means nothing was skipped."""
    path = Path(directory) / SKIPPED_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ScanError(f"{path}: not readable JSON ({e})") from None
    configs = data.get("configs") if isinstance(data, dict) else None
    if not isinstance(configs, dict):
        raise ScanError(f"{path}: expected {{'count': N, 'configs': {{config: reason}}}}")
    return {str(k): str(v) for k, v in configs.items()}


def read_sweep(directory: Path, warnings: list[str] | None = None) -> tuple[SweepMeta, list[ResultRow]]:
    """Read a sweep folder: (sweep.json as a dict, the last results row per config)."""
    meta = read_meta(directory)
    return meta, read_rows(Path(directory) / RESULTS_FILE, warnings, n_layers_of(meta))


def n_layers_of(meta: SweepMeta) -> int | None:
    """sweep.json's model.n_layers (None when absent; ``read_meta`` has checked its range)."""
    model = meta.get("model")
    n = model.get("n_layers") if isinstance(model, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def append_row(path: Path, row: ResultRow) -> None:
    """Append one JSON line and fsync it, so a crash loses at most the line being written."""
    line = safe_json(row, separators=(", ", ": ")) + "\n"
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:  # a line cut short here is dropped when the sweep resumes
        raise write_error(path, e, RESUME_FIX) from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place (hidden characters escaped)."""
    write_atomic(Path(path), safe_json(data, indent=2) + "\n", RESUME_FIX)


def drop_partial_line(path: Path) -> bool:
    """Cut a line a crash left half-written at the end of ``path``, so appends start clean."""
    if not path.exists():
        return False
    with open(path, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return False
        f.truncate(data.rfind(b"\n") + 1)
        os.fsync(f.fileno())
    return True


def probe_spec_of(meta: SweepMeta, directory: Path, eq_file: Path | None = None) -> ProbeSpec:
    """The probe spec that rebuilds a sweep's probe set (its hash checked); ``eq_file`` for file sets."""
    info = meta.get("probe_set") or {}
    math_label, eq_label = str(info.get("math", "search16")), str(info.get("eq", "builtin16"))
    math = re.sub(r"\d+$", "", math_label) or "none"
    n_math = int(math_label[len(math) :]) if math != "none" and math_label[len(math) :] else None
    n_eq: int | None = None
    if eq_label.startswith("file:"):
        if eq_file is None:
            raise ScanError(f"{Path(directory) / SWEEP_FILE}: the sweep used the EQ file {eq_label[5:]}; pass it again")
        eq = str(eq_file)
    else:  # "builtin16", "eqbench-v2-171", "none": the set's name, then how many of its items
        m = re.fullmatch(r"(eqbench-v2|[a-z]+)-?(\d*)", eq_label)
        eq = m.group(1) if m else eq_label
        n_eq = int(m.group(2)) if m and m.group(2) else None
    spec = ProbeSpec(math=math, eq=eq, eq_scorer=str(info.get("eq_scorer", "eqbench-v2")),
                     seed=int(info.get("seed", 0)), n_eq=n_eq, n_math=n_math)  # fmt: skip
    try:
        rebuilt = load_probe_set(**asdict(spec)).hash
    except ProbeError as e:
        raise ScanError(f"{Path(directory) / SWEEP_FILE}: cannot rebuild the sweep's probe set ({e})") from None
    if rebuilt != info.get("hash"):
        raise ScanError(
            f"{Path(directory) / SWEEP_FILE}: the probe set {math_label} + {eq_label} no longer hashes the same "
            "(another rys-gguf version or EQ file); scores would not be comparable"
        )
    return spec


def identity(meta: SweepMeta) -> tuple[str | None, str | None]:
    """The (model fingerprint, probe-set hash) that two mergeable sweeps must share."""
    model, probes = meta.get("model"), meta.get("probe_set")
    fingerprint = model.get("fingerprint") if isinstance(model, dict) else None
    probe_hash = probes.get("hash") if isinstance(probes, dict) else None
    return fingerprint, probe_hash
