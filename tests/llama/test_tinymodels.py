"""Smoke tests of the tiny-model builders: llama.cpp runs them, layer paths mean what they say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValue, GGUFValueType
from helpers.tinymodels import (
    ARCHS,
    SWA_PATTERN_KEY,
    PerLayer,
    TinySpec,
    gemma3_swa_flags,
    tiny_load_error,
    tiny_logits,
    write_tiny_model,
)

pytestmark = pytest.mark.llama  # the oracle models are checked in llama.cpp

DUPLICATED = [0, 1, 2, 3, 2, 3, 4, 5]  # block 2..3 runs twice


def _field(reader: GGUFReader, key: str) -> object:
    return reader.fields[key].contents()


def _tensor_bytes(reader: GGUFReader) -> dict[str, bytes]:
    return {t.name: t.data.tobytes() for t in reader.tensors}


@pytest.mark.parametrize("arch", ARCHS)
def test_loads_and_layer_paths_behave(tmp_path: Path, arch: str) -> None:
    spec = TinySpec(arch)
    plain_path = write_tiny_model(tmp_path / "plain.gguf", spec)
    n_vocab = len(GGUFReader(plain_path).fields["tokenizer.ggml.tokens"].data)
    plain = tiny_logits(plain_path)
    assert plain.shape[1] == n_vocab and plain.shape[0] > 2 * 4  # longer than gemma3's window
    assert plain.dtype == np.float32 and np.isfinite(plain).all()
    assert np.ptp(plain[-1]) > 1.0  # logits are distinct, not a flat row

    again = tiny_logits(write_tiny_model(tmp_path / "again.gguf", spec))
    assert again.tobytes() == plain.tobytes()

    same = write_tiny_model(tmp_path / "identity.gguf", spec, layer_path=range(spec.n_layers))
    assert tiny_logits(same).tobytes() == plain.tobytes()

    dup = write_tiny_model(tmp_path / "dup.gguf", spec, layer_path=DUPLICATED)
    dup_logits = tiny_logits(dup)
    assert dup_logits.shape == plain.shape and np.isfinite(dup_logits).all()
    assert not np.array_equal(dup_logits, plain)


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_path_copies_source_layers(tmp_path: Path, arch: str) -> None:
    spec = TinySpec(arch, quant="q8_0")
    plain = GGUFReader(write_tiny_model(tmp_path / "plain.gguf", spec))
    dup = GGUFReader(write_tiny_model(tmp_path / "dup.gguf", spec, layer_path=DUPLICATED))
    gguf_arch = _field(plain, "general.architecture")
    assert _field(dup, f"{gguf_arch}.block_count") == len(DUPLICATED)

    src, out = _tensor_bytes(plain), _tensor_bytes(dup)
    expected = {n: b for n, b in src.items() if not n.startswith("blk.")}
    for k, il in enumerate(DUPLICATED):
        prefix = f"blk.{il}."
        expected |= {f"blk.{k}.{n[len(prefix) :]}": b for n, b in src.items() if n.startswith(prefix)}
    assert out == expected


def test_quantized_variants_load_and_stay_close(tmp_path: Path) -> None:
    ref = tiny_logits(write_tiny_model(tmp_path / "f32.gguf", TinySpec("llama")))
    for quant in ("f16", "q8_0"):
        path = write_tiny_model(tmp_path / f"{quant}.gguf", TinySpec("llama", quant=quant))
        types = {t.tensor_type.name for t in GGUFReader(path).tensors if t.name.startswith("blk.")}
        assert types == {"F32", quant.upper()}
        got = tiny_logits(path)
        assert not np.array_equal(got, ref)
        np.testing.assert_allclose(got, ref, atol=0.5)


def test_q8_0_duplicate_loads(tmp_path: Path) -> None:
    spec = TinySpec("arrays", quant="q8_0")
    assert np.isfinite(tiny_logits(write_tiny_model(tmp_path / "m.gguf", spec, DUPLICATED))).all()


def test_split_model_loads_with_llama_cpp_names(tmp_path: Path) -> None:
    spec = TinySpec("qwen2")
    first = write_tiny_model(tmp_path / "model.gguf", spec, split_max_tensors=30)
    shards = sorted(p.name for p in tmp_path.glob("model-*.gguf"))
    assert shards == [f"model-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert first == tmp_path / shards[0]
    assert _field(GGUFReader(first), "split.count") == 3
    whole_path = write_tiny_model(tmp_path / "whole.gguf", spec)
    parts = [_tensor_bytes(GGUFReader(tmp_path / name)) for name in shards]
    joined = {n: b for part in parts for n, b in part.items()}
    assert joined == _tensor_bytes(GGUFReader(whole_path))
    assert tiny_logits(first).tobytes() == tiny_logits(whole_path).tobytes()


def test_gemma3_swa_pattern_array_is_honoured(tmp_path: Path) -> None:
    spec = TinySpec("gemma3")
    plain_path = write_tiny_model(tmp_path / "plain.gguf", spec)
    assert SWA_PATTERN_KEY not in GGUFReader(plain_path).fields
    plain = tiny_logits(plain_path)

    flags = gemma3_swa_flags(spec.n_layers)
    for vtype in (GGUFValueType.BOOL, GGUFValueType.UINT32, GGUFValueType.INT32):
        values = [bool(f) if vtype == GGUFValueType.BOOL else int(f) for f in flags]
        same = {SWA_PATTERN_KEY: GGUFValue(values, GGUFValueType.ARRAY, vtype)}
        path = write_tiny_model(tmp_path / f"same-{vtype.name}.gguf", spec, extra_kv=same)
        assert tiny_logits(path).tobytes() == plain.tobytes()

    for il in (0, spec.n_layers - 1):  # a local layer made global, the global layer made local
        flipped = [f != (i == il) for i, f in enumerate(flags)]
        extra = {SWA_PATTERN_KEY: PerLayer(tuple(flipped), GGUFValueType.BOOL)}
        path = write_tiny_model(tmp_path / f"flip{il}.gguf", spec, extra_kv=extra)
        assert not np.array_equal(tiny_logits(path), plain)


def test_gemma3_period_breaking_path_gets_the_array(tmp_path: Path) -> None:
    spec = TinySpec("gemma3")
    path = write_tiny_model(tmp_path / "dup.gguf", spec, layer_path=DUPLICATED)
    pattern = GGUFReader(path).fields[SWA_PATTERN_KEY]
    assert pattern.types == [GGUFValueType.ARRAY, GGUFValueType.BOOL]
    assert pattern.contents() == [gemma3_swa_flags(spec.n_layers)[il] for il in DUPLICATED]

    no_array = write_tiny_model(tmp_path / "no-array.gguf", spec, DUPLICATED, extra_kv={SWA_PATTERN_KEY: None})
    assert not np.array_equal(tiny_logits(no_array), tiny_logits(path))

    period = [*range(6), *range(6)]  # duplicating a whole period keeps the hard-coded pattern
    kept = write_tiny_model(tmp_path / "period.gguf", spec, layer_path=period)
    assert SWA_PATTERN_KEY not in GGUFReader(kept).fields


def test_arrays_are_per_layer_and_strict(tmp_path: Path) -> None:
    spec = TinySpec("arrays")
    plain = GGUFReader(write_tiny_model(tmp_path / "plain.gguf", spec))
    kv_heads = _field(plain, "deci.attention.head_count_kv")
    n_ff = _field(plain, "deci.feed_forward_length")
    assert len(set(kv_heads)) > 1 and len(set(n_ff)) > 1  # type: ignore[arg-type]

    stale = {
        "deci.attention.head_count_kv": GGUFValue(kv_heads, GGUFValueType.ARRAY, GGUFValueType.INT32),
        "deci.feed_forward_length": GGUFValue(n_ff, GGUFValueType.ARRAY, GGUFValueType.INT32),
    }
    path = write_tiny_model(tmp_path / "stale.gguf", spec, DUPLICATED, extra_kv=stale)
    assert "wrong array length; expected 8, got 6" in (tiny_load_error(path) or "")

    # Right length, wrong layers (the source arrays plus the last two entries): shapes disagree.
    appended = {k: GGUFValue([*v.value, *v.value[4:6]], v.type, v.sub_type) for k, v in stale.items()}
    path = write_tiny_model(tmp_path / "appended.gguf", spec, DUPLICATED, extra_kv=appended)
    assert "has wrong shape" in (tiny_load_error(path) or "")

    good = write_tiny_model(tmp_path / "good.gguf", spec, DUPLICATED)
    assert tiny_load_error(good) is None
