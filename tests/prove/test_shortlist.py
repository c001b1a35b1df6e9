"""One shortlist after a search: validate --top K, eval --sweep and the report take the same configs,
the search's picks by its own estimate, and validation shows each pick's place on that list."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.sweeps import FAST
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.prove.eval import sweep_models
from rys_gguf.prove.validate import ValidateOptions, run_validation
from rys_gguf.report.write import ReportOptions, write_report
from rys_gguf.scan.sweep import run_scan
from rys_gguf.search.strategies import SearchSpec

pytestmark = pytest.mark.procs  # the scans run the stand-in worker in child processes


def test_validate_and_eval_take_the_same_picks_after_a_search(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=12))
    out = tmp_path / "s"
    run_scan(src, out, replace(FAST, search=SearchSpec("adaptive", "20", seed=0)))
    summary = write_report(out, ReportOptions(png=False))
    shortlist = summary.shortlist(2)
    assert summary.search is not None and len(shortlist) == 2
    # This seed's estimate lifts a config the raw measurements put lower, so taking either list shows.
    assert set(shortlist) != {s.config for s in summary.ranked[:2]}
    assert json.loads((out / "ranking.json").read_text())["shortlist"][:2] == shortlist
    validated = run_validation(out, ValidateOptions(top=2, eq_set="validation", scan=FAST))
    rows = [json.loads(line) for line in (out / "validation.jsonl").read_text().splitlines()]
    picked = [r["config"] for r in rows][1:]  # the baseline first
    assert sorted(picked) == sorted(shortlist)  # measured in the scan's order
    with sweep_models(out, 2) as (_, candidates):
        assert [c.label for c in candidates] == shortlist
    # Each validated config shows its place on the shortlist beside its validation rank.
    assert sorted(v.search_rank for v in validated.validation if v.search_rank is not None) == [1, 2]
    assert {v.config: v.search_rank for v in validated.validation} == {c: n for n, c in enumerate(shortlist, 1)}
    assert "| search rank | change |" in (out / "report.md").read_text()
