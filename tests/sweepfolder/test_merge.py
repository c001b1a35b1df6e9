"""Sweep folders: reading (last row per config, truncated last line), appending, merging."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rys_gguf.errors import ScanError
from rys_gguf.sweepfolder.merge import merge_sweeps
from rys_gguf.sweepfolder.records import append_row, read_rows, read_skipped, read_sweep


def meta(fingerprint: str = "f1", probe_hash: str = "p1", **extra: Any) -> dict[str, Any]:
    return {
        "format": 1,
        "model": {"path": "/m/toy.gguf", "name": "toy", "n_layers": 4, "fingerprint": fingerprint},
        "probe_set": {"hash": probe_hash},
        **extra,
    }


def row(config: str, status: str = "ok", finished: str = "2026-11-23T16:00:00Z",
        math: float | None = 0.5) -> dict[str, Any]:  # fmt: skip
    i, j = (int(x) for x in config.split(","))
    return {"config": config, "block": [i, j], "status": status, "math": math, "eq": 0.5,
            "reason": None if status == "ok" else "worker died", "finished": finished,
            "model_fingerprint": "f1", "probe_set_hash": "p1"}  # fmt: skip


def sweep(
    directory: Path,
    rows: list[dict[str, Any]],
    skipped: dict[str, str] | None = None,
    **meta_kw: Any,
) -> Path:
    directory.mkdir(parents=True)
    (directory / "sweep.json").write_text(json.dumps(meta(**meta_kw)))
    for r in rows:
        append_row(directory / "results.jsonl", r)
    if skipped is not None:
        (directory / "skipped.json").write_text(json.dumps({"count": len(skipped), "configs": skipped}))
    return directory


# ---------------------------------------------------------------- reading


def test_read_keeps_last_row_per_config(tmp_path: Path) -> None:
    d = sweep(tmp_path / "a", [row("0,0"), row("1,2", "failed"), row("1,2", math=0.7)])
    m, rows = read_sweep(d)
    assert m["model"]["fingerprint"] == "f1"
    assert [(r["config"], r["status"]) for r in rows] == [("0,0", "ok"), ("1,2", "ok")]
    assert rows[1]["math"] == 0.7


def test_append_row_writes_one_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_row(path, row("0,0"))
    append_row(path, {"config": "1,2", "note": "ünïcode"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["note"] == "ünïcode"


def test_missing_sweep_json(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"sweep\.json: not found \(the folder does not exist\)"):
        read_sweep(tmp_path / "nope")


def test_malformed_middle_line_names_the_line(tmp_path: Path) -> None:
    d = sweep(tmp_path / "a", [row("0,0")])
    with open(d / "results.jsonl", "a") as f:
        f.write("{not json\n")
    append_row(d / "results.jsonl", row("1,2"))
    with pytest.raises(ScanError, match=r"results\.jsonl:2: not valid JSON") as err:
        read_sweep(d)
    assert "\n" not in str(err.value)


def test_non_object_line_is_an_error(tmp_path: Path) -> None:
    d = sweep(tmp_path / "a", [row("0,0")])
    with open(d / "results.jsonl", "a") as f:
        f.write("[1, 2]\n")
    with pytest.raises(ScanError, match=r":2: expected a JSON object with a string 'config'"):
        read_sweep(d)


def test_truncated_last_line_is_a_warning(tmp_path: Path) -> None:
    d = sweep(tmp_path / "a", [row("0,0"), row("1,2")])
    with open(d / "results.jsonl", "a") as f:
        f.write('{"config": "2,3", "sta')
    warnings: list[str] = []
    _, rows = read_sweep(d, warnings)
    assert [r["config"] for r in rows] == ["0,0", "1,2"]
    assert len(warnings) == 1 and "results.jsonl:3: ignored a truncated last line" in warnings[0]


def test_skipped_file(tmp_path: Path) -> None:
    d = sweep(tmp_path / "a", [row("0,0")], skipped={"1,2": "period"})
    assert read_skipped(d) == {"1,2": "period"}
    assert read_skipped(tmp_path) == {}
    (d / "skipped.json").write_text("[]")
    with pytest.raises(ScanError, match=r"skipped\.json: expected"):
        read_skipped(d)


def test_missing_results_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_rows(tmp_path / "results.jsonl") == []


# ---------------------------------------------------------------- merging


def test_merge_prefers_ok_then_latest(tmp_path: Path) -> None:
    a = sweep(
        tmp_path / "a",
        [row("0,0"), row("1,2", "ok", "2026-11-23T10:00:00Z", 0.6), row("1,3", "ok", math=0.2)],
        skipped={"0,1": "period", "1,3": "period"},
        shard="1/2",
    )
    b = sweep(
        tmp_path / "b",
        [
            row("0,0", finished="2026-11-23T17:00:00Z"),
            row("1,2", "ok", "2026-11-23T11:00:00Z", 0.7),  # later ok wins
            row("1,3", "failed", "2026-11-23T23:00:00Z", None),  # a later failure loses to ok
            row("2,3", "failed", math=None),
        ],
        skipped={"0,2": "period"},
    )
    result = merge_sweeps(tmp_path / "out", [a, b])
    m, rows = read_sweep(tmp_path / "out")
    by = {r["config"]: r for r in rows}
    assert set(by) == {"0,0", "1,2", "1,3", "2,3"} and result.n_configs == 4
    assert by["1,2"]["math"] == 0.7
    assert by["1,3"]["status"] == "ok" and by["1,3"]["math"] == 0.2
    assert by["2,3"]["status"] == "failed"
    assert by["0,0"]["finished"] == "2026-11-23T17:00:00Z"
    assert result.n_sweeps == 2 and result.n_rows_read == 7
    assert "shard" not in m and len(m["merged_from"]) == 2
    assert read_skipped(tmp_path / "out") == {"0,1": "period", "0,2": "period"}  # 1,3 ran


def test_merge_refuses_another_model(tmp_path: Path) -> None:
    a = sweep(tmp_path / "a", [row("0,0")])
    b = sweep(tmp_path / "b", [row("1,2")], fingerprint="f2")
    with pytest.raises(ScanError, match="another model") as err:
        merge_sweeps(tmp_path / "out", [a, b])
    assert str(b) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_merge_refuses_another_probe_set(tmp_path: Path) -> None:
    a = sweep(tmp_path / "a", [row("0,0")])
    b = sweep(tmp_path / "b", [row("1,2")], probe_hash="p2")
    with pytest.raises(ScanError, match="another probe set"):
        merge_sweeps(tmp_path / "out", [a, b])


def test_merge_refuses_a_row_from_another_model(tmp_path: Path) -> None:
    bad = dict(row("1,2"), model_fingerprint="other")
    a = sweep(tmp_path / "a", [row("0,0"), bad])
    with pytest.raises(ScanError, match=r"config 1,2 was scored on another model"):
        merge_sweeps(tmp_path / "out", [a])


def test_merge_refuses_to_overwrite_other_results(tmp_path: Path) -> None:
    a = sweep(tmp_path / "a", [row("0,0")])
    other = sweep(tmp_path / "out", [row("1,2")])
    with pytest.raises(ScanError, match="already exists"):
        merge_sweeps(other, [a])
    result = merge_sweeps(other, [other, a])  # listed among the inputs: merged in place
    assert result.n_configs == 2
    assert {r["config"] for r in read_sweep(other)[1]} == {"0,0", "1,2"}


def test_merge_needs_inputs(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="no sweep folders"):
        merge_sweeps(tmp_path / "out", [])


def test_cli_merge(tmp_path: Path) -> None:
    from helpers.cli import CliRunner

    from rys_gguf.cli import app

    a = sweep(tmp_path / "a", [row("0,0"), row("1,2", math=0.6)])
    b = sweep(tmp_path / "b", [row("1,3", math=0.4), row("2,4", "failed", math=None)])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["merge", str(out), str(a), str(b), "--no-png"])
    assert result.exit_code == 0, result.output
    assert "merged 4 rows from 2 sweeps" in result.output and "FAIL  2,4" in result.output
    assert (out / "report.md").exists() and not list(out.glob("*.png"))

    c = sweep(tmp_path / "c", [row("1,2")], fingerprint="f9")
    refused = CliRunner().invoke(app, ["merge", str(tmp_path / "o2"), str(a), str(c)])
    assert refused.exit_code == 2 and "another model" in refused.output
