"""Validation stage: the top configs and the baseline re-scored on the large sets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.sweeps import FAST
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.errors import ProbeError
from rys_gguf.prove.validate import run_validation, validation_probes
from rys_gguf.scan.sweep import run_scan

pytestmark = pytest.mark.llama  # validation scans with the real worker


def test_validation_adds_intervals_to_the_report(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "s"
    run_scan(src, out, FAST)
    summary, note = run_validation(out, top=2, eq="builtin", options=replace(FAST))
    assert note is None
    rows = [json.loads(x) for x in (out / "validation.jsonl").read_text().splitlines()]
    assert rows[0]["config"] == "0,0" and len(rows) == 3
    assert len(rows[0]["items"]["math"]) == 120  # the validation math set
    assert len(summary.validation) == 2
    assert "Validation" in (out / "report.md").read_text()
    run_validation(out, top=2, eq="builtin", options=replace(FAST))  # resumes: nothing rerun
    assert len((out / "validation.jsonl").read_text().splitlines()) == 3


def test_offline_falls_back_to_builtin_eq(monkeypatch: pytest.MonkeyPatch) -> None:
    import rys_gguf.prove.validate as v

    def offline(**kw: object) -> None:
        if kw.get("eq") == "eqbench-v2":
            raise ProbeError("cannot download")

    monkeypatch.setattr(v, "load_probe_set", offline)
    probes, note = validation_probes("eqbench-v2")
    assert probes.eq == "builtin" and probes.math == "validation"
    assert note is not None and "built-in" in note
