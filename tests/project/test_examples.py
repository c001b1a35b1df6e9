"""The scripts in examples/ run against tiny models and a tiny sweep."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.sweeps import FAST
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.scan.sweep import run_scan

pytestmark = pytest.mark.procs  # every test runs an example script

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: Path | str) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_build_from_python(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama"))
    out = run("build_from_python.py", src, tmp_path / "rys.gguf", "1,3")
    assert "6 -> 8 layers" in out and "[0, 1, 2, 1, 2, 3, 4, 5]" in out


@pytest.mark.llama
def test_custom_probe(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama"))
    out = run("custom_probe.py", src)
    assert "mean score:" in out and out.count("expected") == 3


@pytest.mark.llama
def test_read_sweep(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    run_scan(src, tmp_path / "s", FAST)
    out = run("read_sweep.py", tmp_path / "s")
    scored = int(re.search(r"(\d+) configs scored", out)[1])  # type: ignore[index]
    early = int(re.search(r"early-stopped: (\d+)", out)[1])  # type: ignore[index]
    assert "baseline math" in out and scored + early == 3  # the triangle of a 2-layer model


def test_examples_use_only_the_front_door() -> None:
    """Examples import what a user would: ``rys_gguf`` itself, and only names it exports."""
    import rys_gguf

    for script in EXAMPLES.glob("*.py"):
        text = script.read_text()
        for module, names in re.findall(r"^from (\S+) import ([^\n]+)", text, re.M):
            if module.startswith("rys_gguf"):
                assert module == "rys_gguf", f"{script.name} imports {module}"
                assert {n.strip() for n in names.split(",")} <= set(rys_gguf.__all__), script.name
        assert not re.search(r"^import rys_gguf\.", text, re.M), script.name
