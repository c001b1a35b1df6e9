"""The scan engine on tiny models: shard assembly, sweeps, resume, faults, two workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import CliRunner
from helpers.sweeps import FAST, RECORDING_WORKER, rows_of
from helpers.tinymodels import TinySpec, tiny_logits, write_tiny_model

from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.errors import ProbeError, ScanError
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.plan import parse_plan
from rys_gguf.probes import ProbeSpec
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.layercache import ShardCache
from rys_gguf.scan.sweep import locked, run_scan

pytestmark = pytest.mark.llama  # the scans run the real worker


@pytest.mark.parametrize(
    ("arch", "specs"),
    [
        ("llama", ["2,4", "0,6", "1,3;2,3", "layers:0,1,1,2,3"]),
        ("gemma3", ["0,6", "0,0"]),
        ("arrays", ["1,4", "3,5;0,2"]),
        ("qwen2", ["2,5"]),
    ],
)
def test_assembled_config_is_bit_identical_to_single_file(tmp_path: Path, arch: str, specs: list[str]) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec(arch, quant="q8_0" if arch == "llama" else "f32"))
    with GGUFModel(src) as model:
        cache = ShardCache(model, tmp_path / "cache")
        for k, spec in enumerate(specs):
            single = tmp_path / f"single{k}.gguf"
            build(src, single, spec)
            first = cache.assemble(parse_plan(spec, 6), tmp_path / f"cfg{k}")
            assert first.name == f"model-00001-of-{len(parse_plan(spec, 6).path) + 2:05d}.gguf"
            assert np.array_equal(tiny_logits(first), tiny_logits(single)), spec
        # Reassembling reuses shards: only the metadata shard is written again.
        before = cache.n_bytes_written
        cache.assemble(parse_plan(specs[0], 6), tmp_path / "again")
        assert (
            cache.n_bytes_written - before
            == (tmp_path / "again")
            .joinpath(f"model-00001-of-{len(parse_plan(specs[0], 6).path) + 2:05d}.gguf")
            .stat()
            .st_size
        )


def test_cache_retains_unshifted_and_needed_shards(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("llama"))
    with GGUFModel(src) as model:
        cache = ShardCache(model, tmp_path / "cache")
        cache.assemble(parse_plan("1,3", 6), tmp_path / "a")  # shift 2
        cache.assemble(parse_plan("2,5", 6), tmp_path / "b")  # shift 3
        cache.retain([parse_plan("2,5", 6)])
        names = {p.name for p in (tmp_path / "cache").glob("pos*.gguf")}
        assert all(int(n[3:7]) - int(n[11:15]) in (0, 3) for n in names)
        assert "pos0000-src0000.gguf" in names


@pytest.mark.procs
def test_scan_end_to_end_and_resume(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    out = tmp_path / "sweep"
    result = run_scan(src, out, FAST)
    rows = rows_of(out)
    configs = [r["config"] for r in rows]
    assert configs[0] == "0,0" and len(configs) == 7 and len(set(configs)) == 7  # 3*4/2 + baseline
    assert result.n_run == 7 and result.n_failed == 0
    ok = rows[1]
    assert ok["status"] == "ok" and len(ok["items"]["math"]) == 16 and len(ok["items"]["eq"]) == 2
    assert set(ok["timings"]) == {"assemble_s", "load_s", "probe_s", "wall_s"}
    assert ok["n_layers"] == 3 + ok["n_extra"]
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["model"]["n_layers"] == 3 and meta["probe_set"]["n_math"] == 16
    assert not list(out.glob(".rys-cache-*"))  # the shard cache is removed at the end
    again = run_scan(src, out, FAST)
    assert again.n_run == 0 and again.n_resumed == 7 and len(rows_of(out)) == 7


@pytest.mark.procs
def test_same_config_scores_are_deterministic(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    grid = replace(FAST, grid=GridSpec(min_block=2))
    run_scan(src, tmp_path / "a", grid)
    run_scan(src, tmp_path / "b", grid)
    assert [r["answers"] for r in rows_of(tmp_path / "a")] == [r["answers"] for r in rows_of(tmp_path / "b")]


@pytest.mark.procs
def test_other_model_or_probe_set_is_refused(tmp_path: Path) -> None:
    a = write_tiny_model(tmp_path / "a.gguf", TinySpec("llama", n_layers=2))
    b = write_tiny_model(tmp_path / "b.gguf", TinySpec("llama", n_layers=2, seed=1))
    out = tmp_path / "sweep"
    one = replace(FAST, grid=GridSpec(min_block=2))
    run_scan(a, out, one)
    before = (out / "results.jsonl").read_bytes()
    with pytest.raises(ScanError, match="another model"):
        run_scan(b, out, one)
    with pytest.raises(ScanError, match="another probe set"):
        run_scan(a, out, replace(one, probes=ProbeSpec(math="search", eq="none")))
    assert (out / "results.jsonl").read_bytes() == before


@pytest.mark.procs
def test_configs_file_and_bad_line(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    good = tmp_path / "good.txt"
    good.write_text("# my picks\n1,3\n\n1,2;1,2  # twice\nlayers:0,1,2,2,3\n")
    run_scan(src, tmp_path / "s", replace(FAST, grid=GridSpec(configs_file=good)))
    # layers:0,1,2,2,3 is block 2,3's path: it is measured and recorded under that one key
    assert sorted(r["config"] for r in rows_of(tmp_path / "s")) == ["0,0", "1,2;1,2", "1,3", "2,3"]
    bad = tmp_path / "bad.txt"
    bad.write_text("1,3\n2,9\n")
    with pytest.raises(ScanError, match=r"bad.txt:2: .*j must be <= 4"):
        run_scan(src, tmp_path / "t", replace(FAST, grid=GridSpec(configs_file=bad)))


@pytest.mark.procs
def test_architecture_rules_skip_configs(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "g.gguf", TinySpec("gemma3"))
    out = tmp_path / "s"
    run_scan(src, out, replace(FAST, grid=GridSpec(min_block=5)))  # 5,6 and 6,6 sizes; only 0,6 is legal
    assert [r["config"] for r in rows_of(out)] == ["0,0", "0,6"]
    skipped = json.loads((out / "skipped.json").read_text())
    assert skipped["count"] == 2 and "multiple of 6" in skipped["configs"]["0,5"]


FAULTY_WORKER = """
import json, os, sys, time
job = json.load(open(sys.argv[1]))
if job["config"] == "1,2":
    os.abort()
if job["config"] == "0,2":
    time.sleep(600)
from rys_gguf.scan.worker import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.procs
def test_crashing_and_hanging_workers_are_recorded(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    script = tmp_path / "faulty.py"
    script.write_text(FAULTY_WORKER)
    opts = replace(FAST, worker_cmd=(sys.executable, str(script)), config_timeout=20)
    result = run_scan(src, tmp_path / "s", opts)
    rows = {r["config"]: r for r in rows_of(tmp_path / "s")}
    assert set(rows) == {"0,0", "0,1", "1,2", "0,2"} and result.n_failed == 2
    assert rows["1,2"]["status"] == "failed" and "SIGABRT" in rows["1,2"]["reason"]
    assert rows["0,2"]["status"] == "failed" and "timeout after 20 s" in rows["0,2"]["reason"]
    assert rows["0,1"]["status"] == "ok" and rows["0,1"]["math"] is not None


@pytest.mark.procs
def test_two_workers_share_one_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    recorder, log = tmp_path / "recorder.py", tmp_path / "slots.log"
    recorder.write_text(RECORDING_WORKER)
    monkeypatch.setenv("RYS_FAKE_LOG", str(log))
    run_scan(src, tmp_path / "s", replace(FAST, gpus=(0, 1), worker_cmd=(sys.executable, str(recorder))))
    configs = [r["config"] for r in rows_of(tmp_path / "s")]
    assert len(configs) == 7 and len(set(configs)) == 7
    slots = log.read_text().split()
    assert len(slots) == 7 and set(slots) == {"0", "1"}  # both workers ran configs, each pinned to its GPU


@pytest.mark.procs
def test_baseline_parse_rate_floor(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    with pytest.raises(ProbeError, match="baseline parse rate below 50%") as info:
        run_scan(src, tmp_path / "s", replace(FAST, min_parse_rate=0.5))
    assert "--eq-set none for math only" in str(info.value)  # the way to scan a base model
    assert [r["config"] for r in rows_of(tmp_path / "s")] == ["0,0"]  # the baseline is kept


def test_lock_refuses_a_second_scan(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "s"
    with locked(out), pytest.raises(ScanError, match="another scan is running"):
        run_scan(src, out, FAST)


@pytest.mark.procs
def test_kill_9_then_resume_completes_exactly_once(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "rys_gguf", "scan", str(src), "--out", str(out), "--n-eq", "2",
           "--min-parse-rate", "0", "--threads", "1", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(rows_of(out))
    assert 3 <= n_before < 11
    r = CliRunner().invoke(app, ["scan", str(src), "--out", str(out), "--n-eq", "2", "--min-parse-rate", "0", "-q"])
    assert r.exit_code == 0, r.output
    configs = [row["config"] for row in rows_of(out)]
    assert len(configs) == 11 and len(set(configs)) == 11  # 4*5/2 + baseline, each once
    assert not list(out.glob(".rys-cache-*"))
    assert "best: rys-gguf build" in r.output


def test_cli_bad_inputs(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_text("hello")
    for args, phrase in [
        ([str(not_gguf), "--out", str(tmp_path / "o1")], "not a GGUF file"),
        ([str(src), "--out", str(tmp_path / "o2"), "--eq-set", str(not_gguf)], str(not_gguf)),
        ([str(src), "--out", str(tmp_path / "o3"), "--start", "5"], "expected a:b"),
        ([str(src), "--out", str(tmp_path / "o4"), "--tensor-split", "1,x"], "--tensor-split"),
    ]:
        r = CliRunner().invoke(app, ["scan", *args])
        assert r.exit_code == 2, r.output
        assert phrase in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.procs
def test_half_written_row_is_dropped_on_resume(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "s"
    run_scan(src, out, replace(FAST, grid=GridSpec(min_block=2)))
    results = out / "results.jsonl"
    whole = results.read_text()
    results.write_text(whole + '{"config": "0,1", "status": "o')  # killed mid-append
    run_scan(src, out, FAST)
    configs = [r["config"] for r in rows_of(out)]
    assert sorted(configs) == ["0,0", "0,1", "0,2", "1,2"]
    assert results.read_text().startswith(whole)
