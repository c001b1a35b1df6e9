"""llama.cpp's own HF → GGUF converter, matched to the installed llama-cpp-python.

llama.cpp's ``convert_hf_to_gguf.py`` (with its ``conversion/`` package and the ``gguf-py`` it
expects) ships in the llama-cpp-python source distribution, not in the wheel. ``fetch_converter``
pip-downloads the sdist of the installed version once, extracts only the converter's files into a
per-version cache, and ``run_converter`` runs it in a subprocess, so the GGUF it writes matches
the runtime that loads it.

Left out on purpose: downloads from the Hub (point it at a local folder), LoRA adapters,
multimodal projectors, and every per-architecture tensor rule (those live in the converter).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConvertError
from ..events import OnEvent, Stage, emit
from ..files import cache_dir as default_cache_dir
from ..files import remove_stale_partials, temp_path
from ..lifetime import die_with_parent
from .hf import PIP_NAMES

MARKER = "rys-converter.json"
SCRIPT = "convert_hf_to_gguf.py"
# What the converter needs from the sdist (paths under vendor/llama.cpp/): the script, its
# package (split out of the script in 2025), its gguf-py, chat templates some models read.
MEMBERS = (SCRIPT, "conversion/", "gguf-py/gguf/", "models/templates/", "LICENSE")


@dataclass(frozen=True, slots=True)
class Converter:
    """A usable llama.cpp converter: the folder holding convert_hf_to_gguf.py and gguf-py/."""

    root: Path
    version: str

    @property
    def script(self) -> Path:
        return self.root / SCRIPT

    @property
    def label(self) -> str:
        """How messages name it."""
        if self.version == "checkout":
            return f"the llama.cpp converter in {self.root}"
        return f"the llama.cpp converter of llama-cpp-python {self.version}"


def installed_version() -> str:
    """The installed llama-cpp-python version (the converter must match it)."""
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        raise ConvertError("llama-cpp-python is not installed; pip install llama-cpp-python") from None


def cached_converter(version: str, cache_dir: Path | None = None) -> Converter | None:
    """The cached converter for ``version``, or None when it is not (completely) cached."""
    root = (cache_dir or default_cache_dir()) / "converter" / version
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("version") != version:
        return None
    return Converter(root, version)


def fetch_converter(
    version: str | None = None,
    *,
    cache_dir: Path | None = None,
    on_event: OnEvent | None = None,
) -> Converter:
    """The converter matching llama-cpp-python ``version``: from the cache, else from its sdist."""
    version = version or installed_version()
    if found := cached_converter(version, cache_dir):
        return found
    parent = (cache_dir or default_cache_dir()) / "converter"
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConvertError(f"cannot create the converter cache {parent}: {e.strerror}") from None
    emit(on_event, Stage(f"downloading llama-cpp-python {version} source (converter, once)"))
    final = parent / version
    remove_stale_partials(final)  # fetches that were killed
    work = temp_path(final)
    try:
        work.mkdir()
        sdist = download_sdist(version, work)
        staged = work / "converter"
        extract_converter(sdist, staged)
        (staged / MARKER).write_text(json.dumps({"version": version, "sdist": sdist.name}) + "\n", encoding="utf-8")
        # Rename into place: a crash never leaves a half cache; a concurrent fetch may win.
        with suppress(OSError):
            os.rename(staged, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if found := cached_converter(version, cache_dir):
        return found
    raise ConvertError(f"cannot write the converter cache {parent / version}; check permissions")


def download_sdist(version: str, dest: Path) -> Path:
    """pip-download the llama-cpp-python ``version`` source distribution into ``dest``."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
        "--disable-pip-version-check", "-d", str(dest), f"llama-cpp-python=={version}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(dest.glob("llama_cpp_python-*.tar.gz"))
    if proc.returncode != 0 or not found:
        reason = last_error_line(proc.stdout + proc.stderr) or f"pip exited with {proc.returncode}"
        raise ConvertError(
            f"cannot download llama-cpp-python=={version} source from PyPI ({reason}); "
            "connect to the network or pass --converter PATH to a llama.cpp checkout"
        )
    return found[0]


def extract_converter(sdist: Path, dest: Path) -> None:
    """Extract the converter's files from the sdist into ``dest`` (plain files only, no escapes)."""
    n_files = 0
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar:
                rel = _converter_member(member.name)
                if rel is None or not member.isfile():
                    continue  # skips links, devices, and everything outside the converter
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                n_files += 1
    except (OSError, tarfile.TarError) as e:
        raise ConvertError(f"cannot read {sdist.name}: {e}") from None
    if not (dest / SCRIPT).is_file() or not (dest / "gguf-py" / "gguf").is_dir():
        raise ConvertError(
            f"{sdist.name} has no vendor/llama.cpp/{SCRIPT} with gguf-py ({n_files} files found); "
            "pass --converter PATH to a llama.cpp checkout"
        )


def _converter_member(name: str) -> str | None:
    parts = name.split("/")
    # <top>/vendor/llama.cpp/<rel>; refuse absolute paths and any '..' or empty component.
    if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"]:
        return None
    rel_parts = parts[3:]
    if any(p in ("", ".", "..") for p in rel_parts) or name.startswith("/"):
        return None
    rel = "/".join(rel_parts)
    return rel if any(rel == m or (m.endswith("/") and rel.startswith(m)) for m in MEMBERS) else None


def open_converter(path: Path) -> Converter:
    """A user-supplied converter: a llama.cpp checkout (or its convert_hf_to_gguf.py)."""
    root = path.parent if path.name == SCRIPT else path
    if not (root / SCRIPT).is_file():
        raise ConvertError(f"{path} has no {SCRIPT}; pass the root of a llama.cpp checkout")
    if not (root / "gguf-py" / "gguf").is_dir():
        raise ConvertError(f"{root} has no gguf-py/gguf beside {SCRIPT}; use a full checkout")
    return Converter(root, "checkout")


def run_converter(
    converter: Converter,
    hf_dir: Path,
    out: Path,
    outtype: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run convert_hf_to_gguf.py on ``hf_dir`` into ``out``; progress gets percent steps.

    Without ``progress`` (``-q``) the converter's own tqdm bar is switched off (TQDM_DISABLE), so
    nothing draws it; its output is read from a pipe either way and never reaches the terminal.
    """
    env = dict(os.environ)
    if progress is None:
        env["TQDM_DISABLE"] = "1"
    # Its own gguf-py first: the PyPI gguf may be older or newer than this converter.
    gguf_py = str(converter.root / "gguf-py")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (gguf_py, env.get("PYTHONPATH")) if p)
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the network
    cmd = [sys.executable, str(converter.script), str(hf_dir.resolve())]
    cmd += ["--outfile", str(out.resolve())]
    cmd += ["--outtype", outtype]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=converter.root, preexec_fn=die_with_parent
    )
    assert proc.stdout is not None
    log: list[str] = []
    done = 0
    try:
        for line in _lines(proc.stdout.fileno()):
            log.append(line)
            m = re.match(r"Writing:\s*(\d+)%", line)
            if m and progress and int(m.group(1)) > done:
                progress(int(m.group(1)) - done)
                done = int(m.group(1))
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc != 0 or not out.is_file():
        raise ConvertError(_converter_failure(hf_dir, "\n".join(log), converter, rc))


def _lines(fd: int) -> Iterator[str]:
    """Split the converter's output on both newlines and tqdm's carriage returns."""
    buf = b""
    while chunk := os.read(fd, 65536):
        *lines, buf = re.split(rb"[\r\n]", buf + chunk)
        yield from (raw.decode("utf-8", "replace") for raw in lines if raw.strip())
    if buf.strip():
        yield buf.decode("utf-8", "replace")


def _converter_failure(hf_dir: Path, output: str, converter: Converter, rc: int) -> str:
    if m := re.search(r"No module named '([\w.]+)'", output):
        mod = m.group(1).split(".")[0]
        pip = PIP_NAMES.get(mod, mod)
        return f"{converter.label} needs the Python module {mod!r}: pip install {pip}"
    reason = last_error_line(output) or f"it exited with code {rc} and wrote no file"
    return f"cannot convert {hf_dir}: {reason} ({converter.label})"


def last_error_line(output: str) -> str | None:
    """The most meaningful error line of a Python tool's output (log ERROR or exception)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if m := re.match(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$", ln):
            return f"{m.group(1)}: {m.group(2)}"[:400]
        if m := re.match(r"^(?:ERROR|CRITICAL)(?::[\w.-]+)?:\s*(.+)$", ln):
            return m.group(1)[:400]
    return None
