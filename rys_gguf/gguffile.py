"""GGUF files: a fast, bounds-checked header parser and a streaming writer.

The parser memory-maps the file and records where each key/value pair and tensor lives; values
are decoded only when asked for, so a 262k-token vocabulary is walked (to find its end) but never
turned into Python strings. The writer emits a header, then copies tensor bytes range by range
with ``os.copy_file_range`` (in-kernel, constant memory), padding each tensor to the alignment.

Tensor sizes come from our own type table; for a type this table does not know, the size is the
distance to the next tensor's offset, so new quantization types still copy byte-exactly.

What is deliberately left out: GGUF v1 (llama.cpp rejects it too) and nested arrays (likewise).
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import GGUFFormatError, OutputError

# Layout (all integers little-endian, or big-endian when the version reads byte-swapped):
#
#   header      magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
#   kv[n_kv]    string key | u32 value_type | value
#               string = u64 n_bytes | bytes (not NUL-terminated)
#               array  = u32 elem_type | u64 count | count * elem  (no nested arrays)
#   ti[n]       string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
#   padding     zeros up to `general.alignment` (u32, default 32), relative to file start
#   data        each tensor at data_start + offset, each padded to the alignment

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


_SCALAR_FMT = {
    ValueType.UINT8: "B", ValueType.INT8: "b", ValueType.UINT16: "H", ValueType.INT16: "h",
    ValueType.UINT32: "I", ValueType.INT32: "i", ValueType.FLOAT32: "f", ValueType.BOOL: "?",
    ValueType.UINT64: "Q", ValueType.INT64: "q", ValueType.FLOAT64: "d",
}  # fmt: skip
_NUMPY_DTYPE = {
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


@dataclass(frozen=True, slots=True)
class KVEntry:
    """One key/value pair: its decoded type and the byte range it occupies in its file."""

    key: str
    vtype: ValueType
    elem_type: ValueType | None  # arrays only
    count: int  # array length; 1 for scalars
    start: int  # whole entry (key, type, value), for byte-exact copies
    value_start: int  # the value (for arrays: the elements, after elem_type and count)
    end: int


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A tensor: name, ggml shape (ne0 first), type, and where its bytes are."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    path: Path
    data_offset: int  # absolute offset in `path`
    n_bytes: int  # exact size for known types, else the span up to the next tensor

    @property
    def type_name(self) -> str:
        return type_name(self.ggml_type)


class GGUFFile:
    """A memory-mapped, parsed GGUF file (one shard). Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._fh: BinaryIO = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        except FileNotFoundError:
            raise GGUFFormatError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise GGUFFormatError(f"{self.path}: is a folder, expected a .gguf file") from None
        except OSError as e:
            raise GGUFFormatError(f"{self.path}: cannot open ({e.strerror})") from None
        try:
            self.size = os.fstat(self._fh.fileno()).st_size
            if self.size == 0:
                raise self._error("empty file (0 bytes), not a GGUF model")
            if self.size < 24:
                self._check_magic(self._fh.read(4))
                raise self._error(f"truncated header (file is only {self.size} bytes)")
            self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
            self._parse()
        except BaseException:
            self.close()
            raise

    # -- parsing ---------------------------------------------------------------------------

    def _error(self, what: str) -> GGUFFormatError:
        return GGUFFormatError(f"{self.path}: {what}")

    def _check_magic(self, magic: bytes) -> None:
        if magic != MAGIC:
            raise self._error(f"not a GGUF file (magic {magic[:4]!r}, expected b'GGUF')")

    def _parse(self) -> None:
        mm = self._mm
        self._check_magic(mm[:4])
        (version,) = struct.unpack_from("<I", mm, 4)
        self.byteorder = "<"
        if version & 0xFFFF == 0 and version != 0:  # written big-endian
            self.byteorder = ">"
            (version,) = struct.unpack_from(">I", mm, 4)
        if version == 1:
            raise self._error("GGUF v1 is not supported (llama.cpp rejects it too); reconvert the model")
        if version not in (2, 3):
            raise self._error(f"unsupported GGUF version {version} (supported: 2 and 3)")
        self.version = version
        n_tensors, n_kv = struct.unpack_from(self.byteorder + "QQ", mm, 8)
        # Reject absurd counts before allocating anything: each entry takes at least 13 bytes.
        if n_kv > self.size // 13 or n_tensors > self.size // 25:
            raise self._error(
                f"header declares {n_kv} keys and {n_tensors} tensors, more than a {self.size}-byte "
                "file can hold (truncated or corrupt)"
            )
        pos = 24
        self.kv: dict[str, KVEntry] = {}
        for _ in range(n_kv):
            entry = self._read_kv(pos)
            if entry.key in self.kv:
                raise self._error(f"duplicate key {entry.key!r}")
            self.kv[entry.key] = entry
            pos = entry.end
        self.alignment = self._read_alignment()
        infos: list[tuple[str, tuple[int, ...], int, int]] = []
        seen: set[str] = set()
        for _ in range(n_tensors):
            name, pos = self._read_str(pos, "tensor name", MAX_NAME_BYTES)
            if name in seen:
                raise self._error(f"duplicate tensor name {name!r}")
            seen.add(name)
            (n_dims,) = self._unpack("I", pos, f"tensor {name!r}")
            if not 1 <= n_dims <= MAX_DIMS:
                raise self._error(f"tensor {name!r} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
            shape = self._unpack("Q" * n_dims, pos + 4, f"tensor {name!r}")
            ggml_type, offset = self._unpack("IQ", pos + 4 + 8 * n_dims, f"tensor {name!r}")
            pos += 4 + 8 * n_dims + 12
            infos.append((name, tuple(shape), ggml_type, offset))
        self.header_size = pos
        self.data_start = _pad(pos, self.alignment)
        self.tensors = self._size_tensors(infos)

    def _unpack(self, fmt: str, pos: int, what: str) -> tuple[Any, ...]:
        fmt = self.byteorder + fmt
        if pos + struct.calcsize(fmt) > self.size:
            raise self._error(f"truncated in {what} (file ends at byte {self.size})")
        return struct.unpack_from(fmt, self._mm, pos)

    def _read_str(self, pos: int, what: str, limit: int = MAX_STRING_BYTES) -> tuple[str, int]:
        (n,) = self._unpack("Q", pos, what)
        if pos + 8 + n > self.size:
            raise self._error(f"truncated in {what}: string of {n} bytes runs past the end")
        if n > limit:  # checked before copying anything
            start = self._mm[pos + 8 : pos + 28].decode("utf-8", "replace")
            raise self._error(f"{what} {start!r}... is {n} bytes, longer than {limit} bytes")
        raw = self._mm[pos + 8 : pos + 8 + n]
        try:
            return raw.decode("utf-8"), pos + 8 + n
        except UnicodeDecodeError:
            raise self._error(f"{what} is not valid UTF-8") from None

    def _read_kv(self, start: int) -> KVEntry:
        key, pos = self._read_str(start, "metadata key", MAX_KEY_BYTES)
        if not key:
            raise self._error("empty metadata key")
        (raw_type,) = self._unpack("I", pos, f"key {key!r}")
        vtype = self._value_type(raw_type, key)
        pos += 4
        if vtype == ValueType.ARRAY:
            raw_elem, count = self._unpack("IQ", pos, f"key {key!r}")
            elem = self._value_type(raw_elem, key)
            if elem == ValueType.ARRAY:
                raise self._error(f"key {key!r} is a nested array (not allowed in GGUF)")
            value_start = pos + 12
            end = self._skip_values(elem, count, value_start, key)
            return KVEntry(key, vtype, elem, count, start, value_start, end)
        end = self._skip_values(vtype, 1, pos, key)
        return KVEntry(key, vtype, None, 1, start, pos, end)

    def _value_type(self, raw: int, key: str) -> ValueType:
        try:
            return ValueType(raw)
        except ValueError:
            raise self._error(f"key {key!r} has unknown value type {raw}") from None

    def _skip_values(self, vtype: ValueType, count: int, pos: int, key: str) -> int:
        """Return the offset after ``count`` values of ``vtype`` starting at ``pos``."""
        if vtype == ValueType.STRING:
            if count > (self.size - pos) // 8:
                raise self._error(f"key {key!r}: array of {count} strings cannot fit in the file")
            # Walk the length prefixes only; the strings themselves are never decoded here.
            # A huge length jumps past the end: unpack_from then raises, and we stop at once.
            mm, unpack = self._mm, struct.Struct(self.byteorder + "Q").unpack_from
            try:
                for _ in range(count):
                    pos += 8 + unpack(mm, pos)[0]
            except (struct.error, OverflowError):  # OverflowError: an offset past 2**63
                raise self._error(f"truncated in key {key!r}") from None
            if pos > self.size:
                raise self._error(f"truncated in key {key!r}")
            return pos
        width = struct.calcsize(_SCALAR_FMT[vtype])
        if count > (self.size - pos) // width:
            raise self._error(f"truncated in key {key!r} ({count} values do not fit in the file)")
        return pos + count * width

    def _read_alignment(self) -> int:
        entry = self.kv.get(ALIGNMENT_KEY)
        if entry is None:
            return DEFAULT_ALIGNMENT
        if entry.vtype != ValueType.UINT32:
            raise self._error(f"{ALIGNMENT_KEY} must be u32, got {entry.vtype.name.lower()}")
        value = int(self.value(ALIGNMENT_KEY))
        if value == 0 or value & (value - 1):
            raise self._error(f"{ALIGNMENT_KEY} is {value}, not a power of two")
        return value

    def _size_tensors(self, infos: list[tuple[str, tuple[int, ...], int, int]]) -> list[TensorInfo]:
        data_size = self.size - self.data_start
        by_offset = sorted(range(len(infos)), key=lambda k: infos[k][3])
        span: dict[int, int] = {}
        for rank, k in enumerate(by_offset):
            nxt = infos[by_offset[rank + 1]][3] if rank + 1 < len(by_offset) else data_size
            span[k] = nxt - infos[k][3]
        tensors: list[TensorInfo] = []
        for k, (name, shape, ggml_type, offset) in enumerate(infos):
            if ggml_type > MAX_GGML_TYPE:
                raise self._error(f"tensor {name!r} has invalid type id {ggml_type}")
            known = GGML_TYPES.get(ggml_type)
            if known is not None:
                _, block, type_size = known
                if shape[0] % block:
                    raise self._error(
                        f"tensor {name!r}: first dimension {shape[0]} is not a multiple of the "
                        f"{known[0]} block size {block}"
                    )
                n_bytes = shape[0] // block * type_size * _prod(shape[1:])
            else:
                n_bytes = span[k]
            if offset % self.alignment:
                raise self._error(f"tensor {name!r}: offset {offset} is not aligned to {self.alignment}")
            if offset > data_size or n_bytes > span[k] or n_bytes < 0:
                raise self._error(
                    f"tensor {name!r} ({n_bytes} bytes at data offset {offset}) lies beyond the end "
                    f"of the file or overlaps the next tensor; the file is corrupt or incomplete"
                )
            tensors.append(TensorInfo(name, shape, ggml_type, self.path, self.data_start + offset, n_bytes))
        return tensors

    # -- values ----------------------------------------------------------------------------

    def raw(self, key: str) -> bytes:
        """The exact bytes of a key/value entry, for byte-exact copies."""
        entry = self.kv[key]
        return bytes(self._mm[entry.start : entry.end])

    def value(self, key: str) -> Any:
        """Decode a value: scalars as Python values, numeric arrays as numpy arrays,
        string arrays as lists of str (only do that for small arrays)."""
        entry = self.kv[key]
        if entry.vtype == ValueType.STRING:
            return self._read_str(entry.value_start, f"key {key!r}")[0]
        if entry.vtype == ValueType.ARRAY:
            assert entry.elem_type is not None
            if entry.elem_type == ValueType.STRING:
                out, pos = [], entry.value_start
                for _ in range(entry.count):
                    s, pos = self._read_str(pos, f"key {key!r}")
                    out.append(s)
                return out
            dtype = np.dtype(self.byteorder + _NUMPY_DTYPE[entry.elem_type])
            arr = np.frombuffer(self._mm, dtype=dtype, count=entry.count, offset=entry.value_start)
            arr = arr.astype(dtype.newbyteorder("="))  # own copy, native order
            return arr.astype(bool) if entry.elem_type == ValueType.BOOL else arr
        return struct.unpack_from(self.byteorder + _SCALAR_FMT[entry.vtype], self._mm, entry.value_start)[0]

    def get(self, key: str, default: Any = None) -> Any:
        return self.value(key) if key in self.kv else default

    def int_value(self, key: str, default: int) -> int:
        """An integer scalar, or ``default`` when absent; a value of another type is corrupt."""
        entry = self.kv.get(key)
        if entry is None:
            return default
        if entry.vtype not in INTEGER_TYPES:
            raise self._error(f"{key} has type {entry.vtype.name.lower()}, expected an integer; the file is corrupt")
        return int(self.value(key))

    def close(self) -> None:
        mm = getattr(self, "_mm", None)
        if mm is not None:
            mm.close()
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()

    def __enter__(self) -> GGUFFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prod(xs: Iterable[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _pad(n: int, alignment: int) -> int:
    return n + (-n % alignment)


# -- encoding -----------------------------------------------------------------------------


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
            out.append(struct.pack(bo + _SCALAR_FMT[elem_type] * len(items), *_scalars(elem_type, items)))
    elif vtype == ValueType.STRING:
        out.append(encode_string(value, bo))
    else:
        out.append(struct.pack(bo + _SCALAR_FMT[vtype], *_scalars(vtype, [value])))
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


# -- writing ------------------------------------------------------------------------------


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
        bo = self.byteorder
        parts = [MAGIC, struct.pack(bo + "IQQ", self.version, len(self.tensors), len(self.kv)), *self.kv]
        offset = 0
        for t in self.tensors:
            src = t.source
            parts.append(encode_tensor_info(t.name, src.shape, src.ggml_type, offset, bo))
            offset += _pad(src.n_bytes, self.alignment)
        head = b"".join(parts)
        return head + bytes(-len(head) % self.alignment)

    @property
    def n_bytes(self) -> int:
        return len(self.header()) + sum(_pad(t.source.n_bytes, self.alignment) for t in self.tensors)


COPY_CHUNK = 64 << 20


def write_layout(out: BinaryIO, layout: GGUFLayout, progress: Callable[[int], None] | None = None) -> None:
    """Write header then tensor bytes (copied in-kernel where possible) to an open file."""
    out.write(layout.header())
    out.flush()
    fd = out.fileno()
    sources: dict[Path, int] = {}
    try:
        for t in layout.tensors:
            src = t.source
            if src.path not in sources:
                sources[src.path] = os.open(src.path, os.O_RDONLY)
            _copy_range(sources[src.path], src.data_offset, src.n_bytes, fd, progress)
            pad = -src.n_bytes % layout.alignment
            if pad:
                os.write(fd, bytes(pad))
    finally:
        for sfd in sources.values():
            os.close(sfd)


def _copy_range(src_fd: int, offset: int, n: int, dst_fd: int, progress: Callable[[int], None] | None) -> None:
    done = 0
    while done < n:
        want = min(COPY_CHUNK, n - done)
        try:
            got = os.copy_file_range(src_fd, dst_fd, want, offset + done)
        except OSError as e:
            if e.errno not in (18, 22, 38, 95, 1):  # EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM
                raise
            got = _copy_by_read(src_fd, offset + done, want, dst_fd)
        if got == 0:
            raise OutputError(f"source ended early while copying {n} bytes at offset {offset}")
        done += got
        if progress is not None:
            progress(got)


def _copy_by_read(src_fd: int, offset: int, n: int, dst_fd: int) -> int:
    data = os.pread(src_fd, n, offset)
    view = memoryview(data)
    while view:
        view = view[os.write(dst_fd, view) :]
    return len(data)


# -- split files (llama.cpp's gguf-split naming) ------------------------------------------

SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_path(prefix: str | Path, no: int, count: int) -> Path:
    """llama.cpp's ``llama_split_path``: ``{prefix}-{no:05d}-of-{count:05d}.gguf``, 1-based."""
    return Path(f"{prefix}-{no:05d}-of-{count:05d}.gguf")


def shard_paths(first: Path) -> list[Path]:
    """All shard paths of a split model given its first shard (or [first] when not split)."""
    m = SPLIT_RE.match(first.name)
    if not m:
        return [first]
    no, count = int(m["no"]), int(m["count"])
    if no != 1:
        raise GGUFFormatError(
            f"{first}: this is shard {no} of {count}; give the first shard ({split_path(m['prefix'], 1, count).name})"
        )
    paths = [first.with_name(split_path(m["prefix"], k, count).name) for k in range(1, count + 1)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise GGUFFormatError(f"{first}: missing shards: {', '.join(missing)}")
    return paths


class GGUFModel:
    """A model in one file or several shards: metadata from the first, tensors from all."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.files: list[GGUFFile] = []
        try:
            for p in shard_paths(self.path):
                self.files.append(GGUFFile(p))
            self._check_shards()
        except BaseException:
            self.close()
            raise
        first = self.files[0]
        self.kv = {k: e for k, e in first.kv.items() if k not in SPLIT_KEYS}
        self.tensors = [t for f in self.files for t in f.tensors]
        names = [t.name for t in self.tensors]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise GGUFFormatError(f"{self.path}: tensor {dup!r} appears in more than one shard")

    def _check_shards(self) -> None:
        count = len(self.files)
        first = self.files[0]
        declared = first.int_value("split.count", 1) or 1
        if declared != count:
            raise GGUFFormatError(
                f"{self.path}: declares split.count={declared} but {count} shard file(s) were found; "
                "give the first shard of a complete set"
            )
        for k, f in enumerate(self.files):
            no = f.int_value("split.no", 0)
            if no != k:
                raise GGUFFormatError(f"{f.path}: split.no is {no}, expected {k}")

    @property
    def first(self) -> GGUFFile:
        return self.files[0]

    @property
    def architecture(self) -> str:
        arch = self.first.get(ARCH_KEY)
        if not isinstance(arch, str) or not arch:
            raise GGUFFormatError(f"{self.path}: no {ARCH_KEY} key; not a model file")
        return arch

    def value(self, key: str) -> Any:
        return self.first.value(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self.first.value(key) if key in self.kv else default

    def raw(self, key: str) -> bytes:
        return self.first.raw(key)

    @property
    def n_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def close(self) -> None:
        for f in self.files:
            f.close()

    def __enter__(self) -> GGUFModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_layer_tensors(tensors: Iterable[TensorInfo]) -> Iterator[tuple[int | None, str, TensorInfo]]:
    """Yield (layer, suffix, tensor): layer is None for tensors not named ``blk.<n>.*``."""
    for t in tensors:
        m = LAYER_RE.match(t.name)
        if m:
            yield int(m[1]), t.name[m.end() :], t
        else:
            yield None, t.name, t


LAYER_RE = re.compile(r"^blk\.(\d+)\.")
