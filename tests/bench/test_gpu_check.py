"""``benchmarks.gpu_check`` where there is no GPU: it says so, builds nothing, exits 0; and its
arguments. (The measurements themselves run only on a GPU machine, or with --dry-run.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.procs  # every test runs the script

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], path: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "CUDA_HOME": str(tmp_path / "no-cuda")}
    env.pop("OUT", None)
    folders = ["--build-dir", str(tmp_path / "build"), "--bundle", str(tmp_path / "bundle")]
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", *folders, *args],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT,
    )  # fmt: skip


def fake_cuda(tmp_path: Path) -> str:
    """A PATH whose nvidia-smi reports one compute-capability 9.0 GPU, and with an nvcc."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 9.0\n")
    (bin_dir / "nvcc").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"


def test_without_cuda_it_says_so_and_builds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(["--out", str(out)], "/usr/bin:/bin", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "gpu-check: no CUDA here (no nvidia-smi on PATH); nothing built, nothing measured"
    assert not (tmp_path / "build").exists()
    summary = json.loads((out / "gpu_check.json").read_text())
    assert summary["rows"] == [
        ["CUDA", "skip", "no CUDA here (no nvidia-smi on PATH); nothing built, nothing measured"]
    ]


def test_a_gpu_without_a_compiler_builds_nothing(tmp_path: Path) -> None:
    path = fake_cuda(tmp_path)
    (tmp_path / "bin" / "nvcc").unlink()
    r = run([], path, tmp_path)
    assert r.returncode == 0 and "no nvcc" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "build").exists()


def test_measuring_before_building_says_what_to_run(tmp_path: Path) -> None:
    r = run(["--phase", "measure"], fake_cuda(tmp_path), tmp_path)
    assert r.returncode == 2
    assert "no CUDA build in" in r.stderr and "--phase build" in r.stderr


def test_building_without_the_bundle_says_how_to_make_it(tmp_path: Path) -> None:
    r = run(["--phase", "build"], fake_cuda(tmp_path), tmp_path)
    assert r.returncode == 1
    assert "make gpu-bundle" in r.stderr
    assert not (tmp_path / "build" / "site").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "deploy"], "invalid choice: 'deploy'"),
        (["--big", "4x2048"], "at least 8 layers"),
        (["--big", "16x1000"], "divisible by 64"),
        (["--big", "huge"], "expected LAYERSxWIDTH"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    r = run(args, "/usr/bin:/bin", tmp_path)
    assert r.returncode == 2
    assert message in r.stderr


def test_help_lists_the_phases(tmp_path: Path) -> None:
    r = run(["--help"], "/usr/bin:/bin", tmp_path)
    assert r.returncode == 0
    assert "--phase {all,build,measure}" in r.stdout and "--dry-run" in r.stdout
