"""Quantize a GGUF with llama.cpp's ``llama_model_quantize`` (through llama-cpp-python).

``quantize`` writes to a temporary file beside the output and renames it when llama.cpp reports
success (``llama.model_quantize`` makes the call, its log driving ``progress`` and explaining a
failure). ``read_imatrix`` loads an importance matrix in either format llama.cpp writes (GGUF
``*.in_sum2``/``*.counts`` tensors, or the legacy binary ``.dat``) and normalises it exactly as
``llama-quantize`` does, so ``--imatrix`` gives the same result as the C++ tool.

Left out: per-tensor type overrides, layer pruning and requantizing already-quantized files
(llama.cpp's ``--allow-requantize``), which lose quality.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..builder.source import model_constraints
from ..errors import ConvertError
from ..events import OnEvent, Progress, Stage, emit
from ..files import check_destination, remove_stale_partials, temp_path
from ..gguffile.reader import GGUFFile, GGUFModel, TensorInfo
from .types import QUANT_TYPES, check_quant_type

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class QuantizeResult:
    """What quantize wrote."""

    path: Path
    quant_type: str
    n_bytes: int
    n_imatrix_entries: int


def read_imatrix(path: Path) -> dict[str, np.ndarray]:
    """Per-tensor importance weights from an imatrix file (GGUF or legacy), normalised."""
    import numpy as np

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
    import numpy as np

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
    import numpy as np

    if t.ggml_type != 0:  # F32 only, as llama.cpp requires
        return None
    n = int(np.prod(t.shape))
    return np.fromfile(t.path, dtype="<f4", count=n, offset=t.data_offset)


def _read_legacy_imatrix(path: Path) -> dict[str, np.ndarray]:
    # int32 n_entries, then per entry: int32 len, name, int32 ncall, int32 nval, float[nval]
    # (sums already averaged per call, times ncall); an optional trailer follows.
    import numpy as np

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


@dataclass(frozen=True, slots=True)
class QuantizeOptions:
    """The llama.cpp quantization ``type`` (e.g. ``Q4_K_M``), an importance matrix for it,
    whether to overwrite the output, and CPU threads (0: llama.cpp's choice)."""

    type: str = "Q4_K_M"
    imatrix: Path | None = None
    force: bool = False
    n_threads: int = 0


def quantize(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    options: QuantizeOptions = QuantizeOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> QuantizeResult:
    """Quantize GGUF ``src`` into ``dst`` (atomic); a `Stage` counts one step per tensor."""
    qtype = check_quant_type(options.type)
    src, dst = Path(src), Path(dst)
    imatrix = Path(options.imatrix) if options.imatrix is not None else None
    with GGUFModel(src) as model:  # a missing, broken or corrupt input is refused before llama.cpp sees it
        model_constraints(model)
        n_tensors = len(model.tensors)
    check_destination(dst, [src], options.force)
    weights = read_imatrix(imatrix) if imatrix else {}

    from ..llama.model_quantize import quantize_file

    remove_stale_partials(dst)  # outputs of quantize runs that were killed
    tmp = temp_path(dst)
    emit(on_event, Stage(f"quantizing to {qtype}", n_tensors, "tensor"))
    try:
        error = quantize_file(
            src, tmp, QUANT_TYPES[qtype][0], n_threads=options.n_threads, imatrix=weights,
            imatrix_name=imatrix.name if imatrix else "", progress=progress,
        )  # fmt: skip
        if error is not None:
            raise ConvertError(f"cannot quantize {src} to {qtype}: {error}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return QuantizeResult(dst, qtype, dst.stat().st_size, len(weights))
