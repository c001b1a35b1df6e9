"""Prepare what the GPU check needs on a machine without network: ``make gpu-bundle``.

The GPU machine has Python 3.12 with numpy, jinja2, tqdm (and CUDA's compiler, CMake, ninja)
but no llama-cpp-python and no network, and at most 64 MiB travel with the working tree. So
this puts under ``.gpu-bundle/`` (ignored by git):

- llama-cpp-python's source distribution at our pinned version, repacked without what a build
  never reads: the ~75 MB of tokenizer test vocabularies (``vendor/llama.cpp/models/ggml-vocab-*``),
  llama.cpp's docs, media and web UI, and the git metadata (about 10 MB left, compressed);
- the pure-Python wheels its build and runtime need: scikit-build-core and its needs (the build
  backend, used without build isolation) and diskcache and typing-extensions (runtime);
- MANIFEST.json: names, sizes and SHA-256 of each file.

It checks the total against 64 MiB less room for the working tree and prints the sizes. Files
already in the folder with the right content are kept, so a rerun needs no network.

    python -m benchmarks.gpu_bundle [--out .gpu-bundle]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

LLAMA_CPP_PYTHON = "0.3.36"  # pyproject.toml pins this version
WHEELS = (
    "scikit-build-core==1.1.2",
    "pathspec==1.1.1",
    "packaging==26.4",
    "diskcache==5.6.3",
    "typing-extensions==4.16.0",
)
DROPPED = (  # paths inside the sdist's top folder that no build reads
    ".git",
    "vendor/llama.cpp/.git",
    "vendor/llama.cpp/docs",
    "vendor/llama.cpp/media",
    "vendor/llama.cpp/tools/ui",
    "docs",
)
DROPPED_GLOBS = ("vendor/llama.cpp/models/ggml-vocab-*",)
LIMIT = 64 << 20  # what travels to the GPU machine, the working tree included
TREE_ROOM = 16 << 20  # left for the repository itself
SDIST = f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, stdout=subprocess.DEVNULL)


def strip_sdist(src: Path, dst: Path) -> tuple[int, int]:
    """Repack ``src`` into ``dst`` without DROPPED; returns (files dropped, bytes dropped)."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(src) as tar:
            tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        n, size = 0, 0
        doomed = [top / rel for rel in DROPPED] + [p for g in DROPPED_GLOBS for p in top.glob(g)]
        for path in doomed:
            if path.is_dir() and not path.is_symlink():
                files = [f for f in path.rglob("*") if f.is_file()]
                n, size = n + len(files), size + sum(f.stat().st_size for f in files)
                shutil.rmtree(path)
            elif path.exists():
                n, size = n + 1, size + path.stat().st_size
                path.unlink()
        part = dst.with_suffix(".partial")
        with tarfile.open(part, "w:gz", compresslevel=9) as tar:
            tar.add(top, arcname=top.name)
        part.replace(dst)
        return n, size


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(".gpu-bundle"))
    args = ap.parse_args()
    out: Path = args.out
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    sdist = out / SDIST
    if not sdist.exists():
        with tempfile.TemporaryDirectory() as tmp:
            print(f"downloading llama-cpp-python {LLAMA_CPP_PYTHON} (source) ...", file=sys.stderr)
            pip("download", "--no-deps", "--no-binary", ":all:", f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", tmp)
            n, size = strip_sdist(Path(tmp) / SDIST, sdist)
            print(f"dropped {n} files ({size / 2**20:.0f} MiB) the build never reads", file=sys.stderr)
    have = {p.name.split("-")[0].lower().replace("_", "-") for p in wheels.glob("*.whl")}
    for spec in WHEELS:
        if spec.split("==")[0] not in have:
            pip(
                "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
                "--implementation", "py", "--abi", "none", "--platform", "any", "-d", str(wheels), spec,
            )  # fmt: skip
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    manifest: list[dict[str, Any]] = [
        {"file": str(p.relative_to(out)), "bytes": p.stat().st_size, "sha256": sha256(p)} for p in files
    ]
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(m["bytes"] for m in manifest)
    for m in manifest:
        print(f"{m['bytes'] / 2**20:8.2f} MiB  {m['file']}")
    print(
        f"{total / 2**20:8.2f} MiB  in all, under {out}/ "
        f"(at most {(LIMIT - TREE_ROOM) / 2**20:.0f} MiB: 64 MiB travel, the working tree included)"
    )
    if total > LIMIT - TREE_ROOM:
        print(f"gpu-bundle: {total / 2**20:.1f} MiB is too much to carry", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
