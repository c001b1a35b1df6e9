"""HuggingFace model folder → (quantized) RYS GGUF, through llama.cpp's own converter.

llama.cpp's ``convert_hf_to_gguf.py`` (with its ``conversion/`` package and the ``gguf-py`` it
expects) ships in the llama-cpp-python source distribution, not in the wheel. ``fetch_converter``
pip-downloads the sdist of the installed version once, extracts only the converter's files into a
per-version cache, and ``run_converter`` runs it in a subprocess, so the GGUF it writes matches
the runtime that loads it. ``convert_hf`` chains convert → quantize → RYS rewrite in a temporary
folder beside the output; the repeated layers are duplicated after quantizing, so they stay
bit-identical.

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
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConvertError, OutputError
from .gguffile import GGUFModel
from .hfmodel import PIP_NAMES, check_modules, check_space, estimate_bytes, read_hf_dir
from .lifetime import die_with_parent
from .output import remove_stale_partials
from .plan import parse_blocks, parse_plan
from .quantize import check_quant_type, quantize, read_imatrix
from .rewrite import BuildOptions, PreparedBuild, layout_for_plan, model_constraints

OUTTYPES = ("auto", "f32", "f16", "bf16", "q8_0")
"""Converter output types: "auto" keeps the weights' 16-bit type (bf16 or f16)."""

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


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What convert_hf wrote."""

    path: Path
    n_bytes: int
    outtype: str
    quant_type: str | None
    spec: str | None


def cache_root() -> Path:
    """The rys-gguf cache folder: $RYS_CACHE_DIR, else ~/.cache/rys-gguf."""
    if env := os.environ.get("RYS_CACHE_DIR"):
        return Path(env).expanduser()
    return Path.home() / ".cache" / "rys-gguf"


def installed_version() -> str:
    """The installed llama-cpp-python version (the converter must match it)."""
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        raise ConvertError("llama-cpp-python is not installed; pip install llama-cpp-python") from None


def cached_converter(version: str, cache_dir: Path | None = None) -> Converter | None:
    """The cached converter for ``version``, or None when it is not (completely) cached."""
    root = (cache_dir or cache_root()) / "converter" / version
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
    on_stage: Callable[[str, int], None] | None = None,
) -> Converter:
    """The converter matching llama-cpp-python ``version``: from the cache, else from its sdist."""
    version = version or installed_version()
    if found := cached_converter(version, cache_dir):
        return found
    parent = (cache_dir or cache_root()) / "converter"
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConvertError(f"cannot create the converter cache {parent}: {e.strerror}") from None
    if on_stage:
        on_stage(f"downloading llama-cpp-python {version} source (converter, once)", 0)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=parent) as tmp:
        sdist = download_sdist(version, Path(tmp))
        staged = Path(tmp) / "converter"
        extract_converter(sdist, staged)
        (staged / MARKER).write_text(json.dumps({"version": version, "sdist": sdist.name}) + "\n", encoding="utf-8")
        # Rename into place: a crash never leaves a half cache; a concurrent fetch may win.
        with suppress(OSError):
            os.rename(staged, parent / version)
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
    """Run convert_hf_to_gguf.py on ``hf_dir`` into ``out``; progress gets percent steps."""
    env = dict(os.environ)
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


def convert_hf(
    hf_dir: Path,
    out: Path,
    *,
    outtype: str = "auto",
    quant_type: str | None = None,
    imatrix: Path | None = None,
    spec: str | None = None,
    converter: Path | None = None,
    force: bool = False,
    options: BuildOptions | None = None,
    on_stage: Callable[[str, int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ConvertResult:
    """Convert a HuggingFace folder to GGUF, then quantize, then apply the RYS plan ``spec``.

    Args:
        hf_dir: the model folder (config.json, weights, tokenizer files).
        out: the GGUF to write; refused if it exists unless ``force``.
        outtype: the converter's output type (``OUTTYPES``); quantizing needs a float type.
        quant_type: a llama.cpp quantization type (e.g. ``Q4_K_M``), or None to keep ``outtype``.
        imatrix: an importance matrix file for ``quant_type``.
        spec: an RYS config (``i,j``, ``i,j;k,l`` or ``layers:...``), or None for a plain GGUF.
        converter: a llama.cpp checkout to use instead of the version-matched cached converter.
        force: overwrite ``out``.
        options: RYS build options (SWA pattern arrays, unknown architectures); ``force`` wins.
        on_stage: called with (stage description, total steps or 0) as each stage starts.
        progress: called with the steps done since the last call, within the current stage.

    Raises:
        ConvertError, OutputError, PlanError: one-line messages; nothing is left behind.
    """
    hf_dir, out = Path(hf_dir), Path(out)
    if outtype not in OUTTYPES:
        raise ConvertError(f"unknown --outtype {outtype!r}; choose one of: {', '.join(OUTTYPES)}")
    qtype = check_quant_type(quant_type) if quant_type else None
    if qtype and outtype == "q8_0":
        raise ConvertError("--quantize needs a float --outtype (f32, f16, bf16 or auto), not q8_0")
    if imatrix is not None and qtype is None:
        raise ConvertError("--imatrix needs --quantize TYPE")
    if imatrix is not None and not imatrix.is_file():
        raise ConvertError(f"imatrix {imatrix} does not exist")
    if imatrix is not None:
        read_imatrix(imatrix)  # a broken file fails now, not after a long conversion
    model = read_hf_dir(hf_dir)
    n_extra = 0
    if spec is not None:
        # Catch a typo now, not after a long conversion; the rewrite checks again on the GGUF.
        if model.n_layers:
            n_extra = parse_plan(spec, model.n_layers).n_extra
        elif not spec.strip().startswith("layers:"):
            parse_blocks(spec)
    _check_output(out, force)
    checkout = open_converter(converter) if converter else None
    check_modules(model)
    check_space(out.parent, estimate_bytes(model, outtype, qtype, n_extra))
    conv = checkout or fetch_converter(on_stage=on_stage)
    build_options = replace(options or BuildOptions(), force=force)

    def stage(text: str, total: int = 0) -> None:
        if on_stage:
            on_stage(text, total)

    remove_stale_partials(out)  # work folders of converts that were killed
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
    try:
        current = tmp / f"model-{outtype}.gguf"
        stage(f"converting {hf_dir.name} to GGUF ({outtype}) with {conv.label}", 100)
        run_converter(conv, hf_dir, current, outtype, progress)
        if spec is not None:
            _check_rules(current, spec, build_options)
        if qtype:
            with GGUFModel(current) as m:
                n_tensors = len(m.tensors)
            stage(f"quantizing to {qtype}", n_tensors)
            quantized = tmp / f"model-{qtype}.gguf"
            quantize(current, quantized, qtype, imatrix=imatrix, progress=progress)
            current.unlink()
            current = quantized
        if spec is not None:
            with PreparedBuild(current, out, spec, build_options) as job:
                stage(f"duplicating layers ({job.plan.spec}): {job.n_layers_in} → "
                      f"{job.n_layers_out}", job.n_bytes)  # fmt: skip
                job.write(progress)
        else:
            os.replace(current, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ConvertResult(out, out.stat().st_size, outtype, qtype, spec)


def _check_rules(path: Path, spec: str, options: BuildOptions) -> None:
    """The architecture's RYS rules, checked on the converted file before a long quantization."""
    with GGUFModel(path) as model:
        layout_for_plan(model, parse_plan(spec, model_constraints(model).n_layers), options)


def _check_output(out: Path, force: bool) -> None:
    if out.is_dir():
        raise OutputError(f"{out} is a folder; give a .gguf file name")
    if out.exists() and not force:
        raise OutputError(f"{out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise OutputError(f"{out.parent} does not exist; create it first")
