"""Quantize a GGUF with llama.cpp's ``llama_model_quantize`` (through llama-cpp-python).

``quantize`` writes to a temporary file beside the output and renames it when llama.cpp reports
success; llama.cpp's log is captured (its per-tensor lines drive ``progress``, its last error
becomes the message). ``read_imatrix`` loads an importance matrix in either format llama.cpp
writes (GGUF ``*.in_sum2``/``*.counts`` tensors, or the legacy binary ``.dat``) and normalises it
exactly as ``llama-quantize`` does, so ``--imatrix`` gives the same result as the C++ tool.

Left out: per-tensor type overrides, layer pruning and requantizing already-quantized files
(llama.cpp's ``--allow-requantize``), which lose quality.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvertError, OutputError
from .gguffile import GGUFFile, GGUFModel, TensorInfo
from .output import remove_stale_partials

# llama-quantize's names (tools/quantize/quantize.cpp QUANT_OPTIONS) → llama_ftype constant, with
# rough bits per weight (k-quant mixes keep some tensors wider) for the disk space check.
QUANT_TYPES: dict[str, tuple[str, float]] = {
    "Q4_0": ("MOSTLY_Q4_0", 4.6), "Q4_1": ("MOSTLY_Q4_1", 5.1), "Q5_0": ("MOSTLY_Q5_0", 5.6),
    "Q5_1": ("MOSTLY_Q5_1", 6.1), "Q8_0": ("MOSTLY_Q8_0", 8.6),
    "Q2_K": ("MOSTLY_Q2_K", 3.4), "Q2_K_S": ("MOSTLY_Q2_K_S", 3.2),
    "Q3_K_S": ("MOSTLY_Q3_K_S", 3.6), "Q3_K_M": ("MOSTLY_Q3_K_M", 4.0),
    "Q3_K_L": ("MOSTLY_Q3_K_L", 4.3), "Q4_K_S": ("MOSTLY_Q4_K_S", 4.7),
    "Q4_K_M": ("MOSTLY_Q4_K_M", 5.0), "Q5_K_S": ("MOSTLY_Q5_K_S", 5.6),
    "Q5_K_M": ("MOSTLY_Q5_K_M", 5.8), "Q6_K": ("MOSTLY_Q6_K", 6.7),
    "IQ1_S": ("MOSTLY_IQ1_S", 2.0), "IQ1_M": ("MOSTLY_IQ1_M", 2.2),
    "IQ2_XXS": ("MOSTLY_IQ2_XXS", 2.5), "IQ2_XS": ("MOSTLY_IQ2_XS", 2.7),
    "IQ2_S": ("MOSTLY_IQ2_S", 2.9), "IQ2_M": ("MOSTLY_IQ2_M", 3.1),
    "IQ3_XXS": ("MOSTLY_IQ3_XXS", 3.5), "IQ3_XS": ("MOSTLY_IQ3_XS", 3.7),
    "IQ3_S": ("MOSTLY_IQ3_S", 3.9), "IQ3_M": ("MOSTLY_IQ3_M", 4.1),
    "IQ4_NL": ("MOSTLY_IQ4_NL", 4.9), "IQ4_XS": ("MOSTLY_IQ4_XS", 4.7),
    "TQ1_0": ("MOSTLY_TQ1_0", 2.1), "TQ2_0": ("MOSTLY_TQ2_0", 2.5),
    "MXFP4_MOE": ("MOSTLY_MXFP4_MOE", 5.0),
    "F16": ("MOSTLY_F16", 16.0), "BF16": ("MOSTLY_BF16", 16.0), "F32": ("ALL_F32", 32.0),
}  # fmt: skip
ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
_TENSOR_LINE = re.compile(rb"^\[\s*(\d+)/\s*(\d+)\]")


@dataclass(frozen=True, slots=True)
class QuantizeResult:
    """What quantize wrote."""

    path: Path
    quant_type: str
    n_bytes: int
    n_imatrix_entries: int


def check_quant_type(name: str) -> str:
    """The canonical llama.cpp name of a quantization type (any case); raises if unknown."""
    key = name.strip().upper()
    key = ALIASES.get(key, key)
    if key not in QUANT_TYPES:
        raise ConvertError(f"unknown quantization type {name!r}; choose one of: {', '.join(QUANT_TYPES)}")
    return key


def estimate_quant_bytes(n_params: int, quant_type: str) -> int:
    """A generous size estimate of a model of ``n_params`` weights quantized to ``quant_type``."""
    return int(n_params * QUANT_TYPES[check_quant_type(quant_type)][1] / 8) + (16 << 20)


def read_imatrix(path: Path) -> dict[str, np.ndarray]:
    """Per-tensor importance weights from an imatrix file (GGUF or legacy), normalised."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as e:
        raise ConvertError(f"cannot read imatrix {path}: {e.strerror}") from None
    data = _read_gguf_imatrix(path) if magic == b"GGUF" else _read_legacy_imatrix(path)
    if not data:
        raise ConvertError(f"{path} has no importance matrix entries; regenerate it")
    bad = next((k for k, v in data.items() if not np.isfinite(v).all()), None)
    if bad:
        raise ConvertError(f"{path}: imatrix entry {bad!r} has non-finite values; regenerate it")
    return data


def _read_gguf_imatrix(path: Path) -> dict[str, np.ndarray]:
    # llama-imatrix writes <tensor>.in_sum2 (sum of squared activations, one row per expert) and
    # <tensor>.counts (tokens seen per expert); quantize uses in_sum2 / counts (1 where count=0).
    with GGUFFile(path) as f:
        arrays = {t.name: _read_f32(t) for t in f.tensors}
    out: dict[str, np.ndarray] = {}
    for name, sums in arrays.items():
        if not name.endswith(".in_sum2"):
            continue
        base = name.removesuffix(".in_sum2")
        counts = arrays.get(base + ".counts")
        if sums is None or counts is None:
            raise ConvertError(f"{path}: {base!r} lacks F32 .in_sum2/.counts tensors; regenerate it")
        if counts.size == 0 or sums.size % counts.size:
            raise ConvertError(f"{path}: {base!r} has mismatched sums and counts; regenerate it")
        rows = sums.reshape(counts.size, -1)
        c = np.rint(counts).reshape(-1, 1)
        out[base] = np.where(c > 0, rows / np.where(c > 0, c, 1), 1.0).astype(np.float32).ravel()
    return out


def _read_f32(t: TensorInfo) -> np.ndarray | None:
    if t.ggml_type != 0:  # F32 only, as llama.cpp requires
        return None
    n = int(np.prod(t.shape))
    return np.fromfile(t.path, dtype="<f4", count=n, offset=t.data_offset)


def _read_legacy_imatrix(path: Path) -> dict[str, np.ndarray]:
    # int32 n_entries, then per entry: int32 len, name, int32 ncall, int32 nval, float[nval]
    # (sums already averaged per call, times ncall); an optional trailer follows.
    raw = path.read_bytes()
    out: dict[str, np.ndarray] = {}
    try:
        (n,) = struct.unpack_from("<i", raw, 0)
        if n < 1:
            raise ValueError("no entries")
        pos = 4
        for _ in range(n):
            (n_name,) = struct.unpack_from("<i", raw, pos)
            name = raw[pos + 4 : pos + 4 + n_name].decode("utf-8")
            pos += 4 + n_name
            ncall, nval = struct.unpack_from("<ii", raw, pos)
            if nval < 1 or pos + 8 + 4 * nval > len(raw):
                raise ValueError(f"entry {name!r} is truncated")
            sums = np.frombuffer(raw, dtype="<f4", count=nval, offset=pos + 8)
            out[name] = (sums / ncall if ncall > 0 else sums).astype(np.float32)
            pos += 8 + 4 * nval
    except struct.error:
        raise ConvertError(f"{path} is not an imatrix file (GGUF or legacy .dat): truncated") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ConvertError(f"{path} is not an imatrix file (GGUF or legacy .dat): {e}") from None
    return out


def quantize(
    src: Path,
    dst: Path,
    quant_type: str,
    *,
    imatrix: Path | None = None,
    force: bool = False,
    n_threads: int = 0,
    progress: Callable[[int], None] | None = None,
) -> QuantizeResult:
    """Quantize GGUF ``src`` into ``dst`` (atomic); progress gets one step per tensor."""
    qtype = check_quant_type(quant_type)
    src, dst = Path(src), Path(dst)
    with GGUFModel(src):  # a clear error for a missing or broken input, before llama.cpp sees it
        pass
    if dst.exists() and not force:
        raise OutputError(f"{dst} exists; pass --force to overwrite it")
    if dst.resolve() == src.resolve():
        raise OutputError(f"{dst} is the input file; write the quantized model elsewhere")
    weights = read_imatrix(imatrix) if imatrix else {}

    import llama_cpp  # deferred: loads the native library

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_" + QUANT_TYPES[qtype][0])
    params.nthread = n_threads
    keep: list[Any] = []  # ctypes buffers llama.cpp reads during the call
    if weights:
        entries = (llama_cpp.llama_model_imatrix_data * (len(weights) + 1))()
        for k, (name, arr) in enumerate(weights.items()):
            buf = np.ascontiguousarray(arr, dtype=np.float32)
            keep.append(buf)
            entries[k].name = name.encode()
            entries[k].data = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            entries[k].size = buf.size
        keep.append(entries)
        params.imatrix = entries
        params.kv_overrides = _imatrix_kv(llama_cpp, imatrix, len(weights), keep)
    remove_stale_partials(dst)  # outputs of quantize runs that were killed
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.{os.getpid()}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        errors = _run_captured(
            llama_cpp, lambda: llama_cpp.llama_model_quantize(
                str(src).encode(), str(tmp).encode(), ctypes.byref(params)), progress,
        )  # fmt: skip
        if errors is not None:
            raise ConvertError(f"cannot quantize {src} to {qtype}: {errors}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return QuantizeResult(dst, qtype, dst.stat().st_size, len(weights))


def _imatrix_kv(llama_cpp: Any, imatrix: Path | None, n: int, keep: list[Any]) -> Any:
    # Same provenance keys llama-quantize writes (quantize.imatrix.*); a zero key ends the list.
    kv = (llama_cpp.llama_model_kv_override * 3)()
    kv[0].key = b"quantize.imatrix.file"
    kv[0].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
    kv[0].value.val_str = str(imatrix.name if imatrix else "").encode()[:127]
    kv[1].key = b"quantize.imatrix.entries_count"
    kv[1].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
    kv[1].value.val_i64 = n
    keep.append(kv)
    return kv


def _run_captured(llama_cpp: Any, call: Callable[[], int], progress: Callable[[int], None] | None) -> str | None:
    """Run a llama.cpp call with its log captured; None on success, else its last error line."""
    lines: list[bytes] = []

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def capture(level: int, text: bytes, user_data: object) -> None:
        lines.append(text or b"")
        m = _TENSOR_LINE.match(text or b"")
        if m and progress:
            progress(1)

    llama_cpp.llama_log_set(capture, ctypes.c_void_p(0))
    try:
        rc = call()
    finally:
        from llama_cpp import _logger  # put llama-cpp-python's own logger back

        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    if rc == 0:
        return None
    text = b"".join(lines).decode("utf-8", "replace")
    fails = re.findall(r"failed to quantize: (.+)", text)
    if fails:
        return str(fails[-1]).strip()
    errs = [ln.strip() for ln in text.splitlines() if "error" in ln.lower()]
    return errs[-1] if errs else f"llama_model_quantize returned {rc}"
