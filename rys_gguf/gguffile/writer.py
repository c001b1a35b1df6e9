"""Write GGUF files: encode the header once, then copy tensor bytes range by range.

A layout (`GGUFLayout`) is the whole output file except the tensor bytes: encoded key/value
entries and, per output tensor, its new name and the source bytes to copy. The writer emits the
header, then copies each tensor in-kernel (``files.copy_range``), padding it to the alignment.
Memory stays flat whatever the model size, and the tensor bytes are never decoded.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import OutputError
from ..events import Progress
from ..files import Writeback, copy_range, preallocate
from .reader import TensorInfo
from .spec import MAGIC, MAX_NAME_BYTES, SCALAR_FORMATS, ValueType, pad

_FIXED_HEADER = len(MAGIC) + 4 + 8 + 8  # magic, version, n_tensors, n_kv


def encode_string(s: str | bytes, bo: str = "<") -> bytes:
    raw = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack(bo + "Q", len(raw)) + raw


def encode_kv(key: str, vtype: ValueType, value: Any, elem_type: ValueType | None = None, bo: str = "<") -> bytes:
    """Encode one key/value entry (key, type, value) in byte order ``bo``."""
    out = [encode_string(key, bo), struct.pack(bo + "I", vtype)]
    if vtype == ValueType.ARRAY:
        assert elem_type is not None and elem_type != ValueType.ARRAY
        items = list(value)
        out.append(struct.pack(bo + "IQ", elem_type, len(items)))
        if elem_type == ValueType.STRING:
            out.extend(encode_string(v, bo) for v in items)
        else:
            out.append(struct.pack(bo + SCALAR_FORMATS[elem_type] * len(items), *_scalars(elem_type, items)))
    elif vtype == ValueType.STRING:
        out.append(encode_string(value, bo))
    else:
        out.append(struct.pack(bo + SCALAR_FORMATS[vtype], *_scalars(vtype, [value])))
    return b"".join(out)


def _scalars(vtype: ValueType, items: list[Any]) -> list[Any]:
    if vtype == ValueType.BOOL:
        return [bool(v) for v in items]
    if vtype in (ValueType.FLOAT32, ValueType.FLOAT64):
        return [float(v) for v in items]
    return [int(v) for v in items]


def encode_tensor_info(name: str, shape: tuple[int, ...], ggml_type: int, offset: int, bo: str = "<") -> bytes:
    if len(name.encode()) > MAX_NAME_BYTES:
        raise OutputError(f"tensor name {name!r} is longer than {MAX_NAME_BYTES} bytes (llama.cpp limit)")
    return (
        encode_string(name, bo)
        + struct.pack(bo + "I", len(shape))
        + struct.pack(bo + "Q" * len(shape), *shape)
        + struct.pack(bo + "IQ", ggml_type, offset)
    )


def _tensor_info_size(name: str, n_dims: int) -> int:
    return 8 + len(name.encode()) + 4 + 8 * n_dims + 4 + 8


@dataclass(frozen=True, slots=True)
class OutTensor:
    """A tensor to write: its new name, and the source bytes to copy."""

    name: str
    source: TensorInfo


@dataclass(frozen=True, slots=True)
class GGUFLayout:
    """Everything about one output file except the tensor bytes."""

    version: int
    byteorder: str
    alignment: int
    kv: list[bytes]  # encoded entries, in order
    tensors: list[OutTensor]

    def header(self) -> bytes:
        """The encoded header: magic, counts, key/values, tensor infos, padding."""
        bo = self.byteorder
        parts = [MAGIC, struct.pack(bo + "IQQ", self.version, len(self.tensors), len(self.kv)), *self.kv]
        offset = 0
        for t in self.tensors:
            src = t.source
            parts.append(encode_tensor_info(t.name, src.shape, src.ggml_type, offset, bo))
            offset += pad(src.n_bytes, self.alignment)
        head = b"".join(parts)
        return head + bytes(-len(head) % self.alignment)

    @property
    def n_header_bytes(self) -> int:
        """The header's size, padded, computed without encoding it."""
        n = _FIXED_HEADER + sum(len(kv) for kv in self.kv)
        n += sum(_tensor_info_size(t.name, len(t.source.shape)) for t in self.tensors)
        return pad(n, self.alignment)

    @property
    def n_bytes(self) -> int:
        """The size of the whole file."""
        return self.n_header_bytes + sum(pad(t.source.n_bytes, self.alignment) for t in self.tensors)


def write_layout(out: BinaryIO, layout: GGUFLayout, progress: Progress | None = None) -> None:
    """Write header then tensor bytes (copied in-kernel where possible) to an open, empty file."""
    fd = out.fileno()
    preallocate(fd, layout.n_bytes)
    out.write(layout.header())
    out.flush()
    writeback = Writeback(fd)
    sources: dict[Path, int] = {}
    try:
        for t in layout.tensors:
            src = t.source
            if src.path not in sources:
                sources[src.path] = os.open(src.path, os.O_RDONLY)
            copy_range(sources[src.path], src.data_offset, src.n_bytes, fd, progress, writeback)
            gap = -src.n_bytes % layout.alignment
            if gap:
                os.write(fd, bytes(gap))
    finally:
        for sfd in sources.values():
            os.close(sfd)
