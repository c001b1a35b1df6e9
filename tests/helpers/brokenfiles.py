"""Hand-made GGUF bytes and corpora of broken variants (generators, no binary fixtures).

``broken_files`` are files the header parser must refuse (truncated at every section boundary,
wrong magic and versions, bad alignment, tensors past the end, long names, duplicate keys, ...).
``broken_models`` parse as GGUF but are not usable models (a mistyped or absurd layer count,
corrupt RYS provenance, split keys of the wrong type, ...): every command that takes a model must
refuse them with one line too.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rys_gguf.gguffile.spec import ValueType
from rys_gguf.gguffile.writer import encode_kv, encode_string, encode_tensor_info


@dataclass
class Sections:
    """Byte offsets where each section (and each entry) of a file made by ``small_gguf`` starts."""

    kv: int
    tensor_infos: int
    data: int
    end: int
    kv_ends: list[int] = field(default_factory=list)  # where each key/value entry ends
    info_ends: list[int] = field(default_factory=list)  # where each tensor info ends


def small_gguf(
    *,
    version: int = 3,
    alignment: int | None = None,
    n_layers: int = 2,
    extra_kv: list[bytes] | None = None,
    names: list[str] | None = None,
    replace_kv: dict[str, bytes | None] | None = None,
) -> tuple[bytes, Sections]:
    """A tiny, valid 'llama' GGUF: one F32 [32] tensor per name (not loadable by llama.cpp).

    ``replace_kv`` swaps a standard entry for other encoded bytes (None drops it).
    """
    standard: dict[str, bytes | None] = {
        "general.architecture": encode_kv("general.architecture", ValueType.STRING, "llama"),
        "llama.block_count": encode_kv("llama.block_count", ValueType.UINT32, n_layers),
        "tokenizer.ggml.tokens": encode_kv("tokenizer.ggml.tokens", ValueType.ARRAY, ["a", "b", "c"], ValueType.STRING),
    }
    standard.update(replace_kv or {})
    kvs = [kv for kv in standard.values() if kv is not None]
    if alignment is not None:
        kvs.append(encode_kv("general.alignment", ValueType.UINT32, alignment))
    kvs += extra_kv or []
    names = names or ["token_embd.weight"] + [f"blk.{k}.attn_norm.weight" for k in range(n_layers)]
    align = alignment or 32
    head = b"GGUF" + struct.pack("<IQQ", version, len(names), len(kvs))
    kv_bytes = b"".join(kvs)
    infos = [encode_string(name) + struct.pack("<IQIQ", 1, 32, 0, k * 128) for k, name in enumerate(names)]
    prefix = head + kv_bytes + b"".join(infos)
    pad = -len(prefix) % align if align and not align & (align - 1) else 0
    data = b"".join(struct.pack("<32f", *([float(k)] * 32)) for k in range(len(names)))
    blob = prefix + bytes(pad) + data
    sections = Sections(len(head), len(head) + len(kv_bytes), len(prefix) + pad, len(blob))
    sections.kv_ends = [len(head) + sum(len(kv) for kv in kvs[: k + 1]) for k in range(len(kvs))]
    sections.info_ends = [sections.tensor_infos + sum(len(i) for i in infos[: k + 1]) for k in range(len(infos))]
    return blob, sections


def write_synthetic(path: Path, n_layers: int, n_floats: int, seed: int = 0) -> Path:
    """A 'llama' GGUF of random F32 tensors (not loadable by llama.cpp; enough for build)."""
    names = ["token_embd.weight"] + [f"blk.{k}.{t}.weight" for k in range(n_layers) for t in ("attn_q", "ffn_up")]
    kv = [
        encode_kv("general.architecture", ValueType.STRING, "llama"),
        encode_kv("llama.block_count", ValueType.UINT32, n_layers),
    ]
    n_bytes = 4 * n_floats
    infos = [encode_tensor_info(name, (n_floats,), 0, k * n_bytes) for k, name in enumerate(names)]
    head = b"GGUF" + (3).to_bytes(4, "little") + len(names).to_bytes(8, "little") + len(kv).to_bytes(8, "little")
    header = head + b"".join(kv) + b"".join(infos)
    header += bytes(-len(header) % 32)
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        fh.write(header)
        for _ in names:
            fh.write(rng.randbytes(n_bytes))
    return path


def broken_files() -> Iterator[tuple[str, bytes, str]]:
    """(case id, file bytes, a phrase the error message must contain)."""
    good, s = small_gguf()
    yield "empty", b"", "empty file"
    yield "not-gguf", b"PK\x03\x04" + bytes(100), "not a GGUF file"
    yield "wrong-magic", b"GGML" + good[4:], "not a GGUF file"
    yield "version-0", good[:4] + struct.pack("<I", 0) + good[8:], "unsupported GGUF version 0"
    yield "version-1", good[:4] + struct.pack("<I", 1) + good[8:], "v1"
    yield "version-4", good[:4] + struct.pack("<I", 4) + good[8:], "unsupported GGUF version 4"
    cuts = [
        ("in-magic", 3, "not a GGUF file"),
        ("in-header", 10, "truncated header"),
        ("at-kv", s.kv, "more than a 24-byte file can hold"),
        ("in-kv", s.kv + 20, "more than a 44-byte file can hold"),
        *[
            (f"after-kv-{k}", end, "file can hold" if k == 0 else "truncated in")
            for k, end in enumerate(s.kv_ends[:-1])
        ],
        ("at-tensor-infos", s.tensor_infos, "truncated in tensor name"),
        ("in-tensor-infos", s.tensor_infos + 9, "runs past the end"),
        *[(f"after-tensor-info-{k}", end, "truncated in tensor name") for k, end in enumerate(s.info_ends[:-1])],
        ("in-padding", s.info_ends[-1] + 1, "beyond the end"),
        ("at-data", s.data, "beyond the end"),
        ("in-data", s.end - 7, "beyond the end"),
    ]
    for name, cut, phrase in cuts:
        yield f"truncated-{name}", good[:cut], phrase
    yield "absurd-counts", good[:8] + struct.pack("<QQ", 1 << 40, 1 << 40) + good[24:], "more than"
    yield "absurd-string", good[: s.kv] + struct.pack("<Q", 1 << 50) + good[s.kv + 8 :], "past the end"
    big_array = encode_string("x.arr") + struct.pack("<IIQ", ValueType.ARRAY, ValueType.UINT32, 1 << 61)
    yield "absurd-array", small_gguf(extra_kv=[big_array])[0], "do not fit"
    big_strings = encode_string("x.strs") + struct.pack("<IIQ", ValueType.ARRAY, ValueType.STRING, 1 << 61)
    yield "absurd-string-array", small_gguf(extra_kv=[big_strings])[0], "cannot fit"
    bad_type = encode_kv("x.y", ValueType.UINT8, 1)
    bad_type = bad_type[:-5] + struct.pack("<I", 99) + bad_type[-1:]
    yield "unknown-value-type", small_gguf(extra_kv=[bad_type])[0], "unknown value type 99"
    yield "empty-key", small_gguf(extra_kv=[encode_kv("", ValueType.UINT8, 1)])[0], "empty metadata key"
    bad_utf8 = encode_string(b"x.\xff\xfe") + struct.pack("<IB", ValueType.UINT8, 1)
    yield "key-not-utf8", small_gguf(extra_kv=[bad_utf8])[0], "not valid UTF-8"
    dup = encode_kv("llama.block_count", ValueType.UINT32, 2)
    yield "duplicate-key", small_gguf(extra_kv=[dup])[0], "duplicate key"
    yield "duplicate-tensor", small_gguf(names=["a.weight", "a.weight"])[0], "duplicate tensor"
    yield "alignment-not-pow2", small_gguf(alignment=48)[0], "not a power of two"
    yield "alignment-zero", small_gguf(alignment=0)[0], "not a power of two"
    wide = encode_kv("general.alignment", ValueType.UINT64, 32)
    yield "alignment-u64", small_gguf(extra_kv=[wide])[0], "must be u32"
    yield "name-too-long", small_gguf(names=["blk.0." + "x" * 70])[0], "longer than 63 bytes"
    nested = encode_string("x.nested") + struct.pack("<IIQ", 9, 9, 1)
    yield "nested-array", small_gguf(extra_kv=[nested])[0], "nested array"
    # Tensor info fields: the first tensor's n_dims, type and offset, patched in place.
    n_name = len("token_embd.weight")
    at_dims = s.tensor_infos + 8 + n_name
    for name, patches, phrase in [
        ("zero-dims", [(at_dims, "<I", 0)], "0 dimensions"),
        ("five-dims", [(at_dims, "<I", 5)], "5 dimensions"),
        ("invalid-ggml-type", [(at_dims + 12, "<I", 1000)], "invalid type id 1000"),
        ("misaligned-offset", [(at_dims + 16, "<Q", 8)], "not aligned"),
        ("overlapping-tensors", [(at_dims + 16, "<Q", 128)], "overlaps"),
        ("not-whole-blocks", [(at_dims + 4, "<Q", 33), (at_dims + 12, "<I", 8)], "not a multiple"),  # Q8_0
    ]:
        blob = bytearray(good)
        for offset, fmt, value in patches:
            struct.pack_into(fmt, blob, offset, value)
        yield name, bytes(blob), phrase
    # A tensor whose offset points past the data section.
    past = bytearray(good)
    last = good.rfind(b"blk.1.attn_norm.weight") + len("blk.1.attn_norm.weight") + 4 + 8 + 4
    struct.pack_into("<Q", past, last, 1 << 20)
    yield "tensor-past-end", bytes(past), "beyond the end"
    yield (
        "split-count-mismatch",
        small_gguf(extra_kv=[encode_kv("split.count", ValueType.UINT16, 3)])[0],
        "split.count=3",
    )
    yield (
        "split-no-string",
        small_gguf(extra_kv=[encode_kv("split.no", ValueType.STRING, "x")])[0],
        "expected an integer",
    )
    arr = encode_kv("split.count", ValueType.ARRAY, [1], ValueType.UINT16)
    yield "split-count-array", small_gguf(extra_kv=[arr])[0], "expected an integer"


def _count(vtype: ValueType, value: object, elem: ValueType | None = None) -> dict[str, bytes | None]:
    return {"llama.block_count": encode_kv("llama.block_count", vtype, value, elem)}


def broken_models() -> Iterator[tuple[str, bytes, str]]:
    """Valid GGUF files that are not usable models: (case id, bytes, phrase of the error)."""
    arch = "general.architecture"
    yield "no-architecture", small_gguf(replace_kv={arch: None})[0], "no general.architecture"
    yield (
        "architecture-array",
        small_gguf(replace_kv={arch: encode_kv(arch, ValueType.ARRAY, ["llama"], ValueType.STRING)})[0],
        "no general.architecture",
    )
    yield "no-block-count", small_gguf(replace_kv={"llama.block_count": None})[0], "no llama.block_count"
    for name, kv, phrase in [
        ("block-count-string", _count(ValueType.STRING, "2"), "has type string, expected an integer"),
        ("block-count-float", _count(ValueType.FLOAT32, 2.0), "has type float32, expected an integer"),
        ("block-count-array", _count(ValueType.ARRAY, [2, 2], ValueType.UINT32), "has type array, expected"),
        ("block-count-zero", _count(ValueType.UINT32, 0), "block_count is 0"),
        ("block-count-negative", _count(ValueType.INT32, -3), "block_count is -3"),
        ("block-count-2^32", _count(ValueType.UINT64, 1 << 32), "llama.cpp loads 1 to 512 layers"),
    ]:
        yield name, small_gguf(replace_kv=kv)[0], phrase
    for name, kv, phrase in [
        (
            "mtp-tail-all-layers",
            encode_kv("llama.nextn_predict_layers", ValueType.UINT32, 2),
            "nextn_predict_layers is 2",
        ),
        ("mtp-tail-huge", encode_kv("llama.nextn_predict_layers", ValueType.UINT32, 1 << 31), "nextn_predict_layers"),
        (
            "shared-kv-huge",
            encode_kv("llama.attention.shared_kv_layers", ValueType.UINT64, 1 << 62),
            "shared_kv_layers",
        ),
        ("rys-path-string", encode_kv("rys.layer_path", ValueType.STRING, "0,1"), "rys.layer_path is not a list"),
        ("rys-path-scalar", encode_kv("rys.layer_path", ValueType.UINT32, 1), "rys.layer_path is not a list"),
        (
            "rys-path-floats",
            encode_kv("rys.layer_path", ValueType.ARRAY, [0.5, float("nan")], ValueType.FLOAT32),
            "rys.layer_path is not a list",
        ),
        (
            "rys-path-short",
            encode_kv("rys.layer_path", ValueType.ARRAY, [0], ValueType.UINT32),
            "rys.layer_path is not a list of 2",
        ),
        (
            "rys-path-negative",
            encode_kv("rys.layer_path", ValueType.ARRAY, [0, -1], ValueType.INT32),
            "negative layer number",
        ),
    ]:
        yield name, small_gguf(extra_kv=[kv])[0], phrase
