"""The GGUF format as data: the byte layout, value types, ggml tensor types and tensor names.

Layout (all integers little-endian, or big-endian when the version reads byte-swapped):

    header      magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
    kv[n_kv]    string key | u32 value_type | value
                string = u64 n_bytes | bytes (not NUL-terminated)
                array  = u32 elem_type | u64 count | count * elem  (no nested arrays)
    ti[n]       string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
    padding     zeros up to `general.alignment` (u32, default 32), relative to file start
    data        each tensor at data_start + offset, each padded to the alignment

Transformer layers are the tensors named ``blk.<n>.<suffix>``; this package is the only place
that spells that prefix (``group_by_layer``, ``layer_tensor_name``). Vision and audio towers
(``v.blk.*``, ``a.blk.*``) are not layers of the text model and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Generic, Protocol, TypeVar

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_NAME_BYTES = 63  # llama.cpp: name length must be < GGML_MAX_NAME (64)
# Longest key and string value we copy out of the file: a corrupt length must not make us copy
# gigabytes (real keys are dotted names, real strings at most a chat template of some KB).
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 16 << 20
MAX_DIMS = 4
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")
ALIGNMENT_KEY = "general.alignment"
ARCH_KEY = "general.architecture"
NAME_KEY = "general.name"
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
TOKENS_KEY = "tokenizer.ggml.tokens"


class ValueType(IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


SCALAR_FORMATS = {
    ValueType.UINT8: "B", ValueType.INT8: "b", ValueType.UINT16: "H", ValueType.INT16: "h",
    ValueType.UINT32: "I", ValueType.INT32: "i", ValueType.FLOAT32: "f", ValueType.BOOL: "?",
    ValueType.UINT64: "Q", ValueType.INT64: "q", ValueType.FLOAT64: "d",
}  # fmt: skip
NUMPY_DTYPES = {
    ValueType.UINT8: "u1", ValueType.INT8: "i1", ValueType.UINT16: "u2", ValueType.INT16: "i2",
    ValueType.UINT32: "u4", ValueType.INT32: "i4", ValueType.FLOAT32: "f4", ValueType.BOOL: "u1",
    ValueType.UINT64: "u8", ValueType.INT64: "i8", ValueType.FLOAT64: "f8",
}  # fmt: skip

INTEGER_TYPES = frozenset(
    {ValueType.UINT8, ValueType.INT8, ValueType.UINT16, ValueType.INT16, ValueType.UINT32,
     ValueType.INT32, ValueType.UINT64, ValueType.INT64}
)  # fmt: skip

# ggml type id -> (name, block size in elements, bytes per block). Q2_0 (42) is newer than the
# gguf package on PyPI; types missing here are sized from tensor offsets instead.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}  # fmt: skip
MAX_GGML_TYPE = 64  # ids above this are rejected as corrupt rather than "unknown"


def type_name(ggml_type: int) -> str:
    """The ggml name of a tensor type, or ``type<id>`` for ids this table does not know."""
    known = GGML_TYPES.get(ggml_type)
    return known[0] if known else f"type{ggml_type}"


def pad(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return n + (-n % alignment)


# llama.cpp's gguf-split names: {prefix}-{no:05d}-of-{count:05d}.gguf, 1-based.
SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_path(prefix: str | Path, no: int, count: int) -> Path:
    """llama.cpp's ``llama_split_path``: ``{prefix}-{no:05d}-of-{count:05d}.gguf``, 1-based."""
    return Path(f"{prefix}-{no:05d}-of-{count:05d}.gguf")


def model_stem(path: Path) -> str:
    """A model's name from its file: the shard prefix for split models, else the stem."""
    m = SPLIT_RE.match(path.name)
    return m["prefix"] if m else path.stem


def block_count_key(arch: str) -> str:
    """The layer count key of an architecture (``{arch}.block_count``)."""
    return f"{arch}.block_count"


# -- layers ---------------------------------------------------------------------------------

LAYER_RE = re.compile(r"^blk\.(\d+)\.")


def layer_tensor_name(layer: int, suffix: str) -> str:
    """The name of layer ``layer``'s tensor ``suffix`` (``blk.{layer}.{suffix}``)."""
    return f"blk.{layer}.{suffix}"


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass(frozen=True, slots=True)
class LayerTensors(Generic[T]):
    """Tensors grouped by layer, in file order: (suffix, tensor) per layer, and the rest."""

    layers: dict[int, list[tuple[str, T]]] = field(default_factory=dict)
    head: list[T] = field(default_factory=list)  # non-layer tensors before the first layer's
    tail: list[T] = field(default_factory=list)  # non-layer tensors after it (e.g. MTP heads)

    @property
    def others(self) -> list[T]:
        return self.head + self.tail


def group_by_layer(tensors: Iterable[T]) -> LayerTensors[T]:
    """Group tensors named ``blk.<n>.<suffix>`` by n; the others go to ``head`` or ``tail``."""
    grouped: LayerTensors[T] = LayerTensors()
    for t in tensors:
        m = LAYER_RE.match(t.name)
        if m:
            grouped.layers.setdefault(int(m[1]), []).append((t.name[m.end() :], t))
        else:
            (grouped.tail if grouped.layers else grouped.head).append(t)
    return grouped
