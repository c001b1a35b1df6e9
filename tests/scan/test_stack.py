"""Stacking: multi-block extensions follow the grammar, are deduplicated by layer path, and the beam
search writes into the sweep folder, resumes, and never measures a known path again."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.sweeps import FAST, SCAN_ARGS, rows_of
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app
from rys_gguf.plan import expand_blocks, parse_blocks, parse_plan
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.stack import StackNode, StackOptions, extensions, run_stack, stack_scores
from rys_gguf.scan.sweep import run_scan


def node(spec: str, score: float, n_layers: int = 8) -> StackNode:
    return StackNode(tuple(parse_blocks(spec)), spec, parse_plan(spec, n_layers).path, score)


def test_extensions_follow_the_grammar_and_dedupe_by_path() -> None:
    beam = [node("2,5", 1.0), node("1,2", 0.5)]
    pool = [node("3,5", 0.8), node("0,1", 0.3), node("2,5", 0.2)]
    found = extensions(beam, pool, 8, lambda path, spec: True)
    by_spec = {n.spec: (n, promise) for n, promise in found}
    # a later block goes right after the last occurrence of layer j-1
    assert by_spec["2,5;3,5"][0].path == (0, 1, 2, 3, 4, 2, 3, 4, 3, 4, 5, 6, 7)
    assert by_spec["2,5;2,5"][0].path == tuple(expand_blocks([(2, 5), (2, 5)], 8))  # 2..4 three times
    assert by_spec["2,5;3,5"][1] == pytest.approx(1.8)  # parent score + the block's own score
    assert [promise for _, promise in found] == sorted((p for _, p in found), reverse=True)
    # 1,2;0,1 and 0,1;1,2 expand to the same path: one candidate, never both
    paths = [n.path for n, _ in found]
    assert len(paths) == len(set(paths))
    assert parse_plan("1,2;0,1", 8).path == parse_plan("0,1;1,2", 8).path
    assert sum(n.spec in ("1,2;0,1", "0,1;1,2") for n, _ in found) == 1
    refused = extensions(beam, pool, 8, lambda path, spec: len(path) < 12)  # an architecture rule
    assert all(len(n.path) < 12 for n, _ in refused)


def test_method_b_scores_do_not_drift_when_rows_are_added() -> None:
    singles = {"0,1": (0.1, 0.0), "1,2": (0.3, 0.2), "2,3": (-0.1, 0.1)}
    first = stack_scores(singles, "z", list(singles))
    more = stack_scores({**singles, "0,1;1,2": (0.9, 0.9)}, "z", list(singles))
    assert {c: more[c] for c in singles} == first  # z against the single blocks only
    assert stack_scores(singles, "sum", list(singles))["1,2"] == pytest.approx(0.5)


def test_stack_writes_into_the_sweep_resumes_and_skips_known_paths(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=5))
    out = tmp_path / "s"
    run_scan(src, out, FAST)
    singles = len(rows_of(out))
    spec = StackOptions(width=3, depth=3, pool=4, expand=5, min_gain=-100.0)  # no plateau: run every depth
    first = run_stack(out, spec)
    rows = rows_of(out)
    new = rows[singles:]
    assert first.n_measured == len(new) > 0 and len(first.beams) == 3
    assert all(";" in r["config"] for r in new)  # only multi-block configs were added
    paths = [parse_plan(r["config"], 5).path for r in rows]
    assert len(paths) == len(set(paths))  # no layer path measured twice
    assert run_stack(out, spec).n_measured == 0  # a rerun replays the same beam from the rows

    # A config already in the folder under another spec (an explicit path) is reused, not remeasured.
    two = replace(spec, depth=2)
    plain, known = tmp_path / "plain", tmp_path / "known"
    for folder in (plain, known):
        run_scan(src, folder, FAST)
    baseline_run = run_stack(plain, two)
    target = baseline_run.beams[1][-1]
    path_spec = "layers:" + ",".join(map(str, target.path))
    run_scan(src, known, replace(FAST, grid=GridSpec(configs=(path_spec,))))
    again = run_stack(known, two)
    configs = [r["config"] for r in rows_of(known)]
    assert target.spec not in configs and path_spec in configs
    assert again.n_measured == baseline_run.n_measured - 1


def test_stack_cli(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    out = tmp_path / "s"
    r = CliRunner().invoke(app, ["scan", str(src), "--out", str(out), *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["stack", str(out), "--depth", "2", "--expand", "3", "-q"])
    assert r.exit_code == 0, r.output
    assert "depth 2:" in r.output and "build it: rys-gguf build" in r.output and "layer_map (exllamav3)" in r.output
    assert json.loads((out / "ranking.json").read_text())["configs"]
    r = CliRunner().invoke(app, ["stack", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
