"""llama.cpp's ``llama_model_quantize``, called with an importance matrix and its log captured.

The per-tensor lines of llama.cpp's log drive ``progress``; the last error line explains a
failure. Which types exist and how an imatrix file is read is ``convert.quantize``'s business.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from ..events import Progress
from . import logs

_TENSOR_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")


def quantize_file(
    src: Path,
    dst: Path,
    ftype: str,
    *,
    n_threads: int = 0,
    imatrix: Mapping[str, np.ndarray] | None = None,
    imatrix_name: str = "",
    progress: Progress | None = None,
    pure: bool = False,
) -> str | None:
    """Quantize ``src`` into ``dst`` as llama_ftype ``LLAMA_FTYPE_<ftype>``; None on success,
    else llama.cpp's reason in one line. ``pure`` gives every matrix that one type (llama-quantize
    --pure), where llama.cpp would keep a few at higher precision."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_" + ftype)
    params.nthread = n_threads
    params.pure = pure
    keep: list[Any] = []  # ctypes buffers llama.cpp reads during the call
    if imatrix:
        entries = (llama_cpp.llama_model_imatrix_data * (len(imatrix) + 1))()
        for k, (name, arr) in enumerate(imatrix.items()):
            buf = np.ascontiguousarray(arr, dtype=np.float32)
            keep.append(buf)
            entries[k].name = name.encode()
            entries[k].data = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            entries[k].size = buf.size
        keep.append(entries)
        params.imatrix = entries
        params.kv_overrides = _imatrix_kv(imatrix_name, len(imatrix), keep)

    def on_line(text: str) -> None:
        if progress is not None and _TENSOR_LINE.match(text):
            progress(1)

    with logs.capture(on_line) as log:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc == 0:
        return None
    fails = re.findall(r"failed to quantize: (.+)", log.text)
    if fails:
        return str(fails[-1]).strip()
    errs = [ln.strip() for ln in log.text.splitlines() if "error" in ln.lower()]
    return errs[-1] if errs else f"llama_model_quantize returned {rc}"


def _imatrix_kv(name: str, n: int, keep: list[Any]) -> Any:
    # Same provenance keys llama-quantize writes (quantize.imatrix.*); a zero key ends the list.
    kv: Any = (llama_cpp.llama_model_kv_override * 3)()
    kv[0].key = b"quantize.imatrix.file"
    kv[0].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
    kv[0].value.val_str = name.encode()[:127]
    kv[1].key = b"quantize.imatrix.entries_count"
    kv[1].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
    kv[1].value.val_i64 = n
    keep.append(kv)
    return kv
