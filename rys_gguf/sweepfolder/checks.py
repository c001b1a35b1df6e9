"""Checks of a sweep folder's files as read: sweep.json's fields and each results row (pure).

A sweep folder is a plain text contract, so people edit it by hand, merge it from other machines
and keep it for years. Every reader goes through these checks (``records``): a sweep.json whose
fields have the wrong type or an impossible value is refused with one line that names the field
and the fix; a results row that cannot be used (a config that is not one of this model's, a score
that is not a finite number, an unknown status, a parse rate outside 0..1) is skipped and named in
one warning, never dropped in silence and never ranked. Deliberately left out: score ranges (the
scores are means of 0..1 items, but a ranking only needs them comparable, and older tools and
test fixtures used other scales) and anything that needs the model file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..arch import LLAMA_MAX_LAYERS
from ..errors import LlamaError, PlanError, ScanError
from ..plan import parse_blocks, parse_plan

FORMAT = 1  # sweep.json's "format"; a newer one is refused rather than misread
STATUSES = ("ok", "failed", "early-stopped")
META_FIX = "restore the field or rerun the scan into a new folder"
ROWS_FIX = "fix or delete those lines"
N_NAMED = 5  # skipped lines named one by one in the warning; the rest are counted


def shown(value: Any, limit: int = 30) -> str:
    """A value as the message quotes it: JSON's spelling (NaN, Infinity), cut to ``limit``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_block(x: Any) -> bool:
    return isinstance(x, list) and len(x) == 2 and all(map(_is_int, x))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# -- sweep.json ---------------------------------------------------------------------------------

# field -> (what it must be, the test); absent fields are fine unless REQUIRED names them.
_STR = ("a string", lambda x: isinstance(x, str))
_STR_OR_NULL = ("a string or null", lambda x: x is None or isinstance(x, str))
_COUNT = ("a whole number >= 0", lambda x: _is_int(x) and x >= 0)
_OBJECT = ("a JSON object", lambda x: isinstance(x, dict))
META_FIELDS: dict[str, tuple[str, Any]] = {
    "format": ("a whole number", _is_int),
    "tool_version": _STR,
    "model": _OBJECT,
    "probe_set": _OBJECT,
    "runtime": ("a JSON object or null", lambda x: x is None or isinstance(x, dict)),
    "build": ("a JSON object or null", lambda x: x is None or isinstance(x, dict)),
    "created": _STR,
    "merged_from": ("a list of folder names", lambda x: isinstance(x, list) and all(isinstance(d, str) for d in x)),
}
MODEL_FIELDS: dict[str, tuple[str, Any]] = {
    "path": ("the model file's path", lambda x: isinstance(x, str) and x != ""),
    "name": _STR_OR_NULL,
    "architecture": _STR_OR_NULL,
    "n_layers": (
        f"the model's layer count, a whole number in 1..{LLAMA_MAX_LAYERS}",
        lambda x: _is_int(x) and 1 <= x <= LLAMA_MAX_LAYERS,
    ),
    "n_bytes": _COUNT,
    "fingerprint": _STR,
}
PROBE_FIELDS: dict[str, tuple[str, Any]] = {
    "hash": _STR,
    "math": _STR,
    "eq": _STR,
    "eq_scorer": _STR,
    "n_math": ("a whole number or null", lambda x: x is None or _is_int(x)),
    "n_eq": ("a whole number or null", lambda x: x is None or _is_int(x)),
    "seed": ("a whole number", _is_int),
}
REQUIRED = {"model", "model.path", "model.n_layers"}


def check_meta(meta: Any, path: Path) -> None:
    """Raise ScanError (one line: the file, the field, what it must be, the fix) for a bad sweep.json."""

    def refuse(field: str, value: Any, expected: str) -> ScanError:
        got = "missing" if value is _MISSING else f"{shown(value)}"
        return ScanError(f"{path}: {field} is {got}; expected {expected}; {META_FIX}")

    if not isinstance(meta, dict):
        raise ScanError(f"{path}: expected a JSON object, got {shown(meta)}; {META_FIX}")
    _check_fields(meta, META_FIELDS, "", refuse)
    if meta.get("format", FORMAT) > FORMAT:
        raise ScanError(f"{path}: format {meta['format']} is newer than this rys-gguf reads ({FORMAT}); upgrade it")
    _check_fields(meta["model"], MODEL_FIELDS, "model.", refuse)
    if isinstance(meta.get("probe_set"), dict):
        _check_fields(meta["probe_set"], PROBE_FIELDS, "probe_set.", refuse)
    runtime = meta.get("runtime")
    if isinstance(runtime, dict):
        from ..llama.options import RuntimeOptions

        try:
            RuntimeOptions(**runtime)
        except (TypeError, ValueError, LlamaError) as e:
            raise ScanError(f"{path}: runtime is not one rys-gguf can run ({_first_line(e)}); {META_FIX}") from None
    build = meta.get("build")
    if isinstance(build, dict) and not isinstance(build.get("write_swa_pattern", False), bool):
        raise refuse("build.write_swa_pattern", build["write_swa_pattern"], "true or false")


_MISSING = object()


def _check_fields(obj: Any, fields: Mapping[str, tuple[str, Any]], prefix: str, refuse: Any) -> None:
    for name, (expected, ok) in fields.items():
        value = obj.get(name, _MISSING)
        if value is _MISSING:
            if prefix + name in REQUIRED:
                raise refuse(prefix + name, value, expected)
            continue
        if not ok(value):
            raise refuse(prefix + name, value, expected)


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


# -- results rows -------------------------------------------------------------------------------


def row_problem(row: Mapping[str, Any], n_layers: int | None) -> str | None:
    """Why a results row (a dict with a string ``config``) cannot be used, or None when it can.

    ``n_layers`` is the sweep's model layer count (None: unknown, so only the grammar and the
    llama.cpp limit are checked).
    """
    config = cast(str, row["config"])
    try:
        parse_plan(config, n_layers or LLAMA_MAX_LAYERS)
    except PlanError:
        model = f"this {n_layers}-layer model" if n_layers else "any model"
        return f"config {shown(config)} is not a config of {model}"
    block = row.get("block")
    if block is not None and _is_block(block):
        blocks = [] if config.strip().startswith("layers:") else parse_blocks(config)
        if len(blocks) != 1 or list(blocks[0]) != block:
            return f"block {shown(block)} is not config {shown(config)}'s"  # the heatmap places a row by it
    status = row.get("status")
    if status not in STATUSES:
        return f"status {shown(status)} is not ok, failed or early-stopped"
    for probe in ("math", "eq"):
        value = row.get(probe)
        if value is not None and (not _is_number(value) or not math.isfinite(value)):
            return f"{probe} is {shown(value)}, not a finite number"
    for field in ("math_parse_rate", "eq_parse_rate"):
        value = row.get(field)
        if value is not None and not (_is_number(value) and 0 <= value <= 1):
            return f"{field} is {shown(value)}, not a share in 0..1"
    return _shape_problem(row)


def _shape_problem(row: Mapping[str, Any]) -> str | None:
    """The types of the row's other fields (what later readers take for granted)."""
    for field in ("n_layers", "n_extra"):
        value = row.get(field)
        if value is not None and not _is_int(value):
            return f"{field} is {shown(value)}, not a whole number"
    for field in ("reason", "finished", "model_fingerprint", "probe_set_hash", "tool_version"):
        value = row.get(field)
        if value is not None and not isinstance(value, str):
            return f"{field} is {shown(value)}, not a string"
    block = row.get("block")
    if block is not None and not _is_block(block):
        return f"block is {shown(block)}, not [i, j]"
    for field in ("timings", "early_stop", "runtime"):
        value = row.get(field)
        if value is not None and not isinstance(value, dict):
            return f"{field} is {shown(value)}, not a JSON object"
    answers = row.get("answers")
    if answers is not None and not isinstance(answers, list):
        return f"answers is {shown(answers)}, not a list"
    items = row.get("items")
    if items is None:
        return None
    if not isinstance(items, dict):
        return f"items is {shown(items)}, not a JSON object"
    for probe, values in items.items():
        if not isinstance(values, list):
            return f"items.{probe} is {shown(values)}, not a list"
        bad = next((v for v in values if v is not None and not (_is_number(v) and math.isfinite(v))), _MISSING)
        if bad is not _MISSING:
            return f"items.{probe} holds {shown(bad)}, not a finite number"
    return None


def skipped_rows_warning(path: Path, skipped: list[tuple[int, str]]) -> str:
    """One warning naming the skipped lines of ``path`` and why: "N rows of FILE skipped: ..."."""
    named = ", ".join(f"line {n} ({why})" for n, why in skipped[:N_NAMED])
    more = f" and {len(skipped) - N_NAMED} more" if len(skipped) > N_NAMED else ""
    rows = "1 row" if len(skipped) == 1 else f"{len(skipped)} rows"
    fix = "fix or delete that line" if len(skipped) == 1 else ROWS_FIX
    return f"{rows} of {path} skipped: {named}{more}; {fix}"
