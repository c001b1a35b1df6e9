"""The one reader of sweep.json and results.jsonl: every field checked, bad rows skipped and named."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rys_gguf.errors import ScanError
from rys_gguf.sweepfolder.checks import check_meta, row_problem, shown, skipped_rows_warning
from rys_gguf.sweepfolder.records import read_meta, read_rows, read_sweep

N_LAYERS = 6


def meta(**model: Any) -> dict[str, Any]:
    return {
        "format": 1,
        "tool_version": "0.1",
        "model": {"path": "/m/toy.gguf", "name": "toy", "architecture": "llama", "n_layers": N_LAYERS,
                  "n_bytes": 10, "fingerprint": "f" * 64, **model},
        "probe_set": {"hash": "p" * 16, "math": "search16", "eq": "builtin16", "seed": 0},
        "runtime": {"n_threads": 1},
        "build": {"write_swa_pattern": False},
        "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip


def row(config: str = "1,3", **fields: Any) -> dict[str, Any]:
    base = {"config": config, "status": "ok", "math": 0.5, "eq": 0.25, "math_parse_rate": 1.0,
            "eq_parse_rate": 0.5, "n_layers": 8, "n_extra": 2, "reason": None,
            "items": {"math": [1.0, 0.0, None], "eq": [0.5]}, "timings": {"wall_s": 1.0},
            "finished": "2026-01-01T00:00:01Z"}  # fmt: skip
    return {**base, **fields}


def folder(tmp_path: Path, lines: list[Any], sweep: Any = None) -> Path:
    (tmp_path / "sweep.json").write_text(json.dumps(meta() if sweep is None else sweep))
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    (tmp_path / "results.jsonl").write_text(text)
    return tmp_path


# ------------------------------------------------------------------ sweep.json


def test_a_scan_written_meta_passes() -> None:
    check_meta(meta(), Path("sweep.json"))


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


BAD_META: list[tuple[str, Any, str]] = [
    ("not-object", [1, 2], "expected a JSON object"),
    ("model-null", {**meta(), "model": None}, "model is null; expected a JSON object"),
    ("model-missing", _without(meta(), "model"), "model is missing"),
    ("model-string", {**meta(), "model": "toy.gguf"}, 'model is "toy.gguf"'),
    ("path-missing", {**meta(), "model": _without(meta()["model"], "path")}, "model.path is missing"),
    ("path-number", meta(path=3), "model.path is 3; expected the model file's path"),
    ("path-empty", meta(path=""), 'model.path is ""'),
    ("layers-missing", {**meta(), "model": _without(meta()["model"], "n_layers")}, "model.n_layers is missing"),
    ("layers-negative", meta(n_layers=-4), "model.n_layers is -4; expected the model's layer count"),
    ("layers-zero", meta(n_layers=0), "model.n_layers is 0"),
    ("layers-huge", meta(n_layers=10**9), "model.n_layers is 1000000000"),
    ("layers-1e9", meta(n_layers=1e9), "model.n_layers is 1000000000.0"),
    ("layers-float", meta(n_layers=6.5), "model.n_layers is 6.5"),
    ("layers-string", meta(n_layers="6"), 'model.n_layers is "6"'),
    ("layers-bool", meta(n_layers=True), "model.n_layers is true"),
    ("layers-nan", meta(n_layers=math.nan), "model.n_layers is NaN"),
    ("layers-513", meta(n_layers=513), "in 1..512"),
    ("name-number", meta(name=5), "model.name is 5; expected a string or null"),
    ("fingerprint-null", meta(fingerprint=None), "model.fingerprint is null"),
    ("bytes-negative", meta(n_bytes=-1), "model.n_bytes is -1"),
    ("probe-set-list", {**meta(), "probe_set": []}, "probe_set is []"),
    ("probe-seed-string", {**meta(), "probe_set": {"hash": "p", "seed": "x"}}, 'probe_set.seed is "x"'),
    ("probe-hash-number", {**meta(), "probe_set": {"hash": 1}}, "probe_set.hash is 1"),
    ("runtime-list", {**meta(), "runtime": [1]}, "runtime is [1]"),
    ("runtime-unknown-key", {**meta(), "runtime": {"n_gpu": 1}}, "runtime is not one rys-gguf can run"),
    ("runtime-bad-value", {**meta(), "runtime": {"split_mode": "diagonal"}}, "runtime is not one rys-gguf can run"),
    ("build-flag-string", {**meta(), "build": {"write_swa_pattern": "yes"}}, 'build.write_swa_pattern is "yes"'),
    ("format-string", {**meta(), "format": "1"}, 'format is "1"'),
    ("format-newer", {**meta(), "format": 2}, "format 2 is newer than this rys-gguf reads"),
    ("created-number", {**meta(), "created": 5}, "created is 5"),
    ("merged-from", {**meta(), "merged_from": "a"}, 'merged_from is "a"'),
]


@pytest.mark.parametrize(("case", "data", "phrase"), BAD_META, ids=[c[0] for c in BAD_META])
def test_bad_meta_is_one_line_naming_the_field_and_the_fix(case: str, data: Any, phrase: str, tmp_path: Path) -> None:
    (tmp_path / "sweep.json").write_text(json.dumps(data))
    with pytest.raises(ScanError) as info:
        read_meta(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "sweep.json") + ": ") and "\n" not in message
    assert phrase in message
    assert "restore the field or rerun the scan into a new folder" in message or "upgrade" in message


def test_optional_fields_may_be_absent_or_null(tmp_path: Path) -> None:
    data = {"model": {"path": "/m/x.gguf", "n_layers": 4, "name": None, "architecture": None}, "runtime": None}
    check_meta(data, tmp_path / "sweep.json")


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(ScanError) as info:
        check_meta(meta(n_layers="x" * 10_000), Path("sweep.json"))
    assert len(str(info.value)) < 300


def test_shown_spells_values_as_json() -> None:
    assert [shown(math.nan), shown(math.inf), shown(-math.inf)] == ["NaN", "Infinity", "-Infinity"]
    assert shown(None) == "null" and shown("x") == '"x"' and shown(True) == "true"
    assert shown("y" * 100).endswith("…") and len(shown("y" * 100)) == 30


# ------------------------------------------------------------------ rows


def test_a_scan_written_row_passes() -> None:
    assert row_problem(row(), N_LAYERS) is None
    assert row_problem(row("0,0", block=[0, 0]), N_LAYERS) is None
    assert row_problem(row("2,4", block=[2, 4]), N_LAYERS) is None
    assert row_problem(row("2,4;3,4", block=None), N_LAYERS) is None
    assert row_problem(row("2,4;3,4"), N_LAYERS) is None
    assert row_problem(row("layers:0,1,2,1,2,3,4,5"), N_LAYERS) is None
    assert row_problem(row(status="failed", math=None, eq=None, reason="worker died"), N_LAYERS) is None
    assert row_problem(row(status="early-stopped", math=None, eq=None, early_stop={"reason": "x"}), N_LAYERS) is None
    assert row_problem({"config": "1,2", "status": "ok", "math": 1}, N_LAYERS) is None  # older, shorter rows


BAD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("reversed", row("5,3"), 'config "5,3" is not a config of this 6-layer model'),
    ("negative", row("-1,4"), 'config "-1,4" is not a config'),
    ("empty-block", row("3,3"), 'config "3,3"'),
    ("beyond", row("4,7"), 'config "4,7"'),
    ("beyond-multi", row("1,3;5,9"), 'config "1,3;5,9"'),
    ("baseline-in-stack", row("0,0;1,2"), 'config "0,0;1,2"'),
    ("words", row("best one"), 'config "best one"'),
    ("empty", row(""), 'config ""'),
    ("layer-missing", row("layers:0,1,9"), 'config "layers:0,1,9"'),
    ("status-unknown", row(status="done"), 'status "done" is not ok, failed or early-stopped'),
    ("status-missing", _without(row(), "status"), "status null"),
    ("status-number", row(status=1), "status 1"),
    ("math-nan", row(math=math.nan), "math is NaN, not a finite number"),
    ("eq-infinity", row(eq=math.inf), "eq is Infinity"),
    ("math-minus-infinity", row(math=-math.inf), "math is -Infinity"),
    ("math-string", row(math="x"), 'math is "x"'),
    ("math-numeric-string", row(math="0.5"), 'math is "0.5"'),
    ("math-bool", row(math=True), "math is true"),
    ("math-list", row(math=[0.5]), "math is [0.5]"),
    ("rate-above", row(math_parse_rate=1.5), "math_parse_rate is 1.5, not a share in 0..1"),
    ("rate-negative", row(eq_parse_rate=-0.1), "eq_parse_rate is -0.1"),
    ("rate-nan", row(eq_parse_rate=math.nan), "eq_parse_rate is NaN"),
    ("rate-string", row(math_parse_rate="all"), 'math_parse_rate is "all"'),
    ("layers-string", row(n_layers="8"), 'n_layers is "8", not a whole number'),
    ("extra-float", row(n_extra=2.5), "n_extra is 2.5"),
    ("reason-number", row(reason=3), "reason is 3, not a string"),
    ("block-strings", row(block=["a", "b"]), 'block is ["a", "b"], not [i, j]'),
    ("block-three", row(block=[1, 2, 3]), "block is [1, 2, 3]"),
    ("block-other", row("1,3", block=[2, 3]), 'block [2, 3] is not config "1,3"\'s'),
    ("block-of-a-stack", row("1,3;2,3", block=[1, 3]), "block [1, 3] is not config"),
    ("block-of-a-path", row("layers:0,1,2,1,2,3,4,5", block=[1, 3]), "block [1, 3] is not config"),
    ("items-list", row(items=[1, 2]), "items is [1, 2], not a JSON object"),
    ("items-nan", row(items={"math": [1.0, math.nan]}), "items.math holds NaN"),
    ("items-string", row(items={"eq": ["x"]}), 'items.eq holds "x"'),
    ("items-not-list", row(items={"eq": 0.5}), "items.eq is 0.5, not a list"),
    ("timings-list", row(timings=[1]), "timings is [1], not a JSON object"),
    ("answers-string", row(answers="x"), 'answers is "x", not a list'),
    ("finished-number", row(finished=1), "finished is 1"),
]


@pytest.mark.parametrize(("case", "bad", "phrase"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_row_problems_are_named(case: str, bad: dict[str, Any], phrase: str) -> None:
    problem = row_problem(bad, N_LAYERS)
    assert problem is not None and phrase in problem, problem


def test_without_a_layer_count_only_the_grammar_and_llama_limit_count() -> None:
    assert row_problem(row("40,60"), None) is None
    assert "any model" in (row_problem(row("5,3"), None) or "")
    assert row_problem(row("0,600"), None) is not None


@pytest.mark.parametrize(("case", "bad", "phrase"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_read_rows_skips_and_names_each_bad_row(case: str, bad: dict[str, Any], phrase: str, tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0"), row("1,2"), bad, row("2,3")])
    warnings: list[str] = []
    rows = read_rows(d / "results.jsonl", warnings)
    configs = [r["config"] for r in rows]
    assert "1,2" in configs and "2,3" in configs and "0,0" in configs
    assert not any(r is not None and r.get("math") != 0.5 for r in rows if r["config"] == bad["config"])
    assert len(warnings) == 1
    assert warnings[0].startswith(f"1 row of {d / 'results.jsonl'} skipped: line 3 (")
    assert phrase in warnings[0] and warnings[0].endswith("; fix or delete that line")


def test_nan_and_infinity_written_as_json_tokens(tmp_path: Path) -> None:
    lines = [json.dumps(row("0,0")), '{"config": "1,2", "status": "ok", "math": NaN, "eq": 0.5}',
             '{"config": "2,3", "status": "ok", "math": 0.5, "eq": Infinity}', json.dumps(row("3,4"))]  # fmt: skip
    warnings: list[str] = []
    rows = read_rows(folder(tmp_path, lines) / "results.jsonl", warnings)
    assert [r["config"] for r in rows] == ["0,0", "3,4"]
    assert "2 rows of" in warnings[0]
    assert "line 2 (math is NaN, not a finite number), line 3 (eq is Infinity, not a finite number)" in warnings[0]
    assert warnings[0].endswith("; fix or delete those lines")


def test_the_layer_count_comes_from_the_sweep_json_beside(tmp_path: Path) -> None:
    d = folder(
        tmp_path, [row("0,0"), row("4,6"), row("5,8")], sweep={**meta(), "model": {**meta()["model"], "n_layers": 8}}
    )
    assert [r["config"] for r in read_rows(d / "results.jsonl")] == ["0,0", "4,6", "5,8"]
    warnings: list[str] = []
    assert [r["config"] for r in read_rows(d / "results.jsonl", warnings, n_layers=6)] == ["0,0", "4,6"]
    assert 'line 3 (config "5,8" is not a config of this 6-layer model)' in warnings[0]


def test_a_bad_sweep_json_beside_is_refused_by_the_rows_reader(tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0")], sweep={**meta(), "model": None})
    with pytest.raises(ScanError, match="model is null"):
        read_rows(d / "results.jsonl")


def test_rows_without_a_sweep_json_check_the_grammar(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(row("0,0")) + "\n" + json.dumps(row("5,3")) + "\n")
    warnings: list[str] = []
    assert [r["config"] for r in read_rows(path, warnings)] == ["0,0"]
    assert "not a config of any model" in warnings[0]


def test_a_skipped_line_reads_as_deleted_the_earlier_row_stays(tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0"), row("1,2", math=0.7), row("1,2", math=math.nan)])
    warnings: list[str] = []
    rows = read_rows(d / "results.jsonl", warnings)
    assert [(r["config"], r["math"]) for r in rows] == [("0,0", 0.5), ("1,2", 0.7)]
    assert "line 3 (math is NaN" in warnings[0]


def test_a_later_good_row_replaces_a_skipped_one_silently(tmp_path: Path) -> None:
    """A resumed scan measures a skipped config again: the new row stands, the old line is history."""
    d = folder(tmp_path, [row("0,0"), row("1,2", math=math.nan), row("1,2", math=0.7)])
    warnings: list[str] = []
    rows = read_rows(d / "results.jsonl", warnings)
    assert [(r["config"], r["math"]) for r in rows] == [("0,0", 0.5), ("1,2", 0.7)]
    assert warnings == []


def test_many_skipped_lines_are_counted_after_the_first_five(tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0"), *(row(f"{i},{i}") for i in range(1, 6)), row("9,1"), row("8,2")])
    warnings: list[str] = []
    read_rows(d / "results.jsonl", warnings)
    assert warnings[0].startswith("7 rows of") and " and 2 more; fix or delete those lines" in warnings[0]
    assert "line 2 (" in warnings[0] and "line 6 (" in warnings[0] and "line 7 (" not in warnings[0]


def test_skipped_rows_warning_wording() -> None:
    text = skipped_rows_warning(Path("s/results.jsonl"), [(10, "math is NaN"), (12, 'config "5,3" is bad')])
    assert text == (
        '2 rows of s/results.jsonl skipped: line 10 (math is NaN), line 12 (config "5,3" is bad); '
        "fix or delete those lines"
    )


def test_a_line_that_is_not_an_object_names_the_fix(tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0"), "[1, 2]", row("1,2")])
    with pytest.raises(ScanError, match=r"results\.jsonl:2: expected a JSON object .*; fix or delete that line"):
        read_rows(d / "results.jsonl")


def test_read_sweep_checks_both_files(tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0"), row("5,3")])
    warnings: list[str] = []
    m, rows = read_sweep(d, warnings)
    assert m["model"]["n_layers"] == N_LAYERS and [r["config"] for r in rows] == ["0,0"]
    assert len(warnings) == 1 and "line 2" in warnings[0]
    (d / "sweep.json").write_text(json.dumps(meta(n_layers=-1)))
    with pytest.raises(ScanError, match=r"model\.n_layers is -1"):
        read_sweep(d)


def test_inputs_are_not_modified(tmp_path: Path) -> None:
    d = folder(tmp_path, [row("0,0"), row("5,3"), '{"config": "1,2", "status": "ok", "math": NaN}'])
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    read_sweep(d, [])
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_validation_rows_go_through_the_same_reader(tmp_path: Path) -> None:
    """validation.jsonl holds results rows too: a NaN item is skipped and named, numpy stays quiet."""
    import warnings as pywarnings

    from rys_gguf.report.write import ReportOptions, write_report

    d = folder(tmp_path, [row("0,0"), row("1,2", math=0.6), row("2,3", math=0.4)])
    items = {"math": [1.0, 0.0, 1.0, 1.0], "eq": [0.5, 0.5, 0.5, 0.5]}
    vrows = [row("0,0", items=items), row("1,2", items={**items, "math": [1.0, math.nan, 1.0, 1.0]}),
             row("2,3", items=items)]  # fmt: skip
    (d / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in vrows))
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("error", RuntimeWarning)
        summary = write_report(d, ReportOptions(png=False))
    assert [v.config for v in summary.validation] == ["2,3"]
    assert any("validation.jsonl skipped: line 2 (items.math holds NaN" in w for w in summary.warnings)
