"""Every broken file, given to every command that takes a model: one line naming the file, exit
code 2, no traceback, nothing written, the input untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.brokenfiles import broken_files, broken_models, small_gguf
from helpers.cli import CliRunner

from rys_gguf.builder.inspect import describe_model
from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.cli.entry import COMMANDS as CLI_COMMANDS
from rys_gguf.errors import GGUFFormatError, RysError
from rys_gguf.gguffile.reader import GGUFFile, GGUFModel

CASES = list(broken_files())
MODEL_CASES = list(broken_models())


def test_small_gguf_is_valid(tmp_path: Path) -> None:
    p = tmp_path / "ok.gguf"
    p.write_bytes(small_gguf()[0])
    with GGUFFile(p) as f:
        assert f.value("llama.block_count") == 2
        assert [t.name for t in f.tensors][:2] == ["token_embd.weight", "blk.0.attn_norm.weight"]


@pytest.mark.parametrize(("case", "blob", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_parser_rejects(tmp_path: Path, case: str, blob: bytes, phrase: str) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(blob)
    with pytest.raises(GGUFFormatError) as info:
        GGUFModel(p).close()
    message = str(info.value)
    assert message.startswith(str(p)) and "\n" not in message
    assert phrase in message.removeprefix(str(p))


@pytest.mark.parametrize(("case", "blob", "phrase"), MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_model_checks_reject(tmp_path: Path, case: str, blob: bytes, phrase: str) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(blob)
    with GGUFFile(p):
        pass  # a valid GGUF ...
    with pytest.raises(RysError) as info, GGUFModel(p) as model:
        describe_model(model)  # ... but not a usable model
    message = str(info.value)
    assert message.startswith(str(p)) and "\n" not in message
    assert phrase in message.removeprefix(str(p))


# -- every command that takes a model -------------------------------------------------------


class Partners:
    """Valid files a command needs beside the broken one, and where outputs would go."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.good = root / "partners" / "good.gguf"
        self.good.parent.mkdir(parents=True)
        self.good.write_bytes(small_gguf()[0])
        self.rys = self.good.with_name("rys.gguf")
        build(self.good, self.rys, "0,1")
        self.hf = root / "partners" / "hf"
        self.hf.mkdir()
        self.out = root / "out"
        self.out.mkdir()
        self.task = root / "partners" / "task.yaml"  # never read: the models are refused first
        self.task.write_text("task: unused\n")


Args = Callable[[Path, Partners], list[str]]
COMMANDS: dict[str, Args] = {
    "build": lambda m, p: ["build", str(m), str(p.out / "o.gguf"), "-c", "0,1"],
    "inspect": lambda m, p: ["inspect", str(m)],
    "inspect-json": lambda m, p: ["inspect", "--json", str(m)],
    "scan": lambda m, p: ["scan", str(m), "--out", str(p.out / "sweep"), "--cache-dir", str(p.out / "cache")],
    "quantize": lambda m, p: ["quantize", str(m), str(p.out / "q.gguf"), "-t", "Q8_0"],
    "quantize-imatrix": lambda m, p: [
        "quantize",
        str(p.good),
        str(p.out / "q.gguf"),
        "-t",
        "Q4_K_M",
        "--imatrix",
        str(m),
    ],
    "convert-imatrix": lambda m, p: [
        "convert",
        str(p.hf),
        str(p.out / "c.gguf"),
        "--quantize",
        "Q4_K_M",
        "--imatrix",
        str(m),
    ],
    "ollama": lambda m, p: ["ollama", str(m)],
    "lmstudio": lambda m, p: ["lmstudio", str(m), "--root", str(p.out / "lm")],
    "verify-src": lambda m, p: ["verify", str(m), str(p.rys)],
    "verify-rys": lambda m, p: ["verify", str(p.good), str(m)],
    "eval-src": lambda m, p: ["eval", str(m), str(p.rys), "--tasks", str(p.task)],
    "eval-rys": lambda m, p: ["eval", str(p.good), str(m), "--tasks", str(p.task)],
}
# The case's phrase (our own message) is required where our checks run first: everywhere for
# broken files except where the file is read as an importance matrix; for broken models not in
# quantize (llama.cpp's message) nor verify (its own checks come first).
IMATRIX_COMMANDS = {"quantize-imatrix", "convert-imatrix"}
MODEL_PHRASE_COMMANDS = {"build", "inspect", "inspect-json", "scan", "ollama", "lmstudio", "eval-src", "eval-rys"}
# Commands that never read the RYS provenance keys, so a corrupt rys.layer_path is not theirs to refuse.
NO_PROVENANCE = {"scan", "quantize", "lmstudio", "quantize-imatrix", "convert-imatrix", "eval-src", "eval-rys"}
LAYER_COUNT_CASES = {c[0] for c in MODEL_CASES if not c[0].startswith("rys-path")}
# Known gaps, kept visible: strict, so the fix turns each into a failure that asks to drop it here.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def command_cases() -> list[object]:
    params: list[object] = []
    for corpus, cases in (("file", CASES), ("model", MODEL_CASES)):
        for case, blob, phrase in cases:
            for cmd in COMMANDS:
                if corpus == "model" and case.startswith("rys-path") and cmd in NO_PROVENANCE:
                    continue
                gap = KNOWN_GAPS.get((case, cmd))
                marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
                if cmd in IMATRIX_COMMANDS or (corpus == "model" and cmd not in MODEL_PHRASE_COMMANDS):
                    phrase = ""
                params.append(pytest.param(cmd, case, blob, phrase, id=f"{cmd}-{case}", marks=marks))
    return params


@pytest.mark.parametrize(("command", "case", "blob", "phrase"), command_cases())
def test_cli_rejects(tmp_path: Path, command: str, case: str, blob: bytes, phrase: str) -> None:
    partners = Partners(tmp_path)
    src = tmp_path / "in" / "model.gguf"
    src.parent.mkdir()
    src.write_bytes(blob)
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(app, COMMANDS[command](src, partners))
    assert result.exit_code == 2, result.output
    # A progress bar closed with leave=False vanishes on a terminal; here its last frame remains.
    lines = [line for line in result.output.strip().splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("rys-gguf: error: ") and str(src) in lines[0], lines
    assert "Traceback" not in result.output
    assert phrase in lines[0].split(str(src), 1)[1]
    assert sorted(tmp_path.rglob("*")) == before  # no output, no temporary files, no sweep folder
    assert src.read_bytes() == blob  # input untouched


def test_every_model_command_is_covered() -> None:
    """A new command that takes a model must join the corpus run above."""
    names = set(CLI_COMMANDS)
    takes_no_model = {"report", "merge", "validate", "replay", "stack"}  # these read a sweep folder
    covered = {cmd.split("-")[0] for cmd in COMMANDS}
    assert names - takes_no_model == covered


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "nope.gguf")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_debug_shows_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RYS_DEBUG", "1")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "nope.gguf")])
    assert isinstance(result.exception, GGUFFormatError)
