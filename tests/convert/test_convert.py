"""HuggingFace → GGUF conversion, quantization and the RYS rewrite, judged by transformers.

Oracle: llama.cpp logits of the converted RYS model against transformers logits of the same
model with its decoder layer list duplicated the same way (config 1,3 on 4 layers: path
0,1,2,1,2,3), at every position of a 40-token sequence.

Tolerances (max |difference| over all positions; the logits reach about 1.5):
- F32_TOL = 1e-3 for the f32 conversion. Measured: 7.8e-7 (Llama), 6.0e-7 (Qwen2), float32
  summation order. Controls measured against the same llama.cpp logits: a wrong layer order
  (0,1,2,2,1,3) 0.68 / 0.17, the model without the repeated block 1.34 / 0.51, and Llama q/k
  rows without the converter's RoPE permutation 0.23; each must exceed 20x the tolerance.
- Q8_TOL = 0.1 for Q8_0 against f32. Measured: 0.034 (8-bit weights and activations); the
  Q8_0 Llama stays 0.69 from the wrong layer order, which must exceed 3x the tolerance.

- GEMMA3_TOL = 5e-3 for Gemma 3 (f32, config 0,6): ggml's CPU GELU reads an f16 table, so
  its error grows with the activations. Measured: 9.6e-4 (logits reach 1.7); the control that
  moves layer 0 after layer 5 in the second copy differs by 0.49.

The converter is fetched once per session (pip download of the llama-cpp-python sdist) into
$RYS_CACHE_DIR when set (the Makefile sets it), else into a temporary cache.
"""

from __future__ import annotations

import io
import json
import re
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from helpers.cli import CliRunner
from helpers.hfmodels import (
    N_LAYERS,
    TOKENS,
    gguf_logits,
    hf_logits,
    llama_shapes,
    permute_rope_rows,
    write_header_only_model,
    write_hf_model,
)
from helpers.tinymodels import TinySpec, tiny_logits, write_tiny_model

import rys_gguf.files as files
from rys_gguf.cli import app
from rys_gguf.convert import converter, hf, pipeline
from rys_gguf.convert.converter import MARKER, cached_converter, fetch_converter, installed_version, last_error_line
from rys_gguf.convert.pipeline import ConvertOptions, convert_hf
from rys_gguf.convert.quantize import read_imatrix
from rys_gguf.gguffile.reader import GGUFModel

PATH = [0, 1, 2, 1, 2, 3]  # config "1,3" on 4 layers
WRONG = [0, 1, 2, 2, 1, 3]
F32_TOL = 1e-3
Q8_TOL = 0.1
GEMMA3_TOL = 5e-3
runner = CliRunner()


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    """Tiny random Llama, Qwen2 and Gemma 3 folders and their transformers models."""
    for module in ("torch", "transformers", "sentencepiece"):
        pytest.importorskip(module)
    base = tmp_path_factory.mktemp("hf")
    return {arch: (base / arch, write_hf_model(base / arch, arch)) for arch in N_LAYERS}


@pytest.fixture(scope="session")
def f32_rys(
    hf_models: dict[str, tuple[Path, Any]],
    converter_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Both tiny models converted with --outtype f32 --config 1,3, through the default cache."""
    out_dir = tmp_path_factory.mktemp("f32")
    calls = {"download": 0, "extract": 0}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RYS_CACHE_DIR", str(converter_cache))
        mp.setattr(converter, "download_sdist", _counting(converter.download_sdist, calls, "download"))
        mp.setattr(converter, "extract_converter", _counting(converter.extract_converter, calls, "extract"))
        paths = {
            arch: convert_hf(folder, out_dir / f"{arch}.gguf", ConvertOptions(outtype="f32", config="1,3")).path
            for arch, (folder, _) in hf_models.items()
            if arch in ("llama", "qwen2")
        }
    return {"paths": paths, "calls": calls, "dir": out_dir}


def _counting(fn: Callable[..., Any], calls: dict[str, int], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return fn(*args, **kwargs)

    return wrapper


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


# -- the oracle ----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_f32_rys_matches_transformers(
    arch: str, f32_rys: dict[str, Any], hf_models: dict[str, tuple[Path, Any]]
) -> None:
    out = f32_rys["paths"][arch]
    model = hf_models[arch][1]
    with GGUFModel(out) as m:
        assert m.value(f"{arch}.block_count") == len(PATH)
        assert {t.type_name for t in m.tensors} == {"F32"}
    got = gguf_logits(out)
    assert got.shape == (len(TOKENS), model.config.vocab_size)
    assert _max_diff(got, hf_logits(model, PATH)) < F32_TOL
    # Controls: the tolerance is far below what a wrong plan or a wrong conversion gives.
    assert _max_diff(got, hf_logits(model, WRONG)) > 20 * F32_TOL
    assert _max_diff(got, hf_logits(model, range(4))) > 20 * F32_TOL
    if arch == "llama":
        assert _max_diff(got, hf_logits(permute_rope_rows(model), PATH)) > 20 * F32_TOL
    assert sorted(p.name for p in f32_rys["dir"].iterdir()) == ["llama.gguf", "qwen2.gguf"]


def test_q8_0_rys_stays_close_to_f32(
    f32_rys: dict[str, Any],
    hf_models: dict[str, tuple[Path, Any]],
    converter_cache: Path,
    tmp_path: Path,
) -> None:
    folder, model = hf_models["llama"]
    out = tmp_path / "q8.gguf"
    args = ["convert", str(folder), str(out), "--config", "1,3", "--outtype", "f32"]
    result = runner.invoke(app, [*args, "--quantize", "q8_0", "--quiet"], env={"RYS_CACHE_DIR": str(converter_cache)})
    assert result.exit_code == 0, result.output
    assert "Q8_0, RYS 1,3" in result.stdout
    with GGUFModel(out) as m:
        assert m.value("llama.block_count") == len(PATH)
        types = {t.name: t.type_name for t in m.tensors}
        data = {t.name: _tensor_bytes(t) for t in m.tensors if t.name.startswith("blk.")}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["blk.0.attn_norm.weight"] == "F32"
    # Duplicated after quantizing: position 3 repeats source layer 1 bit for bit.
    for name in [n for n in data if n.startswith("blk.1.")]:
        assert data[name.replace("blk.1.", "blk.3.", 1)] == data[name]
    q8 = gguf_logits(out)
    f32 = gguf_logits(f32_rys["paths"]["llama"])
    assert 1e-5 < _max_diff(q8, f32) < Q8_TOL  # quantized, and still close
    assert _max_diff(q8, hf_logits(model, WRONG)) > 3 * Q8_TOL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q8.gguf"]  # intermediates removed


def _tensor_bytes(t: Any) -> bytes:
    with open(t.path, "rb") as fh:
        fh.seek(t.data_offset)
        return fh.read(t.n_bytes)


def test_gemma3_rules_refuse_before_quantizing_and_a_whole_period_matches(
    hf_models: dict[str, tuple[Path, Any]],
    converter_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, model = hf_models["gemma3"]
    out = tmp_path / "g.gguf"
    env = {"RYS_CACHE_DIR": str(converter_cache)}

    def no_quantize(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("quantized a model the rules refuse")

    monkeypatch.setattr(pipeline, "quantize", no_quantize)
    # A 2-layer block breaks the period of 6 (five sliding-window layers, one global layer).
    args = ["convert", str(folder), str(out), "--config", "1,3", "--quantize", "Q8_0"]
    _fail(args, tmp_path, "must be a multiple of 6", env)
    args = ["convert", str(folder), str(out), "--config", "0,6", "--outtype", "f32", "--quiet"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    got = gguf_logits(out)  # 40 tokens: the 8-token sliding window matters
    assert _max_diff(got, hf_logits(model, [*range(6), *range(6)])) < GEMMA3_TOL
    assert _max_diff(got, hf_logits(model, [*range(6), 1, 2, 3, 4, 5, 0])) > 20 * GEMMA3_TOL


# -- the converter cache -------------------------------------------------------------------


def test_second_convert_neither_downloads_nor_extracts(f32_rys: dict[str, Any], converter_cache: Path) -> None:
    # The session fetched the converter once; the two conversions after it reused the cache.
    assert f32_rys["calls"] == {"download": 0, "extract": 0}
    found = cached_converter(installed_version(), converter_cache)
    assert found is not None and found.script.is_file()
    assert (found.root / "conversion").is_dir() and (found.root / "gguf-py" / "gguf").is_dir()
    assert json.loads((found.root / MARKER).read_text())["version"] == installed_version()


def _fake_sdist(path: Path, version: str) -> Path:
    """A small llama-cpp-python-like sdist with converter files, other files and hostile members."""
    top = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    files = {
        top + "convert_hf_to_gguf.py": b"print('converter')\n",
        top + "conversion/__init__.py": b"",
        top + "gguf-py/gguf/__init__.py": b"",
        top + "gguf-py/tests/test_x.py": b"",
        top + "models/templates/x.jinja": b"{{ x }}",
        top + "models/ggml-vocab-big.gguf": b"x" * 100,
        top + "src/llama.cpp": b"int main;",
        top + "conversion/../../../../escaped.py": b"bad",
        f"llama_cpp_python-{version}/llama_cpp/llama.py": b"",
    }
    tarball = path / f"llama_cpp_python-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        link = tarfile.TarInfo(top + "conversion/link.py")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return tarball


@pytest.fixture
def fake_pypi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Replace the pip download with a copy of a fake sdist; count the downloads."""
    src = tmp_path / "pypi"
    src.mkdir()
    calls = {"download": 0}

    def download(version: str, dest: Path) -> Path:
        calls["download"] += 1
        return _fake_sdist(dest, version)

    monkeypatch.setattr(converter, "download_sdist", download)
    return calls


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def test_fetch_extracts_only_the_converter_once(tmp_path: Path, fake_pypi: dict[str, int]) -> None:
    cache = tmp_path / "cache"
    first = fetch_converter("9.9.9", cache_dir=cache)
    assert first == fetch_converter("9.9.9", cache_dir=cache)
    assert fake_pypi["download"] == 1
    assert _files(cache) == [
        "converter/9.9.9/conversion/__init__.py",
        "converter/9.9.9/convert_hf_to_gguf.py",
        "converter/9.9.9/gguf-py/gguf/__init__.py",
        "converter/9.9.9/models/templates/x.jinja",
        f"converter/9.9.9/{MARKER}",
    ]
    assert not list(tmp_path.rglob("escaped.py")) and not list(tmp_path.rglob("link.py"))


def test_a_crash_during_fetch_leaves_no_half_cache(
    tmp_path: Path, fake_pypi: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    real_extract = converter.extract_converter

    def crash(sdist: Path, dest: Path) -> None:
        real_extract(sdist, dest)
        raise KeyboardInterrupt

    monkeypatch.setattr(converter, "extract_converter", crash)
    with pytest.raises(KeyboardInterrupt):
        fetch_converter("9.9.9", cache_dir=cache)
    assert _files(cache) == [] and cached_converter("9.9.9", cache) is None
    # A folder without the marker (e.g. copied by hand, half written) is not trusted either.
    (cache / "converter" / "9.9.8").mkdir()
    (cache / "converter" / "9.9.8" / "convert_hf_to_gguf.py").write_text("")
    assert cached_converter("9.9.8", cache) is None


def test_converter_checkout_option(tmp_path: Path) -> None:
    checkout = tmp_path / "llama.cpp"
    (checkout / "gguf-py" / "gguf").mkdir(parents=True)
    out = str(tmp_path / "o.gguf")
    folder = str(_fake_hf_dir(tmp_path))
    _fail(
        ["convert", folder, out, "--converter", str(checkout)],
        tmp_path,
        "has no convert_hf_to_gguf.py",
    )
    (checkout / "convert_hf_to_gguf.py").write_text("")
    (checkout / "gguf-py" / "gguf").rmdir()
    _fail(["convert", folder, out, "--converter", str(checkout)], tmp_path, "has no gguf-py/gguf")
    (checkout / "gguf-py" / "gguf").mkdir()
    found = converter.open_converter(checkout / "convert_hf_to_gguf.py")
    assert found.root == checkout and str(checkout) in found.label


# -- bad input: one line, exit code 2, nothing left behind ---------------------------------


def _fail(args: list[str], tmp_path: Path, phrase: str, env: dict[str, str] | None = None) -> str:
    before = _files(tmp_path)
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    # Progress lines may come first; the error is the last line, alone, without a traceback.
    message = [ln for ln in re.split(r"[\r\n]", result.stderr) if ln.strip()][-1]
    assert message.startswith("rys-gguf: error: ") and "Traceback" not in result.stderr
    assert phrase in message, message
    assert _files(tmp_path) == before  # no output, no temporary files
    return message


def _write_safetensors(path: Path, n_floats: int, truncate: int = 0) -> int:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}})
    blob = struct.pack("<Q", len(header)) + header.encode() + b"\0" * (4 * n_floats)
    path.write_bytes(blob[: len(blob) - truncate])
    return len(blob)


def _fake_hf_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    config = {"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 4}
    (folder / "config.json").write_text(json.dumps(config))
    _write_safetensors(folder / "model.safetensors", 16)
    return folder


def test_folder_without_config_or_weights(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "tokenizer.model").write_bytes(b"")
    out = str(tmp_path / "out.gguf")
    _fail(["convert", str(folder), out], tmp_path, "has no config.json")
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    _fail(["convert", str(folder), out], tmp_path, "has no weights")
    _fail(["convert", str(tmp_path / "nowhere"), out], tmp_path, "is not a folder")


def test_partial_download_lists_missing_shards(tmp_path: Path) -> None:
    folder = _fake_hf_dir(tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00003.safetensors")
    shards = [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)]
    index = {"weight_map": {f"t{k}": shard for k, shard in enumerate(shards)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    message = _fail(["convert", str(folder), str(tmp_path / "o.gguf")], tmp_path, "2 of 3 weight files")
    assert shards[1] in message and shards[2] in message and shards[0] not in message


def test_truncated_weights_and_lfs_pointers(tmp_path: Path) -> None:
    folder = _fake_hf_dir(tmp_path)
    out = str(tmp_path / "o.gguf")
    full = _write_safetensors(folder / "model.safetensors", 16, truncate=10)
    _fail(["convert", str(folder), out], tmp_path, f"is truncated ({full - 10} of {full} bytes)")
    (folder / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\n")
    _fail(["convert", str(folder), out], tmp_path, "Git LFS pointer")


def test_options_checked_before_converting(tmp_path: Path) -> None:
    folder = str(_fake_hf_dir(tmp_path))
    out = tmp_path / "o.gguf"
    _fail(["convert", folder, str(out), "--config", "3,9"], tmp_path, "j must be <= 4")
    _fail(["convert", folder, str(out), "--quantize", "Q4_K_X"], tmp_path, "unknown quantization type")
    _fail(
        ["convert", folder, str(out), "--outtype", "q8_0", "--quantize", "Q4_K_M"],
        tmp_path,
        "float --outtype",
    )
    _fail(["convert", folder, str(out), "--imatrix", str(out)], tmp_path, "--imatrix needs --quantize")
    _fail(["convert", folder, str(out), "--outtype", "f8"], tmp_path, "unknown --outtype")
    out.write_bytes(b"old")
    _fail(["convert", folder, str(out)], tmp_path, "exists; pass --force")


LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 8, "vocab_size": 16}


@pytest.mark.parametrize(
    ("claims", "phrase"),
    [
        ({"num_hidden_layers": 8}, "num_hidden_layers is 8 but the safetensors hold 2 layers"),
        ({"hidden_size": 64}, "hidden_size is 64 but the safetensors hold a hidden size of 8"),
        ({"vocab_size": 32000}, "vocab_size is 32000 but the safetensors hold a vocabulary of 16"),
        ({"text_config": {"num_hidden_layers": 3}}, "num_hidden_layers is 3 but"),
    ],
)
def test_config_claiming_more_than_the_weights_is_refused_before_anything_runs(
    tmp_path: Path, claims: dict[str, Any], phrase: str
) -> None:
    folder = write_header_only_model(tmp_path / "model", {**LLAMA_CONFIG, **claims}, llama_shapes(2, 8, 16))
    message = _fail(["convert", str(folder), str(tmp_path / "o.gguf")], tmp_path, phrase)
    assert message.startswith(f"rys-gguf: error: {folder / 'config.json'}: ") and "fix " in message


@pytest.mark.parametrize(
    ("claims", "shapes"),
    [
        ({"num_hidden_layers": 1}, llama_shapes(2)),  # fewer: MTP layers carry layer tensors too
        ({"vocab_size": 12}, llama_shapes(2)),  # an embedding padded past the vocabulary
        ({}, {**llama_shapes(2), "vision_tower.encoder.layers.5.norm.weight": [8]}),  # a vision tower's layers
        ({}, {**llama_shapes(2), "vision_tower.embeddings.word_embeddings.weight": [4, 4]}),  # a smaller embedding
        ({"hidden_size": 64}, {"model.layers.0.norm.weight": [8], "model.layers.1.norm.weight": [8]}),  # none
        ({"hidden_size": 64, "word_embed_proj_dim": 8}, llama_shapes(2)),  # projected embeddings (OPT)
    ],
)
def test_claims_the_weights_cover_are_accepted(claims: dict[str, Any], shapes: dict[str, list[int]]) -> None:
    sized = {name: ("F32", s) for name, s in shapes.items()}
    hf.check_shapes(Path("config.json"), {**LLAMA_CONFIG, **claims}, sized)


def test_packed_embeddings_are_not_read_as_the_hidden_size() -> None:
    packed = {"model.embed_tokens.weight": ("U8", [16, 1]), "model.layers.0.n.weight": ("F32", [8])}
    hf.check_shapes(Path("config.json"), {**LLAMA_CONFIG, "num_hidden_layers": 1}, packed)


def test_missing_python_modules_name_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        hf.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "yaml") else SimpleNamespace(name=name),
    )
    message = _fail(
        ["convert", str(_fake_hf_dir(tmp_path)), str(tmp_path / "o.gguf")],
        tmp_path,
        "torch, pyyaml",
    )
    assert "pip install 'rys-gguf[hf]'" in message and "pip install torch" in message


def test_not_enough_disk_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _fake_hf_dir(tmp_path)
    monkeypatch.setattr(pipeline, "check_modules", lambda model: None)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(total=10, used=10, free=1000))
    args = [
        "convert",
        str(folder),
        str(tmp_path / "o.gguf"),
        "--quantize",
        "Q4_K_M",
        "--config",
        "1,3",
    ]
    message = _fail(args, tmp_path, "not enough disk space")
    assert "need about" in message and "0.0 MB is free" in message


def test_unsupported_architecture_quotes_the_converter(
    hf_models: dict[str, tuple[Path, Any]], converter_cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for f in hf_models["llama"][0].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["FooBarForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    args = ["convert", str(folder), str(tmp_path / "o.gguf"), "--config", "1,3"]
    message = _fail(
        args,
        tmp_path,
        "Model FooBarForCausalLM is not supported",
        {"RYS_CACHE_DIR": str(converter_cache)},
    )
    assert "llama-cpp-python " + installed_version() in message


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (
            "INFO:hf-to-gguf:Loading\nERROR:hf-to-gguf:Model X is not supported\n",
            "Model X is not supported",
        ),
        (
            'Traceback (most recent call last):\n  File "x.py"\n'
            "ValueError: Missing or incomplete model files: ['a']\nMissing tensors: ['t']\n",
            "ValueError: Missing or incomplete model files: ['a']",
        ),
        (
            "ERROR: Could not find a version that satisfies the requirement x==1\n",
            "Could not find a version",
        ),
        ("nothing useful\n", None),
    ],
)
def test_last_error_line(output: str, line: str | None) -> None:
    got = last_error_line(output)
    assert got == line if line is None else (got is not None and got.startswith(line))


def test_converter_failure_names_a_missing_module() -> None:
    output = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'yaml'\n"
    found = converter.Converter(Path("/x"), "0.3.36")
    message = converter._converter_failure(Path("m"), output, found, 1)
    assert message == (
        "the llama.cpp converter of llama-cpp-python 0.3.36 needs the Python module 'yaml': pip install pyyaml"
    )


# -- quantize on its own (no torch needed) -------------------------------------------------


@pytest.fixture
def tiny_f32(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "f32.gguf", TinySpec("llama", n_layers=4))


@pytest.mark.llama
def test_quantize_command(tiny_f32: Path, tmp_path: Path) -> None:
    out = tmp_path / "q8.gguf"
    result = runner.invoke(app, ["quantize", str(tiny_f32), str(out), "--type", "q8_0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{out}: Q8_0")
    with GGUFModel(out) as m:
        assert m.tensors and {t.type_name for t in m.tensors if len(t.shape) == 2} == {"Q8_0"}
    f32 = tiny_logits(tiny_f32)  # this model's logits reach about 4; Q8_0 moves them ~3 %
    assert 1e-5 < _max_diff(tiny_logits(out), f32) < 0.05 * np.abs(f32).max()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f32.gguf", "q8.gguf"]
    # Requantizing Q8_0 is refused by llama.cpp: its reason, one line, no partial file.
    _fail(["quantize", str(out), str(tmp_path / "q4.gguf"), "--type", "Q4_0"], tmp_path, "requantiz")
    _fail(["quantize", str(tiny_f32), str(out), "--type", "Q4_0"], tmp_path, "exists; pass --force")
    _fail(
        ["quantize", str(tmp_path / "none.gguf"), str(tmp_path / "x.gguf"), "--type", "Q4_0"],
        tmp_path,
        "no such file",
    )


def _imatrix_values(model_path: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    with GGUFModel(model_path) as m:
        return {
            t.name: rng.uniform(0.01, 10.0, t.shape[0]).astype(np.float32)
            for t in m.tensors
            if t.name.startswith("blk.") and len(t.shape) == 2
        }


def _write_gguf_imatrix(path: Path, values: dict[str, np.ndarray], count: int = 64) -> Path:
    import gguf

    w = gguf.GGUFWriter(path, "imatrix")
    w.add_array("imatrix.datasets", ["test.txt"])
    w.add_uint32("imatrix.chunk_count", 5)
    w.add_uint32("imatrix.chunk_size", 10)
    for name, v in values.items():
        w.add_tensor(f"{name}.in_sum2", (v * count).reshape(1, -1))
        w.add_tensor(f"{name}.counts", np.array([[count]], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _write_legacy_imatrix(path: Path, values: dict[str, np.ndarray], ncall: int = 4) -> Path:
    parts = [struct.pack("<i", len(values))]
    for name, v in values.items():
        parts += [struct.pack("<i", len(name)), name.encode(), struct.pack("<ii", ncall, v.size)]
        parts.append((v * ncall).astype("<f4").tobytes())
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.llama
def test_imatrix_both_formats_reach_llama_cpp(tiny_f32: Path, tmp_path: Path) -> None:
    values = _imatrix_values(tiny_f32)
    gguf_im = _write_gguf_imatrix(tmp_path / "im.gguf", values)
    legacy_im = _write_legacy_imatrix(tmp_path / "im.dat", values)
    for im in (gguf_im, legacy_im):
        read = read_imatrix(im)
        assert read.keys() == values.keys()
        assert all(np.allclose(read[k], v, rtol=1e-6) for k, v in values.items())
    outs = {}
    for label, im in (("plain", None), ("gguf", gguf_im), ("legacy", legacy_im)):
        outs[label] = tmp_path / f"{label}.gguf"
        args = ["quantize", str(tiny_f32), str(outs[label]), "--type", "Q4_0", "--quiet"]
        result = runner.invoke(app, args + (["--imatrix", str(im)] if im else []))
        assert result.exit_code == 0, result.output
    blobs = {k: _blk_bytes(p) for k, p in outs.items()}
    assert blobs["gguf"] == blobs["legacy"]  # same normalisation as llama-quantize
    assert blobs["gguf"] != blobs["plain"]  # the weights changed the rounding
    with GGUFModel(outs["gguf"]) as m:
        assert m.value("quantize.imatrix.entries_count") == len(values)
        assert m.value("quantize.imatrix.file") == "im.gguf"
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x05\x00\x00\x00abc")
    _fail(
        [
            "quantize",
            str(tiny_f32),
            str(tmp_path / "x.gguf"),
            "--type",
            "Q4_0",
            "--imatrix",
            str(bad),
        ],
        tmp_path,
        "not an imatrix",
    )


def _blk_bytes(path: Path) -> bytes:
    with GGUFModel(path) as m:
        return b"".join(_tensor_bytes(t) for t in m.tensors if t.name.startswith("blk."))
