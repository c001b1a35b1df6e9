"""A scan that searches, with the stand-in worker: budget, baseline first, resume after kill -9 to
the same final set, two workers, the architecture rules, and the options it refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.sweeps import FAST, SCAN_ARGS, rows_of, rows_of_repaired
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app
from rys_gguf.errors import OptionError
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.sweep import run_scan
from rys_gguf.search.strategies import SearchSpec

ADAPTIVE = replace(FAST, search=SearchSpec("adaptive", "12", seed=4))


def test_a_search_measures_its_budget_baseline_first(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=8))
    out = tmp_path / "s"
    result = run_scan(src, out, ADAPTIVE)
    configs = [r["config"] for r in rows_of(out)]
    assert configs[0] == "0,0" and len(configs) == 13 and len(set(configs)) == 13  # 12 of 36 + baseline
    assert result.n_run == 13
    record = json.loads((out / "search.json").read_text())
    assert record["strategy"] == "adaptive" and record["n_budget"] == 12 and len(record["configs"]) == 36
    assert run_scan(src, out, ADAPTIVE).n_run == 0  # the rounds replay from the rows: nothing left
    coarse = run_scan(src, tmp_path / "c", replace(FAST, search=SearchSpec("coarse", "25%")))
    assert coarse.n_run == 1 + 9  # 25 % of 36


def test_kill_9_mid_search_then_resume_reaches_the_same_final_set(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=8))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    args = ["scan", str(src), "--search", "adaptive", "--budget", "14", "--search-seed", "2", *SCAN_ARGS]
    r = CliRunner().invoke(app, [*args, "--out", str(whole)])
    assert r.exit_code == 0, r.output
    env = {**os.environ, "RYS_FAKE_DELAY": "0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rys_gguf", *args, "--out", str(cut)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(rows_of_repaired(cut)) < 6:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_cut = len(rows_of_repaired(cut))
    assert 6 <= n_cut < 15
    r = CliRunner().invoke(app, [*args, "--out", str(cut)])
    assert r.exit_code == 0, r.output
    finished = [row["config"] for row in rows_of(cut)]
    assert len(finished) == len(set(finished)) == 15
    assert sorted(finished) == sorted(row["config"] for row in rows_of(whole))
    assert "build the pick: rys-gguf build" in r.output


def test_two_workers_share_the_rounds(tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=8))
    log = tmp_path / "slots.log"
    monkeypatch.setenv("RYS_FAKE_LOG", str(log))
    run_scan(src, tmp_path / "s", replace(ADAPTIVE, gpus=(0, 1)))
    configs = [r["config"] for r in rows_of(tmp_path / "s")]
    assert len(configs) == len(set(configs)) == 13
    assert {line.split()[1] for line in log.read_text().splitlines()} == {"0", "1"}


def test_a_search_keeps_the_architecture_rules(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "g.gguf", TinySpec("gemma3", n_layers=12))
    out = tmp_path / "s"
    run_scan(src, out, replace(FAST, search=SearchSpec("adaptive", "100%")))
    measured = [r["config"] for r in rows_of(out)][1:]
    assert measured and all((int(j) - int(i)) % 6 == 0 for i, j in (c.split(",") for c in measured))
    assert len(json.loads((out / "search.json").read_text())["configs"]) == len(measured)  # only legal ones
    assert json.loads((out / "skipped.json").read_text())["count"] > 0


def test_refused_combinations(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    picks = tmp_path / "picks.txt"
    picks.write_text("1,3\n")
    for extra, phrase in [
        (["--search", "adaptive", "--slice", "1/2"], "--slice splits a fixed grid"),
        (["--search", "adaptive", "--shard", "1/2"], "--slice splits a fixed grid"),  # the option's old name
        (["--search", "coarse", "--configs", str(picks)], "--configs lists what to run"),
        (["--search", "grid", "--budget", "5"], "--budget needs --search coarse or adaptive"),
        (["--search", "adaptive", "--budget", "0%"], "--budget '0%'"),
    ]:
        r = CliRunner().invoke(app, ["scan", str(src), "--out", str(tmp_path / "o"), *SCAN_ARGS, *extra])
        assert r.exit_code == 2, r.output
        assert phrase in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    with pytest.raises(OptionError, match="--slice"):
        run_scan(src, tmp_path / "p", replace(ADAPTIVE, grid=GridSpec(machine_slice=(1, 2))))
    # without --search, a configs file or a slice runs as the grid it names
    assert run_scan(src, tmp_path / "q", replace(FAST, grid=GridSpec(configs_file=picks))).n_run == 2
