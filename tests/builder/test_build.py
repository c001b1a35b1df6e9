"""Oracle tests: llama.cpp logits of our output equal those of an independently written model."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader
from helpers.brokenfiles import small_gguf
from helpers.cli import CliRunner
from helpers.tinymodels import TinySpec, tiny_logits, write_tiny_model

from rys_gguf.builder.job import build
from rys_gguf.builder.layout import BuildOptions
from rys_gguf.builder.source import model_constraints
from rys_gguf.cli import app
from rys_gguf.errors import ArchitectureError, GGUFFormatError, OutputError
from rys_gguf.gguffile.reader import GGUFFile, GGUFModel
from rys_gguf.gguffile.spec import ValueType
from rys_gguf.gguffile.writer import encode_kv
from rys_gguf.plan import parse_plan

CASES = [
    ("llama", "f32", "2,4"),
    ("llama", "q8_0", "1,5"),
    ("llama", "f16", "0,6"),
    ("llama", "f32", "1,3;2,3"),
    ("llama", "q8_0", "layers:0,1,2,2,1,3,4,5"),
    ("qwen2", "f32", "2,5"),
    ("qwen2", "q8_0", "3,5;1,2"),
    ("gemma3", "f32", "0,6"),
    ("arrays", "f32", "1,4"),
    ("arrays", "f32", "2,5;0,3"),
    ("arrays", "f16", "layers:5,4,3,2,1,0"),
]


@pytest.mark.llama
@pytest.mark.parametrize(("arch", "quant", "spec"), CASES)
def test_logits_match_independent_model(tmp_path: Path, arch: str, quant: str, spec: str) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec(arch, quant=quant))
    ours = tmp_path / "rys.gguf"
    result = build(src, ours, spec)
    path = list(parse_plan(spec, 6).path)
    oracle = write_tiny_model(tmp_path / "oracle.gguf", TinySpec(arch, quant=quant), layer_path=path)
    assert result.n_layers_out == len(path)
    assert np.array_equal(tiny_logits(ours), tiny_logits(oracle))
    reader = GGUFReader(ours)  # gguf-py reads it, with the provenance keys
    assert list(reader.fields["rys.layer_path"].contents()) == path
    assert reader.fields["rys.config"].contents() == parse_plan(spec, 6).spec
    assert reader.fields["rys.source_block_count"].contents() == 6


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3", "arrays"])
def test_identity_round_trip_is_byte_exact(tmp_path: Path, arch: str) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec(arch, quant="q8_0" if arch == "llama" else "f32"))
    out = tmp_path / "out.gguf"
    build(src, out, "layers:0,1,2,3,4,5")
    assert out.read_bytes() == src.read_bytes()
    build(src, tmp_path / "base.gguf", "0,0")
    assert (tmp_path / "base.gguf").read_bytes() == src.read_bytes()


@pytest.mark.llama
def test_gemma3_period_is_enforced_and_override_keeps_flags(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("gemma3"))
    with pytest.raises(ArchitectureError, match="multiple of 6"):
        build(src, tmp_path / "bad.gguf", "2,5")
    assert not (tmp_path / "bad.gguf").exists()
    out = tmp_path / "swa.gguf"
    build(src, out, "2,5", options=BuildOptions(write_swa_pattern=True))
    oracle = write_tiny_model(tmp_path / "oracle.gguf", TinySpec("gemma3"), layer_path=list(parse_plan("2,5", 6).path))
    assert np.array_equal(tiny_logits(out), tiny_logits(oracle))


def test_per_layer_arrays_keep_element_type(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("arrays"))
    out = tmp_path / "out.gguf"
    build(src, out, "1,4")
    with GGUFFile(src) as a, GGUFFile(out) as b:
        for key in ("deci.attention.head_count_kv", "deci.feed_forward_length", "deci.attention.head_count"):
            assert a.kv[key].elem_type == b.kv[key].elem_type
            assert list(b.value(key)) == [a.value(key)[s] for s in parse_plan("1,4", 6).path]


@pytest.mark.llama
def test_split_input_and_output(tmp_path: Path) -> None:
    spec = TinySpec("llama", quant="q8_0")
    (tmp_path / "in").mkdir()
    first = write_tiny_model(tmp_path / "in" / "model.gguf", spec, split_max_tensors=10)
    assert first.name.startswith("model-00001-of-")
    out = tmp_path / "single.gguf"
    build(first, out, "2,4")
    split_out = tmp_path / "split.gguf"
    result = build(first, split_out, "2,4", options=BuildOptions(split_max_bytes=60_000))
    assert len(result.paths) > 2 and result.paths[0].name.endswith(f"-00001-of-{len(result.paths):05d}.gguf")
    oracle = write_tiny_model(tmp_path / "oracle.gguf", spec, layer_path=list(parse_plan("2,4", 6).path))
    expected = tiny_logits(oracle)
    assert np.array_equal(tiny_logits(out), expected)
    assert np.array_equal(tiny_logits(result.paths[0]), expected)
    with GGUFModel(result.paths[0]) as m:
        assert m.first.value("split.count") == len(result.paths)
        assert len(m.files) == len(result.paths) and "split.count" not in m.kv


def test_shard_given_out_of_order_is_refused(tmp_path: Path) -> None:
    first = write_tiny_model(tmp_path / "model.gguf", TinySpec("llama"), split_max_tensors=20)
    second = first.with_name(first.name.replace("00001-of", "00002-of"))
    result = CliRunner().invoke(app, ["inspect", str(second)])
    assert result.exit_code == 2 and "give the first shard" in result.output
    second.unlink()
    result = CliRunner().invoke(app, ["inspect", str(first)])
    assert result.exit_code == 2 and "missing shards" in result.output


def _set_type(blob: bytes, name: str, ggml_type: int) -> bytes:
    at = blob.find(name.encode()) + len(name) + 4 + 8  # after name, n_dims and ne[0]
    return blob[:at] + struct.pack("<I", ggml_type) + blob[at + 4 :]


@pytest.mark.parametrize(("version", "alignment"), [(2, None), (3, 64), (3, 128), (3, 8)])
def test_versions_alignments_and_unknown_types(tmp_path: Path, version: int, alignment: int | None) -> None:
    blob, _ = small_gguf(version=version, alignment=alignment, n_layers=3)
    # A quant type newer than any table (id 60): sized from offsets, copied byte-exact.
    blob = _set_type(blob, "blk.1.attn_norm.weight", 60)
    src = tmp_path / "src.gguf"
    src.write_bytes(blob)
    out = tmp_path / "out.gguf"
    build(src, out, "1,3", options=BuildOptions(allow_unknown_arch=True))
    with GGUFModel(src) as a, GGUFModel(out) as b:
        assert b.first.version == version and b.first.alignment == (alignment or 32)
        by_name = {t.name: t for t in b.tensors}
        for k, s in enumerate(parse_plan("1,3", 3).path):
            src_t = next(t for t in a.tensors if t.name == f"blk.{s}.attn_norm.weight")
            out_t = by_name[f"blk.{k}.attn_norm.weight"]
            assert out_t.ggml_type == src_t.ggml_type
            with open(src, "rb") as fa, open(out, "rb") as fb:
                fa.seek(src_t.data_offset)
                fb.seek(out_t.data_offset)
                assert fa.read(32 * 4) == fb.read(32 * 4)
    build(src, tmp_path / "id.gguf", "0,0", options=BuildOptions(allow_unknown_arch=True))
    assert (tmp_path / "id.gguf").read_bytes() == blob


def test_destination_safety(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("llama"))
    before = src.read_bytes()
    with pytest.raises(OutputError, match="is the input"):
        build(src, src, "1,2")
    (tmp_path / "link.gguf").hardlink_to(src)
    with pytest.raises(OutputError, match="is the input"):
        build(src, tmp_path / "link.gguf", "1,2", options=BuildOptions(force=True))
    out = tmp_path / "out.gguf"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="--force"):
        build(src, out, "1,2")
    assert out.read_bytes() == b"keep me"
    build(src, out, "1,2", options=BuildOptions(force=True))
    assert out.read_bytes()[:4] == b"GGUF"
    with pytest.raises(OutputError, match="does not exist"):
        build(src, tmp_path / "nope" / "x.gguf", "1,2")
    assert src.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_cli_build_summary_and_inspect_json(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("llama"))
    out = tmp_path / "out.gguf"
    r = CliRunner().invoke(app, ["build", str(src), str(out), "--config", "2,4", "-q"])
    assert r.exit_code == 0, r.output
    assert "layers 6 → 8" in r.output
    import json

    info = json.loads(CliRunner().invoke(app, ["inspect", str(out), "--json"]).output)
    assert info["architecture"] == "llama" and info["block_count"] == 8
    assert info["layer_path"] == [0, 1, 2, 3, 2, 3, 4, 5] and info["n_tensors"] > 0
    plain = json.loads(CliRunner().invoke(app, ["inspect", str(src), "--json"]).output)
    assert plain["layer_path"] is None
    text = CliRunner().invoke(app, ["inspect", str(out)]).output
    assert "RYS            config 2,4" in text and "none (any block)" in text


def test_cli_config_out_of_range(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("llama"))
    r = CliRunner().invoke(app, ["build", str(src), str(tmp_path / "o.gguf"), "-c", "2,9"])
    assert r.exit_code == 2
    assert "j must be <= 6 (the model has 6 layers)" in r.output
    assert not (tmp_path / "o.gguf").exists()


@pytest.mark.parametrize(
    ("count", "names", "phrase"),
    [
        (4, None, "llama.block_count is 4 but its tensors hold 2 of those layers (none for layer 2)"),
        (3, ["token_embd.weight", "blk.0.n.weight", "blk.2.n.weight"], "hold 2 of those layers (none for layer 1)"),
        (2, ["token_embd.weight", "blk.0.n.weight"], "hold 1 of those layers (none for layer 1)"),
    ],
)
def test_a_block_count_beyond_the_tensors_is_refused_before_writing(
    tmp_path: Path, count: int, names: list[str] | None, phrase: str
) -> None:
    src = tmp_path / "lying.gguf"
    kv = encode_kv("llama.block_count", ValueType.UINT32, count)
    src.write_bytes(small_gguf(names=names, replace_kv={"llama.block_count": kv})[0])
    with GGUFModel(src) as model, pytest.raises(GGUFFormatError) as info:
        model_constraints(model)
    assert str(info.value).startswith(f"{src}: ") and phrase in str(info.value)
    with pytest.raises(GGUFFormatError, match="re-convert or re-download"):
        build(src, tmp_path / "o.gguf", "0,1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lying.gguf"]


def test_tensors_beyond_the_block_count_are_left_to_the_layout(tmp_path: Path) -> None:
    """Only claims larger than the weights are refused by the count check: a layer the count
    leaves out is named by the layout when a build would copy it."""
    src = tmp_path / "extra.gguf"
    kv = encode_kv("llama.block_count", ValueType.UINT32, 1)
    src.write_bytes(small_gguf(replace_kv={"llama.block_count": kv})[0])  # tensors for layers 0 and 1
    with GGUFModel(src) as model:
        assert model_constraints(model).n_layers == 1
