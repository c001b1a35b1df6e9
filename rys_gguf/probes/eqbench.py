"""Fetch the EQ-Bench v2 question file (171 items, MIT, Samuel J. Paech) into a local cache.

The file is downloaded once from the EQ-Bench GitHub repository with urllib, checked against a
pinned sha256 and written atomically to the cache folder (`files.cache_dir`). This
project does not ship the file. Left out: proxies and retries beyond urllib's defaults, other
EQ-Bench files (v1, translations) and mirrors.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import OutputError, ProbeError
from ..files import cache_dir, write_atomic

URL = "https://raw.githubusercontent.com/EQ-bench/EQ-Bench/main/data/eq_bench_v2_questions_171.json"
SHA256 = "b4e9bf11df7e88bc12381efab18565f8b0ff0d4743fe8708c4482df91c4e617a"
FILENAME = "eq_bench_v2_questions_171.json"
_MAX_BYTES = 8 << 20  # the real file is 393,286 bytes
_LOCAL_HINT = f"download {URL} yourself and pass its path as the EQ set (--eq-set PATH)"


def sha256_of(data: bytes) -> str:
    """Return the sha256 hex digest of some bytes."""
    return hashlib.sha256(data).hexdigest()


def _download(url: str, timeout_s: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data: bytes = response.read(_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProbeError(f"cannot download the EQ-Bench v2 file ({reason}); {_LOCAL_HINT}") from None
    if len(data) > _MAX_BYTES:
        raise ProbeError(f"the EQ-Bench v2 download from {url} is too large; {_LOCAL_HINT}")
    return data


def fetch_eqbench_v2(folder: Path | None = None, *, url: str = URL, timeout_s: float = 60.0) -> Path:
    """Return the cached, hash-checked v2 question file, downloading it when needed."""
    path = (folder if folder is not None else cache_dir()) / FILENAME
    if path.is_file():
        with contextlib.suppress(OSError):
            if sha256_of(path.read_bytes()) == SHA256:
                return path
    data = _download(url, timeout_s)
    got = sha256_of(data)
    if got != SHA256:
        raise ProbeError(
            f"the EQ-Bench v2 file from {url} has sha256 {got[:16]}..., expected {SHA256[:16]}...; {_LOCAL_HINT}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot write to cache folder {path.parent} ({exc.strerror}); set RYS_CACHE_DIR to a writable folder"
        ) from None
    write_atomic(path, data, fix="set RYS_CACHE_DIR to a writable folder")
    return path
