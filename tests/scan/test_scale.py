"""Deep models and the shard cache's disk plan.

A layer path longer than llama.cpp's 512 layers is refused with that reason; a corrupt source
with more than 512 layers is refused as such. A sweep plans its shard cache before it starts
(globals + unshifted layers + the largest set of shifted layers alive at once + a metadata
shard per slot, from the tensor sizes) and refuses to start when the disk cannot hold it. The
plan is checked against the cache's real peak on a full sweep with a stand-in worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.brokenfiles import write_synthetic
from helpers.cli import CliRunner
from helpers.sweeps import SCAN_ARGS as FAST

import rys_gguf.files as files
from rys_gguf.cli import app
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.scan.grid import GridSpec, plan_sweep
from rys_gguf.scan.layercache import ShardCache, cache_need
from rys_gguf.scan.options import ScanOptions
from rys_gguf.scan.sweep import run_scan


@pytest.fixture(autouse=True)
def no_delay(fake_worker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scan here runs the stand-in worker at full speed."""
    monkeypatch.setenv("RYS_FAKE_DELAY", "0")


# -- llama.cpp's 512-layer limit ----------------------------------------------------------


def test_paths_longer_than_512_layers_are_refused(tmp_path: Path) -> None:
    src = write_synthetic(tmp_path / "deep.gguf", n_layers=300, n_floats=32)
    runner = CliRunner()
    ok = runner.invoke(app, ["build", str(src), str(tmp_path / "512.gguf"), "-c", "88,300", "-q"])
    assert ok.exit_code == 0, ok.output
    with GGUFModel(tmp_path / "512.gguf") as model:
        assert model.value("llama.block_count") == 512
    for spec, n in (("87,300", 513), ("0,300", 600), ("0,300;0,300", 900)):
        r = runner.invoke(app, ["build", str(src), str(tmp_path / "x.gguf"), "-c", spec, "-q"])
        assert r.exit_code == 2, r.output
        assert r.output.strip() == (
            f"rys-gguf: error: config '{spec}' on llama: {n} layers exceed llama.cpp's limit of 512"
        )
    assert not (tmp_path / "x.gguf").exists()


def test_scan_skips_paths_past_512_layers(tmp_path: Path) -> None:
    src = write_synthetic(tmp_path / "deep.gguf", n_layers=300, n_floats=32)
    configs = tmp_path / "configs.txt"
    configs.write_text("88,300\n87,300\n")
    out = tmp_path / "sweep"
    r = CliRunner().invoke(app, ["scan", str(src), "--out", str(out), "--configs", str(configs), *FAST])
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(line)["config"] for line in (out / "results.jsonl").read_text().splitlines()) == [
        "0,0",
        "88,300",
    ]
    skipped = json.loads((out / "skipped.json").read_text())["configs"]
    assert skipped == {"87,300": "config '87,300' on llama: 513 layers exceed llama.cpp's limit of 512"}


def test_a_source_past_512_layers_is_corrupt(tmp_path: Path) -> None:
    src = write_synthetic(tmp_path / "too-deep.gguf", n_layers=513, n_floats=32)
    r = CliRunner().invoke(app, ["inspect", str(src)])
    assert r.exit_code == 2
    assert "llama.block_count is 513; llama.cpp loads 1 to 512 layers" in r.output


# -- the shard cache's disk plan ------------------------------------------------------------


def disk_use(root: Path) -> int:
    """Bytes the files under ``root`` take on disk (whole blocks)."""
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize("n_slots", [1, 2])
def test_cache_plan_matches_the_real_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n_slots: int) -> None:
    """The plan is never below the cache's real peak on a full sweep, and within 10 % of it."""
    src = write_synthetic(tmp_path / "m.gguf", n_layers=8, n_floats=1 << 14)  # 128 KB per layer
    peak = {"bytes": 0}
    assemble = ShardCache.assemble

    def measured(self: ShardCache, *args: object, **kwargs: object) -> Path:
        first = assemble(self, *args, **kwargs)  # type: ignore[arg-type]
        peak["bytes"] = max(peak["bytes"], disk_use(self.root))
        return first

    monkeypatch.setattr(ShardCache, "assemble", measured)
    options = ScanOptions(min_parse_rate=0.0, gpus=tuple(range(n_slots)) if n_slots > 1 else ())
    with GGUFModel(src) as model:
        plans = plan_sweep(model, GridSpec()).configs
        need = cache_need(model, plans, n_slots)
    run_scan(src, tmp_path / "sweep", options)
    assert len(plans) == 37  # 8*9/2 + baseline
    assert need.n_layers_unshifted == 8 and need.n_layers_shifted >= 8
    print(f"slots {n_slots}: planned {need.n_bytes}, real peak {peak['bytes']}")
    assert peak["bytes"] <= need.n_bytes <= 1.1 * peak["bytes"] + (64 << 10), (peak["bytes"], need)


def test_deep_full_triangle_refused_when_the_disk_is_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_synthetic(tmp_path / "deep64.gguf", n_layers=64, n_floats=1 << 14)  # 8 MB
    n_model = src.stat().st_size
    free = int(1.5 * n_model)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(total=free, used=0, free=free))
    with GGUFModel(src) as model:
        plans = plan_sweep(model, GridSpec()).configs
        need = cache_need(model, plans)
    assert len(plans) == 64 * 65 // 2 + 1
    assert need.n_layers_unshifted == 64 and need.n_layers_shifted == 64  # config (0, s) shifts every layer
    assert 1.95 * n_model < need.n_bytes < 2.1 * n_model
    out = tmp_path / "sweep"
    r = CliRunner().invoke(app, ["scan", str(src), "--out", str(out), *FAST])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert line.startswith(f"rys-gguf: error: {out}: the shard cache needs {need.n_bytes / 1e9:.2f} GB at its peak")
    assert "64 unshifted layers" in line and "64 shifted layers" in line and f"{free / 1e9:.2f} GB are free" in line
    assert "--start A:64" in line and "--cache-dir" in line and "\n" not in line
    assert not (out / "results.jsonl").exists() and not list(out.glob(".rys-cache-*"))
    # Skipping early block starts shrinks the shifted set; the sweep then starts (and finishes).
    r = CliRunner().invoke(app, ["scan", str(src), "--out", str(out), "--start", "62:64", *FAST])
    assert r.exit_code == 0, r.output
    assert len((out / "results.jsonl").read_text().splitlines()) == 4  # baseline, 62,63 62,64 63,64
