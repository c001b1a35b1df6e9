"""No code from a model folder without consent: Python files, auto_map and pickled weights are
refused unless --trust-remote-code / --allow-pickle; the converter honours -q.

A stand-in converter checkout (``--converter``) shows what reaches the converter without running
llama.cpp's; the real converter's own pickle loading is checked in the converter tier."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.hostile import forbidden_in, hostile_hf_folder

from rys_gguf.cli import app
from rys_gguf.convert import consent
from rys_gguf.convert.consent import code_files, pickled_files
from rys_gguf.convert.hf import read_hf_dir

runner = CliRunner()
FAKE_CONVERTER = """
import json, os, sys
out = sys.argv[sys.argv.index("--outfile") + 1]
with open(os.environ["RYS_FAKE_CONVERTER_LOG"], "w") as log:
    json.dump({"argv": sys.argv[1:], "TQDM_DISABLE": os.environ.get("TQDM_DISABLE")}, log)
for percent in (50, 100):
    print(f"Writing: {percent}%|#####| 1/2", file=sys.stderr, flush=True)
open(out, "wb").write(b"GGUF")
"""


@pytest.fixture
def fake_converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A llama.cpp checkout whose convert_hf_to_gguf.py records how it was run; the log path."""
    root = tmp_path / "llama.cpp"
    (root / "gguf-py" / "gguf").mkdir(parents=True)
    (root / "convert_hf_to_gguf.py").write_text(FAKE_CONVERTER)
    log = tmp_path / "converter-run.json"
    monkeypatch.setenv("RYS_FAKE_CONVERTER_LOG", str(log))
    return log


def convert(folder: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    args = ["convert", str(folder), str(tmp_path / "out.gguf"), "--converter", str(tmp_path / "llama.cpp"), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def test_code_and_pickles_are_found(tmp_path: Path) -> None:
    both = hostile_hf_folder(tmp_path / "both", "both")
    assert code_files(both) == ["tokenization_evil.py", "auto_map in tokenizer_config.json"]
    assert pickled_files(both, read_hf_dir(both).weight_files) == ["pytorch_model.bin"]
    assert code_files(hostile_hf_folder(tmp_path / "map", "auto-map")) == ["auto_map in config.json"]
    nested = hostile_hf_folder(tmp_path / "nested", "pickle")
    (nested / "sub").mkdir()
    (nested / "sub" / "helper.py").write_text("")
    (nested / "mask_embedding.pt").write_bytes(b"")
    assert code_files(nested) == ["sub/helper.py"]
    assert pickled_files(nested, read_hf_dir(nested).weight_files) == ["pytorch_model.bin", "mask_embedding.pt"]


def test_safetensors_beside_a_bin_is_what_the_converter_reads(tmp_path: Path) -> None:
    folder = hostile_hf_folder(tmp_path / "m", "pickle")
    plain = hostile_hf_folder(tmp_path / "s", "auto-map")  # a valid safetensors file to copy
    (folder / "model.safetensors").write_bytes((plain / "model.safetensors").read_bytes())
    files = read_hf_dir(folder).weight_files
    assert [f.name for f in files] == ["model.safetensors"] and pickled_files(folder, files) == []


@pytest.mark.parametrize(
    ("kind", "names", "fix"),
    [
        ("py", "tokenization_evil.py, auto_map in tokenizer_config.json", "--trust-remote-code"),
        ("auto-map", "auto_map in config.json", "--trust-remote-code"),
        ("pickle", "pytorch_model.bin", "--allow-pickle"),
    ],
)
def test_refused_without_consent(tmp_path: Path, fake_converter: Path, kind: str, names: str, fix: str) -> None:
    marker = tmp_path / "code-ran"
    folder = hostile_hf_folder(tmp_path / "model", kind, marker)
    before = sorted(tmp_path.rglob("*"))
    code, output = convert(folder, tmp_path)
    assert code == 2
    (line,) = output.strip().splitlines()
    assert line.startswith(f"rys-gguf: error: {folder}") and f"({names})" in line and fix in line
    assert sorted(tmp_path.rglob("*")) == before and not fake_converter.exists() and not marker.exists()


@pytest.mark.procs
def test_consent_lets_the_converter_run(tmp_path: Path, fake_converter: Path) -> None:
    marker = tmp_path / "code-ran"
    folder = hostile_hf_folder(tmp_path / "model", "both", marker)
    code, output = convert(folder, tmp_path, "--trust-remote-code")
    assert code == 2 and "--allow-pickle" in output  # one consent does not give the other
    code, output = convert(folder, tmp_path, "--trust-remote-code", "--allow-pickle", "-q")
    assert code == 0, output
    assert json.loads(fake_converter.read_text())["argv"][0] == str(folder.resolve())
    assert not marker.exists()  # rys-gguf itself neither imported the code nor unpickled the weights


def test_old_torch_is_refused_for_pickles(
    tmp_path: Path, fake_converter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent, "torch_version", lambda: (2, 5))
    folder = hostile_hf_folder(tmp_path / "model", "pickle")
    code, output = convert(folder, tmp_path, "--allow-pickle")
    assert code == 2 and "torch 2.5" in output and "CVE-2025-32434" in output and not fake_converter.exists()


@pytest.mark.procs
def test_quiet_converter_draws_no_bar(tmp_path: Path, fake_converter: Path) -> None:
    folder = hostile_hf_folder(tmp_path / "model", "auto-map")
    code, output = convert(folder, tmp_path, "--trust-remote-code", "-q")
    assert code == 0 and json.loads(fake_converter.read_text())["TQDM_DISABLE"] == "1"
    assert output.strip().splitlines() == [f"{tmp_path / 'out.gguf'}: auto, 0.0 MB"]
    code, output = convert(folder, tmp_path, "--trust-remote-code", "--force")
    assert code == 0 and json.loads(fake_converter.read_text())["TQDM_DISABLE"] is None
    assert output.startswith("[1] converting model to GGUF (auto)")


def test_hostile_folder_names_are_escaped(tmp_path: Path, fake_converter: Path) -> None:
    folder = hostile_hf_folder(tmp_path / "m\x1b]0;t\x07\u202e", "py")
    code, output = convert(folder, tmp_path)
    assert code == 2 and not forbidden_in(output) and "m\\x1b]0;t\\x07\\u202e" in output


# -- the real converter: a pickle that runs code is refused by torch's restricted unpickler --


def test_real_converter_does_not_run_a_pickle(tmp_path: Path, converter_cache: Path) -> None:
    pytest.importorskip("torch")
    marker = tmp_path / "code-ran"
    folder = hostile_hf_folder(tmp_path / "model", "pickle", marker, torch_zip=True)
    env = {"RYS_CACHE_DIR": str(converter_cache)}
    result = runner.invoke(app, ["convert", str(folder), str(tmp_path / "o.gguf"), "--allow-pickle", "-q"], env=env)
    assert result.exit_code == 2 and not marker.exists()
    line = [ln for ln in re.split(r"[\r\n]", result.output) if ln.strip()][-1]
    assert line.startswith("rys-gguf: error: cannot convert") and not forbidden_in(result.output)
    assert "Weights only load failed" in line or "Unsupported global" in line, line
    assert not (tmp_path / "o.gguf").exists()
