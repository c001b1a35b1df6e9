"""Validation stage: the top configs and the baseline re-scored on the large sets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.sweeps import FAST
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app
from rys_gguf.events import Event, Note
from rys_gguf.prove.validate import ValidateOptions, run_validation
from rys_gguf.scan.sweep import run_scan

pytestmark = [pytest.mark.llama, pytest.mark.procs]  # validation scans with the real worker


def test_validation_adds_intervals_to_the_report(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "s"
    run_scan(src, out, FAST)
    notes: list[Event] = []
    summary = run_validation(
        out, ValidateOptions(top=2, eq_set="validation", scan=replace(FAST)), on_event=notes.append
    )
    note = next((e.text for e in notes if isinstance(e, Note)), None)
    assert note is None
    rows = [json.loads(x) for x in (out / "validation.jsonl").read_text().splitlines()]
    assert rows[0]["config"] == "0,0" and len(rows) == 3
    assert len(rows[0]["items"]["math"]) == 120  # the validation math set
    assert len(summary.validation) == 2
    assert "Validation" in (out / "report.md").read_text()
    run_validation(out, ValidateOptions(top=2, eq_set="validation", scan=replace(FAST)))  # resumes: nothing rerun
    assert len((out / "validation.jsonl").read_text().splitlines()) == 3


def test_a_validation_sample_from_the_command_line(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "s"
    run_scan(src, out, FAST)
    args = [
        "validate",
        str(out),
        "-k",
        "1",
        "--eq-set",
        "validation",
        "--n-math",
        "12",
        "--n-eq",
        "3",
        "--min-parse-rate",
        "0",
        "-q",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (out / "validation.jsonl").read_text().splitlines()]
    assert {len(row["items"]["math"]) for row in rows} == {12} and {len(row["items"]["eq"]) for row in rows} == {3}
    (shown,) = json.loads((out / "ranking.json").read_text())["validation"]
    assert shown["verdict"] in ("better", "worse", "mixed", "no clear change")
    lines = r.output.splitlines()
    assert "95 % intervals" in lines[0] and shown["config"] in lines[2] and shown["verdict"] in lines[2]
    assert lines[3].startswith("build the best validated: " if shown["verdict"] == "better" else "no config is")
