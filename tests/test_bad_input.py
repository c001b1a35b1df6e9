"""Every broken file gets one line naming the file, exit code 2, no traceback, no output."""

from __future__ import annotations

from pathlib import Path

import pytest
from brokenfiles import broken_files, small_gguf
from typer.testing import CliRunner

from rys_gguf.cli import app
from rys_gguf.errors import GGUFFormatError
from rys_gguf.gguffile import GGUFFile

CASES = list(broken_files())


def test_small_gguf_is_valid(tmp_path: Path) -> None:
    p = tmp_path / "ok.gguf"
    p.write_bytes(small_gguf()[0])
    with GGUFFile(p) as f:
        assert f.value("llama.block_count") == 2
        assert [t.name for t in f.tensors][:2] == ["token_embd.weight", "blk.0.attn_norm.weight"]


@pytest.mark.parametrize(("case", "blob", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_parser_rejects(tmp_path: Path, case: str, blob: bytes, phrase: str) -> None:
    p = tmp_path / f"{case}.gguf"
    p.write_bytes(blob)
    with pytest.raises(GGUFFormatError) as info:
        GGUFFile(p).close()
    message = str(info.value)
    assert message.startswith(str(p)) and "\n" not in message
    assert phrase in message


@pytest.mark.parametrize(("case", "blob", "phrase"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["build", "inspect"])
def test_cli_rejects(tmp_path: Path, case: str, blob: bytes, phrase: str, command: str) -> None:
    src = tmp_path / f"{case}.gguf"
    src.write_bytes(blob)
    dst = tmp_path / "out.gguf"
    args = ["build", str(src), str(dst), "--config", "0,1"] if command == "build" else ["inspect", str(src)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rys-gguf: error: ") and str(src) in lines[0]
    assert "Traceback" not in result.output
    assert phrase in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]  # no output, no temp files
    assert src.read_bytes() == blob  # input untouched


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "nope.gguf")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_debug_shows_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RYS_DEBUG", "1")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "nope.gguf")])
    assert isinstance(result.exception, GGUFFormatError)
