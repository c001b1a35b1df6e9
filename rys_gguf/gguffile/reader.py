"""Read GGUF files: a memory-mapped, bounds-checked header parser with lazy values.

The parser records where each key/value pair and tensor lives; values are decoded only when
asked for, so a 262k-token vocabulary is walked (to find its end) but never turned into Python
strings. Every length and count is checked against the file size before it is used, so a
corrupt or hostile file fails with a one-line GGUFFormatError naming the file, never with a
huge allocation. The byte layout is quoted in ``spec``.

Tensor sizes come from the ggml type table; for a type the table does not know, the size is the
distance to the next tensor's offset, so new quantization types still copy byte-exactly.

What is deliberately left out: GGUF v1 (llama.cpp rejects it too) and nested arrays (likewise).
Numeric arrays decode to numpy arrays (``value``, numpy imported on first use) or to plain
lists (``array``, for the build, which never needs numpy).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import GGUFFormatError
from .spec import (
    ALIGNMENT_KEY,
    ARCH_KEY,
    DEFAULT_ALIGNMENT,
    GGML_TYPES,
    INTEGER_TYPES,
    MAGIC,
    MAX_DIMS,
    MAX_GGML_TYPE,
    MAX_KEY_BYTES,
    MAX_NAME_BYTES,
    MAX_STRING_BYTES,
    NUMPY_DTYPES,
    SCALAR_FORMATS,
    SPLIT_KEYS,
    SPLIT_RE,
    ValueType,
    pad,
    split_path,
    type_name,
)


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
        self.data_start = pad(pos, self.alignment)
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
        width = struct.calcsize(SCALAR_FORMATS[vtype])
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
            import numpy as np  # only numeric arrays need it; the build reads them with array()

            dtype = np.dtype(self.byteorder + NUMPY_DTYPES[entry.elem_type])
            arr = np.frombuffer(self._mm, dtype=dtype, count=entry.count, offset=entry.value_start)
            arr = arr.astype(dtype.newbyteorder("="))  # own copy, native order
            return arr.astype(bool) if entry.elem_type == ValueType.BOOL else arr
        return struct.unpack_from(self.byteorder + SCALAR_FORMATS[entry.vtype], self._mm, entry.value_start)[0]

    def array(self, key: str) -> list[Any]:
        """A numeric array as a list of Python numbers (bools for BOOL), without numpy."""
        entry = self.kv[key]
        elem = entry.elem_type
        if entry.vtype != ValueType.ARRAY or elem is None or elem == ValueType.STRING:
            raise self._error(f"{key} is not a numeric array")
        fmt = f"{self.byteorder}{entry.count}{SCALAR_FORMATS[elem]}"
        return list(struct.unpack_from(fmt, self._mm, entry.value_start))

    def get(self, key: str, default: Any = None) -> Any:
        return self.value(key) if key in self.kv else default

    def strings_at(self, key: str, indices: Iterable[int]) -> dict[int, str]:
        """A few entries of a string array (e.g. token texts), walking the offsets only up to
        the largest index; indices outside the array are left out."""
        entry = self.kv.get(key)
        if entry is None or entry.vtype != ValueType.ARRAY or entry.elem_type != ValueType.STRING:
            return {}
        wanted = {i for i in indices if 0 <= i < entry.count}
        out: dict[int, str] = {}
        pos = entry.value_start
        for index in range(max(wanted, default=-1) + 1):
            (n,) = self._unpack("Q", pos, f"key {key!r}")
            if index in wanted:
                # Shown to people and used as stop strings: undecodable bytes become U+FFFD.
                out[index] = self._mm[pos + 8 : pos + 8 + min(n, MAX_STRING_BYTES)].decode("utf-8", "replace")
            pos += 8 + n
        return out

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


def _prod(xs: tuple[int, ...]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


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

    def array(self, key: str) -> list[Any]:
        return self.first.array(key)

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
