"""Injected faults: a full disk, kill -9 and Ctrl-C at random (seeded) moments, a hanging worker,
an unusable or vanishing cache folder, and two scans on one folder.

The scan tests run the real scan engine and CLI with a stand-in worker (``fake_worker``: no
llama.cpp, deterministic scores, long rows) so a sweep takes seconds and the interrupts land in
the engine, not in model loading. The invariants: DST is absent or complete, never half-written;
results.jsonl holds whole JSON lines, each config at most once; the temporary files are gone; a
rerun resumes and completes the sweep.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.brokenfiles import write_synthetic
from helpers.cli import CliRunner
from helpers.sweeps import SCAN_ARGS, rows_of, rows_of_repaired, wait_gone, worker_command
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf.files as files
import rys_gguf.sweepfolder.records as records
from rys_gguf.builder.job import build
from rys_gguf.builder.layout import BuildOptions
from rys_gguf.cli import app
from rys_gguf.errors import OutputError
from rys_gguf.scan.pool import WORKER_ENV

SCAN_CMD = [sys.executable, "-m", "rys_gguf", "scan"]


# -- scan: kill -9 and Ctrl-C at random moments -------------------------------------------


def test_scan_survives_random_kills_and_interrupts(tmp_path: Path, fake_worker: Path) -> None:
    """Eight seeded interrupts (kill -9 and Ctrl-C alternately), then a resume that completes."""
    worker = fake_worker
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=6))
    out = tmp_path / "sweep"
    cmd = [*SCAN_CMD, str(model), "--out", str(out), *SCAN_ARGS]
    env = {**os.environ, "RYS_FAKE_DELAY": "0.05"}
    rng = random.Random(int(os.environ.get("RYS_FAULT_SEED", 7)))
    n_before = 0
    for k in range(8):
        sig = signal.SIGKILL if k % 2 == 0 else signal.SIGINT
        stale = set(out.glob(".rys-cache-*"))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        # Wait until this run's sweep is under way (its shard cache exists), then interrupt.
        deadline = time.monotonic() + 60
        while not set(out.glob(".rys-cache-*")) - stale and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 1.0))
        with contextlib.suppress(ProcessLookupError):  # the sweep may have ended already
            os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole foreground group, as from a terminal
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL, 130), stderr.decode()
        rows = rows_of(out) if sig == signal.SIGINT else rows_of_repaired(out)
        configs = [r["config"] for r in rows]
        assert len(configs) == len(set(configs)), f"interrupt {k}: a config was recorded twice"
        assert len(configs) >= n_before, f"interrupt {k}: results were lost"
        n_before = len(configs)
        print(f"interrupt {k} ({sig.name}): rc {proc.returncode}, {len(configs)} rows")
        if sig == signal.SIGINT and proc.returncode != 0:  # 0: the sweep ended before the signal
            assert proc.returncode == 130, stderr.decode()
            assert stderr.decode().strip().splitlines()[-1] == "rys-gguf: interrupted"
            assert not list(out.glob(".rys-cache-*")), "Ctrl-C left the shard cache behind"
        assert wait_gone(str(worker)) == [], f"interrupt {k}: a worker outlived the scan"
    done = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    configs = [r["config"] for r in rows_of(out)]
    assert sorted(configs) == sorted(set(configs)) and len(configs) == 22  # 6*7/2 + baseline, once each
    assert not list(out.glob(".rys-cache-*")) and not list(out.glob(".*.partial*"))
    assert b"best: rys-gguf build" in done.stdout


def test_resume_after_a_line_cut_mid_write(tmp_path: Path, fake_worker: Path) -> None:
    """kill -9 inside the append leaves half a line; the next run must not glue a row onto it."""
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "sweep"
    runner = CliRunner()
    r = runner.invoke(
        app, ["scan", str(model), "--out", str(out), "--configs", str(configs_file(tmp_path, "1,2")), *SCAN_ARGS]
    )
    assert r.exit_code == 0, r.output
    whole = (out / "results.jsonl").read_bytes()
    (out / "results.jsonl").write_bytes(whole + b'{"config": "0,1", "status": "ok", "math": 0.')  # cut
    r = runner.invoke(app, ["scan", str(model), "--out", str(out), *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    configs = [row["config"] for row in rows_of(out)]
    assert sorted(configs) == ["0,0", "0,1", "0,2", "1,2"]
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output


def configs_file(tmp_path: Path, *specs: str) -> Path:
    path = tmp_path / "configs.txt"
    path.write_text("\n".join(specs) + "\n")
    return path


# -- scan: a hanging worker, the cache folder, two scans at once ---------------------------


def test_hanging_worker_times_out_from_the_cli(
    tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RYS_FAKE_HANG", "0,1")
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = tmp_path / "sweep"
    start = time.monotonic()
    r = CliRunner().invoke(app, ["scan", str(model), "--out", str(out), "--config-timeout", "2", *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    assert time.monotonic() - start < 60
    rows = {row["config"]: row for row in rows_of(out)}
    assert set(rows) == {"0,0", "0,1", "0,2", "1,2"}
    assert rows["0,1"]["status"] == "failed" and "timeout after 2 s" in str(rows["0,1"]["reason"])
    assert all(rows[c]["status"] == "ok" for c in ("0,0", "0,2", "1,2"))
    assert wait_gone(str(fake_worker)) == []


def test_two_scans_on_one_folder(tmp_path: Path, fake_worker: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    out = tmp_path / "sweep"
    cmd = [*SCAN_CMD, str(model), "--out", str(out), *SCAN_ARGS]
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "RYS_FAKE_DELAY": "0.3"}
    )
    deadline = time.monotonic() + 60
    while not (out / "sweep.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(cmd, capture_output=True, timeout=60)
    assert second.returncode == 2
    message = second.stderr.decode().strip()
    assert (
        message == f"rys-gguf: error: {out}: another scan is running on this folder; wait for it or use another --out"
    )
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()
    configs = [r["config"] for r in rows_of(out)]
    assert len(configs) == 7 == len(set(configs))


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_cache_folder(tmp_path: Path, fake_worker: Path, small_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    for cache in (small_fs, small_fs / "missing" / "cache"):
        r = CliRunner().invoke(
            app, ["scan", str(model), "--out", str(tmp_path / "s"), "--cache-dir", str(cache), *SCAN_ARGS]
        )
        assert r.exit_code == 2, r.output
        assert r.output.strip().splitlines()[-1].startswith(f"rys-gguf: error: {cache}"), r.output
        assert "--cache-dir" in r.output


def test_cache_folder_missing_or_blocked(tmp_path: Path, fake_worker: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    r = CliRunner().invoke(
        app, ["scan", str(model), "--out", str(tmp_path / "s"), "--cache-dir", str(not_a_folder / "c"), *SCAN_ARGS]
    )
    assert r.exit_code == 2, r.output
    assert r.output.strip() == (
        f"rys-gguf: error: {not_a_folder / 'c'}: cannot hold the shard cache (Not a directory); "
        "pick another --cache-dir"
    )
    missing = tmp_path / "new" / "deeper" / "cache"  # created, then emptied at the end
    r = CliRunner().invoke(
        app, ["scan", str(model), "--out", str(tmp_path / "s"), "--cache-dir", str(missing), *SCAN_ARGS]
    )
    assert r.exit_code == 0, r.output
    assert missing.is_dir() and list(missing.iterdir()) == []


def test_stale_caches_in_a_shared_cache_folder(tmp_path: Path, fake_worker: Path) -> None:
    """A cache left by a scan killed with -9 is removed by the next scan; a live scan's is not."""
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    base = tmp_path / "tmpfs-cache"
    for name in (".rys-cache-killed", ".rys-cache-live"):
        (base / name).mkdir(parents=True)
        (base / name / "pos0000-src0000.gguf").write_bytes(bytes(1 << 16))
    (base / ".rys-cache-killed" / ".lock").touch()
    with open(base / ".rys-cache-live" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as the running scan holds it
        r = CliRunner().invoke(
            app, ["scan", str(model), "--out", str(tmp_path / "s"), "--cache-dir", str(base), *SCAN_ARGS]
        )
        assert r.exit_code == 0, r.output
        assert sorted(p.name for p in base.iterdir()) == [".rys-cache-live"]


DELETING_WORKER = """
import os, sys, json, pathlib
job = json.load(open(sys.argv[1]))
folder = pathlib.Path(job["model"]).parent
if not all(link.exists() for link in folder.glob("*.gguf")):
    sys.exit("a shard of this config is missing")  # the cache did not rewrite what was deleted
cache = folder.parent
for shard in sorted(cache.glob("pos*.gguf")) + [cache / "globals.gguf"]:
    shard.unlink(missing_ok=True)  # as a tmpfs cleaner or a user might, between configs
exec(open(os.environ["RYS_FAKE_WORKER"]).read())
"""


def test_cache_files_deleted_mid_sweep(tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deleting = tmp_path / "deleting_worker.py"
    deleting.write_text(DELETING_WORKER)
    monkeypatch.setenv("RYS_FAKE_WORKER", str(fake_worker))
    monkeypatch.setenv(WORKER_ENV, worker_command(deleting))
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    r = CliRunner().invoke(app, ["scan", str(model), "--out", str(tmp_path / "s"), *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path / "s")
    assert len(rows) == 7 and all(row["status"] == "ok" for row in rows)


def test_disk_full_in_the_sweep_folder(tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while appending results: a one-line error, the rows so far kept, a clean resume."""
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    out = tmp_path / "sweep"
    real_append = records.append_row
    calls = {"n": 0}

    def append_then_full(path: Path, row: dict[str, object]) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # the fourth row finds the disk full half-way through its line
            with open(path, "a") as fh:
                fh.write(json.dumps(row)[:50])
            raise files.write_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), files.RESUME_FIX)
        real_append(path, row)

    monkeypatch.setattr(records, "append_row", append_then_full)
    r = CliRunner().invoke(app, ["scan", str(model), "--out", str(out), *SCAN_ARGS])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"rys-gguf: error: {out / 'results.jsonl'}: cannot write (No space left on device); "
        "free some disk space, then rerun to resume"
    )
    assert len(rows_of_repaired(out)) == 3 and not list(out.glob(".rys-cache-*"))
    monkeypatch.setattr(records, "append_row", real_append)
    r = CliRunner().invoke(app, ["scan", str(model), "--out", str(out), *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    configs = [row["config"] for row in rows_of(out)]
    assert len(configs) == 7 == len(set(configs))


# -- build: a full disk, kill -9 and Ctrl-C -----------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".tmp"))


def test_disk_full_mid_write_injected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC from the kernel copy: a clear error, the temporary file removed, DST absent, SRC intact."""
    src = write_synthetic(tmp_path / "src.gguf", n_layers=4, n_floats=1 << 14)
    before = src.read_bytes()
    calls = {"n": 0}

    def full(*args: object) -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)  # type: ignore[arg-type]

    real = os.copy_file_range
    monkeypatch.setattr(os, "copy_file_range", full)
    dst = tmp_path / "out" / "rys.gguf"
    dst.parent.mkdir()
    r = CliRunner().invoke(app, ["build", str(src), str(dst), "-c", "1,3", "-q"])
    assert r.exit_code == 2, r.output
    fix = "free some disk space or write elsewhere"
    assert r.output.strip() == f"rys-gguf: error: {dst}: disk full while writing; nothing was written: {fix}"
    assert list(dst.parent.iterdir()) == []
    assert src.read_bytes() == before


@pytest.mark.procs  # mounts a tmpfs
def test_disk_full_on_a_small_filesystem(tmp_path: Path, small_fs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_synthetic(tmp_path / "src.gguf", n_layers=4, n_floats=1 << 15)  # 1.1 MB; output 1.6 MB
    before = src.read_bytes()
    (small_fs / "filler").write_bytes(bytes(1 << 20))
    dst = small_fs / "rys.gguf"
    r = CliRunner().invoke(app, ["build", str(src), str(dst), "-c", "1,3", "-q"])
    assert r.exit_code == 2 and "not enough disk space" in r.output, r.output  # refused up front
    # With the free-space check fooled, the kernel's ENOSPC arrives mid-copy.
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(total=1 << 40, used=0, free=1 << 40))
    r = CliRunner().invoke(app, ["build", str(src), str(dst), "-c", "1,3", "-q"])
    assert r.exit_code == 2, r.output
    assert "disk full while writing" in r.output
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]
    assert src.read_bytes() == before


@pytest.mark.parametrize("fault", [KeyboardInterrupt(), OSError(errno.EIO, "I/O error")])
def test_split_output_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException) -> None:
    """Ctrl-C or an error between the renames of a split output removes the shards already in place."""
    src = write_synthetic(tmp_path / "src.gguf", n_layers=4, n_floats=1 << 12)
    real_replace = os.replace
    calls = {"n": 0}

    def replace_then_fail(a: object, b: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise fault
        real_replace(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "replace", replace_then_fail)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises((KeyboardInterrupt, OutputError)):
        build(src, out / "rys.gguf", "1,3", options=BuildOptions(split_max_bytes=40_000))
    assert calls["n"] == 2 and list(out.iterdir()) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    assert not Path(f"/proc/{dead}").exists()
    dst = tmp_path / "m.gguf"
    names = {
        f".m.gguf.partial-{dead}": False,  # build, killed
        f".m.gguf.{dead}.x1y2.tmp": True,  # convert's work folder, killed
        f".m.gguf.{dead}.a_b3.tmp": False,  # quantize, killed
        f".m.gguf.partial-{os.getpid()}": False,  # a run still going
        f".m.gguf.{os.getpid()}.zz.tmp": True,
        ".m.gguf.partial-abc": False,  # not ours
        f".other.gguf.partial-{dead}": False,
    }
    for name, is_dir in names.items():
        (tmp_path / name).mkdir() if is_dir else (tmp_path / name).write_text("x")
    (tmp_path / f".m.gguf.{dead}.x1y2.tmp" / "model-f16.gguf").write_text("x")
    files.remove_stale_partials(dst)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted(n for n in names if str(dead) not in n or n.startswith(".other"))


BUILD_CMD = [sys.executable, "-m", "rys_gguf", "build"]


@pytest.mark.procs
def test_build_survives_random_kills_and_interrupts(tmp_path: Path) -> None:
    src = write_synthetic(tmp_path / "src.gguf", n_layers=8, n_floats=1 << 20)  # 68 MB
    src_hash = hashlib.sha256(src.read_bytes()).hexdigest()
    reference = tmp_path / "reference.gguf"
    t0 = time.monotonic()
    subprocess.run([*BUILD_CMD, str(src), str(reference), "-c", "2,6", "-q"], check=True)
    span = time.monotonic() - t0
    expected = reference.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "rys.gguf"
    rng = random.Random(11)
    for k in range(8):
        sig = signal.SIGKILL if k % 2 == 0 else signal.SIGINT
        dst.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [*BUILD_CMD, str(src), str(dst), "-c", "2,6", "-q"], stderr=subprocess.PIPE, start_new_session=True
        )
        time.sleep(rng.uniform(0.2, 1.1) * span)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        assert not dst.exists() or dst.read_bytes() == expected, f"interrupt {k}: DST is half-written"
        if sig == signal.SIGINT:
            mine = [name for name in leftovers(out) if str(proc.pid) in name]
            assert mine == [], f"interrupt {k}: Ctrl-C left {mine}"
            assert len(leftovers(out)) <= 1  # at most the last kill -9's, which this run removes if it got going
            # 130 from our handler (or from Python, silently, while it starts up); -SIGINT
            # when the signal lands before Python's handler is set up or after the build is done.
            assert proc.returncode in (0, 130, -signal.SIGINT), err.decode()
            if proc.returncode == 130 and err.strip():
                assert err.decode().strip().splitlines()[-1] == "rys-gguf: interrupted"
    # A rerun completes, and removes what kill -9 left behind.
    subprocess.run([*BUILD_CMD, str(src), str(dst), "-c", "2,6", "-q", "--force"], check=True)
    assert dst.read_bytes() == expected
    assert leftovers(out) == []
    assert hashlib.sha256(src.read_bytes()).hexdigest() == src_hash


# -- convert: kill -9 and Ctrl-C --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.network  # fetches llama.cpp's converter when the cache does not hold it yet
@pytest.mark.procs
def test_convert_survives_random_kills_and_interrupts(tmp_path: Path) -> None:
    """Kill -9 and Ctrl-C during conversion: no half-written DST, no orphaned converter, and a
    rerun that completes and removes the work folders the killed runs left."""
    for module in ("torch", "transformers", "sentencepiece"):
        pytest.importorskip(module)
    from helpers.hfmodels import write_hf_model

    from rys_gguf.convert.converter import fetch_converter
    from rys_gguf.files import cache_dir

    fetch_converter(cache_dir=cache_dir())  # once, outside the timed runs
    hf = tmp_path / "hf-llama"
    write_hf_model(hf, "llama")
    cmd = [sys.executable, "-m", "rys_gguf", "convert", str(hf)]
    opts = ["--outtype", "f32", "--config", "1,3", "-q"]
    t0 = time.monotonic()
    subprocess.run([*cmd, str(tmp_path / "reference.gguf"), *opts], check=True, capture_output=True)
    span = time.monotonic() - t0
    expected = (tmp_path / "reference.gguf").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "rys.gguf"
    rng = random.Random(5)
    for k in range(4):
        sig = signal.SIGKILL if k % 2 == 0 else signal.SIGINT
        proc = subprocess.Popen([*cmd, str(dst), *opts], stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(rng.uniform(0.3, 0.9) * span)
        os.kill(proc.pid, sig)  # the convert process only: its converter must not outlive it
        _, err = proc.communicate(timeout=120)
        assert not dst.exists() or dst.read_bytes() == expected, f"interrupt {k}: DST is half-written"
        assert wait_gone(str(hf)) == [], f"interrupt {k}: the converter outlived convert"
        if sig == signal.SIGINT:
            assert not [p for p in out.iterdir() if str(proc.pid) in p.name], f"interrupt {k}: Ctrl-C left files"
            assert proc.returncode in (0, 130, -signal.SIGINT), err.decode()
        dst.unlink(missing_ok=True)
    subprocess.run([*cmd, str(dst), *opts], check=True, capture_output=True)
    assert dst.read_bytes() == expected
    assert sorted(p.name for p in out.iterdir()) == ["rys.gguf"]
