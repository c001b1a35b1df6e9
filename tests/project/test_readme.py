"""The README stays one screen and true: its two commands on top, its Python block runs as written
(on a tiny model, with the stand-in scan worker), the documents it points to exist, and nothing
it shows uses a name the package does not export."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_two_commands_on_top() -> None:
    head = README.read_text().split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head


def test_the_readme_fits_one_sitting() -> None:
    assert len(README.read_text().splitlines()) <= 260


def test_every_linked_document_exists() -> None:
    for doc in ("README.md", "CONTRIBUTING.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))):
        text = (ROOT / doc).read_text()
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not target.startswith("http"):
                assert (ROOT / doc).parent.joinpath(target).exists(), f"{doc} links {target}"


def test_the_readme_imports_only_the_front_door() -> None:
    for block in python_blocks(README.read_text()):
        for module, names in re.findall(r"from (\S+) import ([^\n]+)", block):
            assert module == "rys_gguf", block
            assert {n.strip() for n in names.split(",")} <= set(rys_gguf.__all__)


@pytest.mark.procs
def test_the_readme_python_block_runs(tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = python_blocks(README.read_text())
    write_tiny_model(tmp_path / "model.gguf", TinySpec("llama", n_layers=6))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    text = out.getvalue()
    assert "6 -> 8 layers" in text and "[0, 1, 2, 3, 2, 3, 4, 5]" in text and "best: " in text
    assert (tmp_path / "sweep" / "report.md").exists() and os.path.exists("model-rys.gguf")
