"""Fuzz the GGUF header parser (and what inspect and build do next) with mutated real headers.

Seeds are real headers: tiny llama and gemma3 models written by gguf-py and, in the slow tier,
Gemma 3 270M with its 262k-entry vocabulary arrays cut to 64 entries (its tensor table whole),
plus the raw first 256 KB of that file. The parser never reads tensor data, so each case is the
mutated header, its alignment padding and a sparse (hole) data region of the original length.

Mutations are structure-aware: every count, length, type code, dimension, tensor offset and
scalar value of a seed is located by walking it, and hypothesis sets it to boundary values
(0, 2^31, 2^63, 2^64 - 1, NaN bits, the file size, ...) or retypes a scalar within its width;
whole key/value entries are swapped for values of another type (a string layer count, an array
name, ...); and bytes are flipped, cut, deleted and duplicated. Every case must end in success or
a RysError with a one-line message (never another exception), within 5 s, allocating < 64 MB
(enforced with RLIMIT_DATA on Linux, see ``bounded``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import struct
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from helpers.tinymodels import TinySpec, write_tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rys_gguf.builder.inspect import describe_model
from rys_gguf.builder.layout import BuildOptions, layout_for_plan
from rys_gguf.builder.source import model_constraints
from rys_gguf.cli.build import format_inspect
from rys_gguf.errors import RysError
from rys_gguf.gguffile.reader import GGUFFile, GGUFModel
from rys_gguf.gguffile.spec import MAGIC, ValueType
from rys_gguf.gguffile.spec import SCALAR_FORMATS as _SCALAR_FMT
from rys_gguf.gguffile.writer import encode_kv
from rys_gguf.plan import parse_plan

MEMORY_BOUND = 64 << 20
TIME_BOUND_S = 5
GEMMA_PREFIX = 256 << 10
SHRUNK_ARRAY = 64
N_TINY = int(os.environ.get("RYS_FUZZ_TINY", 4000))
N_GEMMA = int(os.environ.get("RYS_FUZZ_GEMMA", 2000))

U64 = [0, 1, 2, 7, 8, 63, 64, 255, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]
SMALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 48, 64, 255, 511, 512, 513]
FLOAT_BITS = [0x7FC00000, 0x7F800000, 0xFF800000, 0x80000000, 0x3F800000, 0x7F7FFFFF]  # nan, ±inf, ...
DOUBLE_BITS = [0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x8000000000000000]
RETYPE = {1: [0, 1, 7], 2: [2, 3], 4: [4, 5, 6], 8: [10, 11, 12]}  # value types of one width
# Replacement values for a whole entry: (type, value, element type).
SWAPS: list[tuple[ValueType, Any, ValueType | None]] = [
    (ValueType.STRING, "2", None),
    (ValueType.STRING, "", None),
    (ValueType.UINT32, 2, None),
    (ValueType.INT32, -1, None),
    (ValueType.UINT64, 2**40, None),
    (ValueType.FLOAT32, float("nan"), None),
    (ValueType.FLOAT64, float("inf"), None),
    (ValueType.BOOL, True, None),
    (ValueType.ARRAY, [1, 2], ValueType.UINT8),
    (ValueType.ARRAY, [], ValueType.UINT32),
    (ValueType.ARRAY, [0, 1], ValueType.INT32),
    (ValueType.ARRAY, [0.5, float("nan")], ValueType.FLOAT32),
    (ValueType.ARRAY, ["a", "b"], ValueType.STRING),
    (ValueType.ARRAY, [True], ValueType.BOOL),
]
PLANTED_KEYS = ["rys.layer_path", "rys.config", "rys.source_block_count", "split.count", "split.no"]


@dataclass(frozen=True, slots=True)
class Field:
    """One integer field of a seed header: where it is, its format and what it means."""

    offset: int
    fmt: str  # struct format: B, H, I or Q
    kind: str  # version, count, length, vtype, ndims, dim, ggml_type, offset, valueN, retypeN


@dataclass(frozen=True, slots=True)
class Seed:
    name: str
    header: bytes  # magic .. the last tensor info (no padding)
    n_data: int  # bytes after the padding; -1: the header is a cut prefix of a bigger file
    alignment: int
    fields: tuple[Field, ...]
    entries: tuple[tuple[str, int, int], ...]  # (key, start, end) of each key/value entry


def read_seed(name: str, path: Path) -> Seed:
    """Walk a valid GGUF and locate every integer field and every key/value entry in it."""
    with GGUFFile(path) as f, open(path, "rb") as fh:
        header = fh.read(f.header_size)
        fields = [Field(4, "I", "version"), Field(8, "Q", "count"), Field(16, "Q", "count")]
        for entry in f.kv.values():
            type_at = entry.start + 8 + len(entry.key.encode())
            fields += [Field(entry.start, "Q", "length"), Field(type_at, "I", "vtype")]
            if entry.vtype == ValueType.ARRAY:
                assert entry.elem_type is not None
                fields += [Field(type_at + 4, "I", "vtype"), Field(type_at + 8, "Q", "count")]
                if entry.elem_type == ValueType.STRING:
                    fields.append(Field(entry.value_start, "Q", "length"))
                elif entry.count:
                    fields += scalar_fields(entry.elem_type, type_at + 4, entry.value_start)
            elif entry.vtype == ValueType.STRING:
                fields.append(Field(entry.value_start, "Q", "length"))
            else:
                fields += scalar_fields(entry.vtype, type_at, entry.value_start)
        pos = max(e.end for e in f.kv.values())
        for t in f.tensors:
            fields.append(Field(pos, "Q", "length"))
            pos += 8 + len(t.name.encode())
            fields.append(Field(pos, "I", "ndims"))
            fields += [Field(pos + 4 + 8 * d, "Q", "dim") for d in range(len(t.shape))]
            pos += 4 + 8 * len(t.shape)
            fields += [Field(pos, "I", "ggml_type"), Field(pos + 4, "Q", "offset")]
            pos += 12
        assert pos == f.header_size
        entries = tuple((e.key, e.start, e.end) for e in f.kv.values())
        return Seed(name, header, f.size - f.data_start, f.alignment, tuple(fields), entries)


def scalar_fields(vtype: ValueType, type_at: int, value_at: int) -> list[Field]:
    """A scalar (or an array's first element): its type, retyped within its width, and value."""
    width = struct.calcsize(_SCALAR_FMT[vtype])
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    return [Field(type_at, "I", f"retype{width}"), Field(value_at, fmt, f"value{width}")]


def shrink_gemma(src: Path, dst: Path) -> None:
    """Copy Gemma's header with every long array cut to its first entries; data stays a hole."""
    with GGUFFile(src) as f, open(src, "rb") as fh:
        raw = fh.read(f.header_size)
        kvs = []
        for entry in f.kv.values():
            if entry.vtype != ValueType.ARRAY or entry.count <= SHRUNK_ARRAY:
                kvs.append(raw[entry.start : entry.end])
                continue
            assert entry.elem_type is not None
            if entry.elem_type == ValueType.STRING:
                end = entry.value_start
                for _ in range(SHRUNK_ARRAY):
                    end += 8 + struct.unpack_from("<Q", raw, end)[0]
            else:
                end = entry.value_start + SHRUNK_ARRAY * struct.calcsize("<" + _SCALAR_FMT[entry.elem_type])
            head = raw[entry.start : entry.value_start - 8]
            kvs.append(head + struct.pack("<Q", SHRUNK_ARRAY) + raw[entry.value_start : end])
        infos = raw[max(e.end for e in f.kv.values()) : f.header_size]
        body = MAGIC + struct.pack("<IQQ", f.version, len(f.tensors), len(kvs)) + b"".join(kvs) + infos
        n_data = f.size - f.data_start
    write_case(dst, body, f.alignment, n_data)


@pytest.fixture(scope="module")
def tiny_seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Seed]:
    root = tmp_path_factory.mktemp("seeds")
    specs = (TinySpec("llama", n_layers=2, quant="q8_0"), TinySpec("gemma3", n_layers=2))
    return [read_seed(s.arch, write_tiny_model(root / f"{s.arch}.gguf", s)) for s in specs]


@pytest.fixture(scope="module")
def gemma_seeds(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Seed]:
    shrunk = tmp_path_factory.mktemp("seeds") / "gemma-shrunk.gguf"
    shrink_gemma(gemma_path, shrunk)
    with open(gemma_path, "rb") as fh:
        prefix = fh.read(GEMMA_PREFIX)
    counts = (Field(8, "Q", "count"), Field(16, "Q", "count"))
    return [read_seed("gemma-shrunk", shrunk), Seed("gemma-prefix", prefix, -1, 32, counts, ())]


# -- mutations ----------------------------------------------------------------------------


def interesting(field: Field, seed: Seed, current: int) -> list[int]:
    """Boundary values for one field, given what the seed holds there."""
    n_file = len(seed.header) + max(seed.n_data, 0)
    base = {
        "version": [0, 1, 2, 3, 4, 5, 2**16, 0x03000000, 2**32 - 1],
        "vtype": [*range(15), 255, 2**31, 2**32 - 1],
        "ndims": [*range(7), 2**32 - 1],
        "ggml_type": [*range(44), 64, 65, 2**32 - 1],
        "dim": [0, 1, 31, 32, 33, 256, 2**32, 2**40, 2**63, 2**64 - 1],
        "offset": [0, 1, 31, 32, current + 32, current - 32, 2**63, 2**64 - 1],
        "value1": [0, 1, 2, 127, 128, 255],
        "value2": [0, 1, 2, 0x7FFF, 0x8000, 0xFFFF],
        "value4": [*SMALL, 2**31 - 1, 2**31, 2**32 - 1, *FLOAT_BITS],
        "value8": [*SMALL, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, *DOUBLE_BITS],
        **{f"retype{w}": types for w, types in RETYPE.items()},
    }.get(field.kind, U64)
    if field.kind.startswith(("value", "retype")):
        return base
    near = [n_file, n_file - 1, n_file + 1, len(seed.header), current + 1, current - 1]
    limit = 2 ** (8 * struct.calcsize("<" + field.fmt)) - 1
    return sorted({v for v in [*base, *near] if 0 <= v <= limit})


@dataclass(frozen=True, slots=True)
class Case:
    what: str  # the mutations, for failure messages
    header: bytes = field(repr=False)
    alignment: int
    n_data: int
    size: int | None  # cut the file here; None: header, padding, then n_data bytes of hole


OPS = ["field"] * 6 + ["swap"] * 2 + ["flip", "truncate", "delete", "duplicate", "resize"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Seed]) -> Case:
    """A seed with one to three mutations."""
    seed = draw(st.sampled_from(seeds))
    blob = bytearray(seed.header)
    size: int | None = None  # None: header, padding, then the seed's data region
    delta = 0
    done = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(OPS))
        if op == "field" and seed.fields:
            kind = draw(st.sampled_from(sorted({f.kind for f in seed.fields})))  # rare kinds too
            field = draw(st.sampled_from([f for f in seed.fields if f.kind == kind]))
            fmt = "<" + field.fmt
            if field.offset + struct.calcsize(fmt) <= len(blob):
                (current,) = struct.unpack_from(fmt, blob, field.offset)
                value = draw(st.sampled_from(interesting(field, seed, current)))
                struct.pack_into(fmt, blob, field.offset, value)
                done.append(f"{field.kind}@{field.offset}={value}")
        elif op == "swap" and seed.entries and len(blob) == len(seed.header):
            # Give a key (one of the seed's, or one the tools read) a value of another type.
            key, start, end = draw(st.sampled_from(seed.entries))
            vtype, value, elem = draw(st.sampled_from(SWAPS))
            if draw(st.booleans()):
                planted = draw(st.sampled_from(PLANTED_KEYS))
                blob[end:end] = encode_kv(planted, vtype, value, elem)
                struct.pack_into("<Q", blob, 16, struct.unpack_from("<Q", blob, 16)[0] + 1)
                done.append(f"plant {planted}={vtype.name}:{value!r}")
            else:
                blob[start:end] = encode_kv(key, vtype, value, elem)
                done.append(f"swap {key}={vtype.name}:{value!r}")
        elif op == "flip" and blob:
            pos = draw(st.integers(0, len(blob) - 1))
            blob[pos] ^= draw(st.integers(1, 255))
            done.append(f"flip@{pos}")
        elif op == "truncate":
            size = draw(st.integers(0, len(blob)))
            done.append(f"truncate@{size}")
        elif op in ("delete", "duplicate") and blob:
            a = draw(st.integers(0, len(blob) - 1))
            n = draw(st.integers(1, 64))
            if op == "delete":
                del blob[a : a + n]
            else:
                at = draw(st.integers(0, len(blob)))
                blob[at:at] = blob[a : a + n]
            done.append(f"{op}@{a}+{n}")
        elif op == "resize":
            delta = draw(st.sampled_from([-4096, -1, 1, 4096]))
            done.append(f"data{delta:+d}")
    if seed.n_data < 0 and size is None:
        size = len(blob)  # a cut prefix stays cut
    return Case(";".join(done) or "none", bytes(blob), seed.alignment, seed.n_data + delta, size)


# -- the check ----------------------------------------------------------------------------


def write_case(path: Path, header: bytes, alignment: int, n_data: int, size: int | None = None) -> None:
    """Write ``header``, its padding and a hole of ``n_data`` bytes (or cut the file at ``size``)."""
    with open(path, "wb") as fh:
        if size is not None:
            fh.write(header[:size])
            return
        fh.write(header + bytes(-len(header) % alignment))
        fh.truncate(fh.tell() + max(n_data, 0))


def inspect_and_plan(path: Path) -> None:
    """What inspect, inspect --json and the start of build do with a file."""
    with GGUFModel(path) as model:
        info = describe_model(model)
        json.dumps(info)
        format_inspect(info)
        for key, entry in model.kv.items():  # every (small) value decodes or fails with a RysError
            if entry.count <= 64:
                model.value(key)
        n = model_constraints(model).n_layers
        options = BuildOptions(write_swa_pattern=True, allow_unknown_arch=True)
        layout_for_plan(model, parse_plan("0,1", n), options).header()


class Hang(Exception):
    """Raised by the alarm when one case runs past TIME_BOUND_S."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"one case took more than {TIME_BOUND_S} s")


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A folder for the case files: in RAM (/dev/shm) where there is one, else tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="rys-fuzz-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def data_bytes() -> int:
    """This process's data segment (heap and private anonymous mappings), from /proc."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmData:")[1].split()[0]) * 1024


@pytest.fixture
def bounded() -> Iterator[None]:
    """Arm the per-case alarm and cap memory for the test's duration.

    On Linux the cap is RLIMIT_DATA at the current data segment plus MEMORY_BOUND: an allocation
    past it fails with MemoryError, which is not a RysError, so the case fails. It counts heap
    and anonymous mmaps, not the read-only file mapping of the model. Elsewhere every case is
    traced with tracemalloc (about six times slower).
    """
    old = signal.signal(signal.SIGALRM, _on_alarm)
    linux = sys.platform == "linux" and Path("/proc/self/status").exists()
    limits = resource.getrlimit(resource.RLIMIT_DATA)
    if linux:
        resource.setrlimit(resource.RLIMIT_DATA, (data_bytes() + MEMORY_BOUND, limits[1]))
    else:
        tracemalloc.start()
    try:
        yield
    finally:
        if linux:
            resource.setrlimit(resource.RLIMIT_DATA, limits)
        else:
            tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_case(path: Path, what: str) -> str:
    """Check one written case; returns 'ok' or the RysError's class name."""
    traced = tracemalloc.is_tracing()
    if traced:
        tracemalloc.reset_peak()
    signal.alarm(TIME_BOUND_S)
    try:
        inspect_and_plan(path)
        outcome = "ok"
    except RysError as e:
        message = str(e)
        assert message and "\n" not in message, (what, message)
        outcome = type(e).__name__
    finally:
        signal.alarm(0)
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < MEMORY_BOUND, f"{what}: {peak / 2**20:.0f} MB allocated"
    return outcome


FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(seeds: list[Seed], work: Path, n_cases: int) -> dict[str, int]:
    """Run ``n_cases`` mutated seeds; returns how many ended in each outcome."""
    outcomes: dict[str, int] = {}

    @settings(FUZZ, max_examples=n_cases)
    @given(case=mutated(seeds))
    def one(case: Case) -> None:
        write_case(work / "case.gguf", case.header, case.alignment, case.n_data, case.size)
        outcome = run_case(work / "case.gguf", case.what)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    one()
    print(f"{sum(outcomes.values())} cases: {outcomes}")
    return outcomes


def test_seeds_are_valid(tiny_seeds: list[Seed], tmp_path: Path) -> None:
    for seed in tiny_seeds:
        write_case(tmp_path / "seed.gguf", seed.header, seed.alignment, seed.n_data)
        inspect_and_plan(tmp_path / "seed.gguf")
        assert len(seed.fields) > 40 and len(seed.entries) > 10


def test_fuzz_tiny_headers(tiny_seeds: list[Seed], work: Path, bounded: None) -> None:
    outcomes = fuzz(tiny_seeds, work, N_TINY)
    assert sum(outcomes.values()) >= N_TINY * 9 // 10
    # The mutations reach every stage: the parser, the model checks, and the rewrite.
    assert outcomes.get("GGUFFormatError", 0) > N_TINY // 4
    assert outcomes.get("ok", 0) > N_TINY // 20


@pytest.mark.slow
def test_fuzz_gemma_header(gemma_seeds: list[Seed], work: Path, bounded: None) -> None:
    shrunk = gemma_seeds[0]
    write_case(work / "seed.gguf", shrunk.header, shrunk.alignment, shrunk.n_data)
    inspect_and_plan(work / "seed.gguf")  # the shrunk header is itself valid
    outcomes = fuzz(gemma_seeds, work, N_GEMMA)
    assert sum(outcomes.values()) >= N_GEMMA * 9 // 10
    assert outcomes.get("GGUFFormatError", 0) > N_GEMMA // 4


@pytest.mark.parametrize(
    ("what", "key", "offset_in_entry", "value"),
    [
        ("n_kv", None, 16, 2**63),
        ("n_tensors", None, 8, 2**64 - 1),
        ("vocab count", "tokenizer.ggml.tokens", -8, 2**62),
        ("scores count", "tokenizer.ggml.scores", -8, 2**61),
        ("key length", "general.architecture", "start", 2**60),
        ("string length", "general.architecture", 0, 2**64 - 1),
    ],
)
def test_absurd_counts_are_refused_before_allocating(
    tmp_path: Path, bounded: None, what: str, key: str | None, offset_in_entry: int | str, value: int
) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    blob = bytearray(src.read_bytes())
    with GGUFFile(src) as f:
        if key is None:
            offset = int(offset_in_entry)
        elif offset_in_entry == "start":
            offset = f.kv[key].start
        else:
            offset = f.kv[key].value_start + int(offset_in_entry)
    struct.pack_into("<Q", blob, offset, value)
    (tmp_path / "bad.gguf").write_bytes(blob)
    assert run_case(tmp_path / "bad.gguf", what) == "GGUFFormatError"


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_DATA caps anonymous mmaps on Linux only")
def test_memory_bound_catches_a_large_allocation(bounded: None) -> None:
    """The bound the fuzz relies on does fire (and a file mapping does not count against it)."""
    with pytest.raises(MemoryError):
        bytearray(2 * MEMORY_BOUND)
    bytearray(MEMORY_BOUND // 4)  # well under the bound: fine


def test_data_region_is_not_read(tmp_path: Path) -> None:
    """The premise of the sparse cases: a 1 TB file whose data is a hole parses in no time."""
    seed = read_seed("llama", write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2)))
    big = tmp_path / "big.gguf"
    write_case(big, seed.header, seed.alignment, 1 << 40)
    inspect_and_plan(big)
    assert os.stat(big).st_blocks * 512 < 1 << 20
