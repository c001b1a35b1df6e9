"""Inputs that once made a file llama.cpp cannot load, a traceback or a line without a fix, each
run through the command line in process: exit code 2 (130 when interrupted) with one line that
names the file (or option) and the fix, no traceback, no temporary named, nothing left behind
(no output, no folder, no temporary) and the inputs untouched.

``KINDS`` lists the cases per kind of the bad-input corpus:
- 4: metadata that claims more than the weights hold (``convert``'s config.json, ``build``'s
  block count);
- 6: text files that are not UTF-8 and option values out of range (NaN, infinities, negative
  seeds, sizes under a byte);
- 9: messages (a temporary's name for the output, OS errors without a fix) and folders left by a
  refused or interrupted ``lmstudio`` or ``eval``.
"""

from __future__ import annotations

import errno
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.brokenfiles import small_gguf
from helpers.cli import CliRunner
from helpers.hfmodels import llama_shapes, write_header_only_model
from helpers.lmtasks import write_filtered
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf.convert.pipeline as pipeline
import rys_gguf.ship.lmstudio as lmstudio
from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.errors import LlamaError
from rys_gguf.gguffile.spec import ValueType
from rys_gguf.gguffile.writer import encode_kv

LAYERS_0_2 = ("token_embd.weight", "blk.0.n.weight", "blk.2.n.weight")  # layer 1 has no tensor
LATIN1 = "# caf\xe9 configs\n1,2\n".encode("latin-1")


class Inputs:
    """The files a case starts from, in ``root/in``; outputs go to ``root/out`` (empty)."""

    def __init__(self, root: Path) -> None:
        self.root, self.folder, self.out = root, root / "in", root / "out"
        self.folder.mkdir(parents=True)
        self.out.mkdir()
        self.model = write_tiny_model(self.folder / "m.gguf", TinySpec("llama", n_layers=3))
        self.rys = self.folder / "rys.gguf"
        build(self.model, self.rys, "1,2")

    def file(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def gguf(self, n_layers: int, names: list[str] | None = None) -> Path:
        """A GGUF whose block count says ``n_layers`` over tensors for two layers (or ``names``)."""
        count = {"llama.block_count": encode_kv("llama.block_count", ValueType.UINT32, n_layers)}
        names = names or ["token_embd.weight", "blk.0.attn_norm.weight", "blk.1.attn_norm.weight"]
        return self.file("lying.gguf", small_gguf(n_layers=2, names=names, replace_kv=count)[0])

    def hf(self, n_layers: int = 2, **claims: Any) -> Path:
        """A HuggingFace folder of ``n_layers``, hidden size 8 and 16 tokens, with config.json's claims."""
        text = claims.pop("text_config", None)
        config = {"architectures": ["LlamaForCausalLM"], "num_hidden_layers": n_layers, "hidden_size": 8}
        config["vocab_size"] = 16
        config.update(claims)
        if text is not None:
            config = {"architectures": ["Gemma3ForConditionalGeneration"], "text_config": {**config, **text}}
        return write_header_only_model(self.folder / "hf", config, llama_shapes(n_layers, 8, 16))


Args = Callable[[Inputs], list[Any]]
Setup = Callable[[Inputs, pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Case:
    kind: int
    args: Args
    names: Callable[[Inputs], str]  # the file or option the line must name
    phrase: str  # what the line must say (the fix, or the claim)
    setup: Setup | None = None
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


def _hf_config(i: Inputs) -> str:
    return str(i.folder / "hf" / "config.json")


def _convert(**claims: Any) -> Args:
    return lambda i: ["convert", i.hf(**claims), i.out / "c.gguf"]


def _scan(*extra: Any) -> Args:
    return lambda i: ["scan", i.model, "--out", i.out / "sweep", "--cache-dir", i.out / "cache", "-q", *extra]


def _no_link(code: int) -> Setup:
    def setup(i: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
        def link(src: object, dst: object) -> None:
            raise OSError(code, __import__("os").strerror(code))

        monkeypatch.setattr(lmstudio.os, "link", link)

    return setup


def _interrupted_copy(i: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
    def copy(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lmstudio, "copy_range", copy)


def _eval(i: Inputs) -> list[Any]:
    task = write_filtered(i.folder / "tasks")
    return ["eval", i.model, i.rys, "--tasks", task, "--out", i.out / "new" / "eval", "--threads", "1", "-q"]


def _source_run(error: Callable[[Path], BaseException]) -> Setup:
    def setup(i: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
        pytest.importorskip("lm_eval")
        import rys_gguf.prove.eval as eval_job

        def evaluate(path: Path, *args: object, **kwargs: object) -> None:
            raise error(path)

        monkeypatch.setattr(eval_job, "evaluate", evaluate)

    return setup


def _cannot_load(path: Path) -> BaseException:
    return LlamaError(f"{path}: cannot load (injected); check the file")


def _ctrl_c(path: Path) -> BaseException:
    return KeyboardInterrupt()


def _converter_writes(model: Callable[[Path], Path]) -> Setup:
    """The converter stubbed to write ``model`` where the real one writes (the work folder)."""

    def setup(i: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(pipeline, "check_modules", lambda m: None)
        monkeypatch.setattr(pipeline, "fetch_converter", lambda **kw: SimpleNamespace(label="a stub"))
        written = model(i.root)

        def run(conv: object, hf_dir: Path, out: Path, outtype: str, progress: object) -> None:
            shutil.copyfile(written, out)

        monkeypatch.setattr(pipeline, "run_converter", run)

    return setup


def _truncated_conversion(root: Path) -> Path:
    """What a converter stopped by a full disk might leave: a GGUF cut short."""
    path = root / "converted.gguf"  # beside the inputs: not an input the command sees
    path.write_bytes(small_gguf(n_layers=2)[0][:200])
    return path


CASES: dict[str, Case] = {
    # kind 4: claims larger than the weights
    "convert-more-layers": Case(4, _convert(num_hidden_layers=8), _hf_config, "num_hidden_layers is 8"),
    "convert-wider-hidden": Case(4, _convert(hidden_size=64), _hf_config, "hidden_size is 64"),
    "convert-bigger-vocab": Case(4, _convert(vocab_size=32000), _hf_config, "vocab_size is 32000"),
    "convert-text-config-layers": Case(
        4, _convert(text_config={"num_hidden_layers": 4}), _hf_config, "num_hidden_layers is 4"
    ),
    "build-block-count-exceeds": Case(
        4, lambda i: ["build", i.gguf(4), i.out / "o.gguf", "-c", "0,1"], lambda i: str(i.folder / "lying.gguf"), "is 4"
    ),
    "build-layer-missing": Case(
        4,
        lambda i: ["build", i.gguf(3, [*LAYERS_0_2]), i.out / "o.gguf", "-c", "0,1"],
        lambda i: str(i.folder / "lying.gguf"),
        "none for layer 1",
    ),
    "scan-block-count-exceeds": Case(
        4,
        lambda i: ["scan", i.gguf(5), "--out", i.out / "sweep", "-q"],
        lambda i: str(i.folder / "lying.gguf"),
        "re-convert or re-download",
    ),
    # kind 6: text that is not UTF-8
    "configs-not-utf8": Case(
        6,
        lambda i: _scan("--configs", i.file("configs.txt", LATIN1))(i),
        lambda i: str(i.folder / "configs.txt"),
        "save it as UTF-8",
    ),
    "eq-set-not-utf8": Case(
        6,
        lambda i: _scan("--eq-set", i.file("eq.json", b'{"1": "caf\xe9"}'))(i),
        lambda i: str(i.folder / "eq.json"),
        "save it as UTF-8",
    ),
    "task-yaml-not-utf8": Case(
        6,
        lambda i: ["eval", i.model, i.rys, "--tasks", i.file("t.yaml", b"task: caf\xe9\n"), "--out", i.out / "e"],
        lambda i: str(i.folder / "t.yaml"),
        "save it as UTF-8",
    ),
    # kind 6: option values
    "gpus-nan": Case(6, _scan("--gpus", "nan"), lambda i: "--gpus", "e.g. 0,1"),
    "tensor-split-nan-inf": Case(6, _scan("--tensor-split", "nan,inf"), lambda i: "--tensor-split", "e.g. 1,1"),
    "min-parse-rate-nan": Case(6, _scan("--min-parse-rate", "nan"), lambda i: "--min-parse-rate", "e.g. 0.5"),
    "validate-min-parse-rate-nan": Case(
        6, lambda i: ["validate", i.out / "sweep", "--min-parse-rate", "nan"], lambda i: "--min-parse-rate", "[0, 1]"
    ),
    "config-timeout-nan": Case(6, _scan("--config-timeout", "nan"), lambda i: "--config-timeout", "e.g. 600"),
    "search-seed-negative": Case(6, _scan("--search-seed", "-1"), lambda i: "--search-seed", "x>=0"),
    "split-max-size-zero": Case(
        6,
        lambda i: ["build", i.model, i.out / "o.gguf", "-c", "1,2", "--split-max-size", "0"],
        lambda i: "--split-max-size",
        "at least 1 byte",
    ),
    "split-max-size-fraction": Case(
        6,
        lambda i: ["build", i.model, i.out / "o.gguf", "-c", "1,2", "--split-max-size", "0.5"],
        lambda i: "--split-max-size",
        "at least 1 byte",
    ),
    "memory-zero": Case(6, _scan("--memory", "0,24G"), lambda i: "--memory", "at least 1 byte"),
    # kind 9: messages and leftover folders
    "scan-out-is-a-file": Case(
        9,
        lambda i: ["scan", i.model, "--out", i.file("taken", b"x"), "-q"],
        lambda i: str(i.folder / "taken"),
        "remove it or choose another path",
    ),
    "convert-refused-names-the-output": Case(
        9,
        lambda i: ["convert", i.hf(n_layers=4), i.out / "c.gguf", "-c", "1,2", "-q"],
        lambda i: str(i.out / "c.gguf"),
        "cannot be used (truncated",
        setup=_converter_writes(_truncated_conversion),
    ),
    "lmstudio-cross-device": Case(
        9,
        lambda i: ["lmstudio", i.model, "--root", i.out / "lms" / "models", "-q"],
        lambda i: str(i.model),
        "pass --copy",
        setup=_no_link(errno.EXDEV),
    ),
    "lmstudio-permission-denied": Case(
        9,
        lambda i: ["lmstudio", i.model, "--root", i.out / "lms", "-q"],
        lambda i: str(i.out / "lms" / "rys-gguf" / "m" / "m.gguf"),
        "check the permissions",
        setup=_no_link(errno.EACCES),
    ),
    "lmstudio-read-only": Case(
        9,
        lambda i: ["lmstudio", i.model, "--root", i.out / "lms", "-q"],
        lambda i: str(i.out / "lms" / "rys-gguf" / "m" / "m.gguf"),
        "read-only: write elsewhere",
        setup=_no_link(errno.EROFS),
    ),
    "lmstudio-interrupted": Case(
        9,
        lambda i: ["lmstudio", i.model, "--root", i.out / "lms", "--copy", "-q"],
        lambda i: "",
        "interrupted",
        setup=_interrupted_copy,
        code=130,
    ),
    "eval-source-fails": Case(9, _eval, lambda i: str(i.model), "(injected)", setup=_source_run(_cannot_load)),
    "eval-interrupted": Case(9, _eval, lambda i: "", "interrupted", setup=_source_run(_ctrl_c), code=130),
}
KINDS = {kind: [name for name, case in CASES.items() if case.kind == kind] for kind in (4, 6, 9)}


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("name", list(CASES))
def test_refused_in_one_line_leaving_nothing(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    inputs = Inputs(tmp_path / "case")
    if case.setup is not None:
        case.setup(inputs, monkeypatch)
    args = [str(a) for a in case.args(inputs)]
    before = _tree(inputs.root)
    result = CliRunner().invoke(app, args, env={"RYS_CPU_REPACK": "off", **case.env})
    assert result.exit_code == case.code, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip() and "%|" not in ln]
    assert "Traceback" not in result.output and ".partial-" not in result.output, result.output
    if case.code == 130:
        assert lines[-1] == "rys-gguf: interrupted", result.output
    else:
        (line,) = [ln for ln in lines if ln.startswith("rys-gguf: error: ")]
        assert lines[-1] == line, result.output  # notes may come first; the error is last
        assert case.names(inputs) in line and case.phrase in line, line
        assert "; " in line or ": expected" in line or "Invalid value" in line, line  # a fix, or the range
    assert _tree(inputs.root) == before  # no output, no folder, no temporary; the inputs untouched


def test_every_case_is_in_a_kind() -> None:
    assert sorted(n for names in KINDS.values() for n in names) == sorted(CASES)
    assert all(KINDS.values())
    json.dumps(KINDS)  # the closing note's counts come from here
