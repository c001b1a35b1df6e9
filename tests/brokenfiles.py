"""Hand-made GGUF bytes and a corpus of broken variants (generators, no binary fixtures)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from rys_gguf.gguffile import ValueType, encode_kv, encode_string


@dataclass
class Sections:
    """Byte offsets where each section of a file made by ``small_gguf`` starts."""

    kv: int
    tensor_infos: int
    data: int
    end: int


def small_gguf(
    *,
    version: int = 3,
    alignment: int | None = None,
    n_layers: int = 2,
    extra_kv: list[bytes] | None = None,
    names: list[str] | None = None,
) -> tuple[bytes, Sections]:
    """A tiny, valid 'llama' GGUF: one F32 [32] tensor per name (not loadable by llama.cpp)."""
    kvs = [
        encode_kv("general.architecture", ValueType.STRING, "llama"),
        encode_kv("llama.block_count", ValueType.UINT32, n_layers),
        encode_kv("tokenizer.ggml.tokens", ValueType.ARRAY, ["a", "b", "c"], ValueType.STRING),
    ]
    if alignment is not None:
        kvs.append(encode_kv("general.alignment", ValueType.UINT32, alignment))
    kvs += extra_kv or []
    names = names or ["token_embd.weight"] + [f"blk.{k}.attn_norm.weight" for k in range(n_layers)]
    align = alignment or 32
    head = b"GGUF" + struct.pack("<IQQ", version, len(names), len(kvs))
    kv_bytes = b"".join(kvs)
    infos = b""
    for k, name in enumerate(names):
        infos += encode_string(name) + struct.pack("<IQIQ", 1, 32, 0, k * 128)
    prefix = head + kv_bytes + infos
    pad = -len(prefix) % align if align and not align & (align - 1) else 0
    data = b"".join(struct.pack("<32f", *([float(k)] * 32)) for k in range(len(names)))
    blob = prefix + bytes(pad) + data
    sections = Sections(len(head), len(head) + len(kv_bytes), len(prefix) + pad, len(blob))
    return blob, sections


def broken_files() -> Iterator[tuple[str, bytes, str]]:
    """(case id, file bytes, a phrase the error message must contain)."""
    good, s = small_gguf()
    yield "empty", b"", "empty file"
    yield "not-gguf", b"PK\x03\x04" + bytes(100), "not a GGUF file"
    yield "wrong-magic", b"GGML" + good[4:], "not a GGUF file"
    yield "version-1", good[:4] + struct.pack("<I", 1) + good[8:], "v1"
    yield "version-4", good[:4] + struct.pack("<I", 4) + good[8:], "unsupported GGUF version 4"
    for name, cut in [
        ("in-header", 10),
        ("at-kv", s.kv),
        ("in-kv", s.kv + 20),
        ("at-tensor-infos", s.tensor_infos),
        ("in-tensor-infos", s.tensor_infos + 9),
        ("at-data", s.data),
        ("in-data", s.end - 7),
    ]:
        yield f"truncated-{name}", good[:cut], ""
    yield "absurd-counts", good[:8] + struct.pack("<QQ", 1 << 40, 1 << 40) + good[24:], "more than"
    yield "absurd-string", good[: s.kv] + struct.pack("<Q", 1 << 50) + good[s.kv + 8 :], "past the end"
    bad_type = encode_kv("x.y", ValueType.UINT8, 1)
    bad_type = bad_type[:-5] + struct.pack("<I", 99) + bad_type[-1:]
    yield "unknown-value-type", small_gguf(extra_kv=[bad_type])[0], "unknown value type 99"
    dup = encode_kv("llama.block_count", ValueType.UINT32, 2)
    yield "duplicate-key", small_gguf(extra_kv=[dup])[0], "duplicate key"
    yield "duplicate-tensor", small_gguf(names=["a.weight", "a.weight"])[0], "duplicate tensor"
    yield "alignment-not-pow2", small_gguf(alignment=48)[0], "not a power of two"
    yield "name-too-long", small_gguf(names=["blk.0." + "x" * 70])[0], "longer than 63 bytes"
    nested = encode_string("x.nested") + struct.pack("<IIQ", 9, 9, 1)
    yield "nested-array", small_gguf(extra_kv=[nested])[0], "nested array"
    # A tensor whose offset points past the data section.
    past = bytearray(good)
    last = good.rfind(b"blk.1.attn_norm.weight") + len("blk.1.attn_norm.weight") + 4 + 8 + 4
    struct.pack_into("<Q", past, last, 1 << 20)
    yield "tensor-past-end", bytes(past), "beyond the end"
