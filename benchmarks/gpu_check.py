"""What only a GPU can show, in one command on a machine without network: ``make gpu-check``.

Sized for one NVIDIA H200 with 16 cores, CUDA's compiler, CMake and ninja, Python 3.12 with
numpy and jinja2, no llama-cpp-python and no network, and at most 10 minutes a command. It needs
``make gpu-bundle`` run beforehand where there is network (``.gpu-bundle/``: llama-cpp-python's
source and the wheels its build needs). Then:

1. build: llama-cpp-python with CUDA for this GPU's architecture only (``nvidia-smi``'s compute
   capability, e.g. sm_90; else CMake's ``native``) into ``.gpu-build/site``, with the build tree
   kept in ``.gpu-build/cmake`` (a rerun on a warm machine reuses it); the mtmd (vision) library
   is not built. The compile time is measured and printed.
2. measure, in a child that imports that build: synthetic llama models written with our own
   writer (a tiny one, and one of about 1.4 GB: no download); a scan of three configs fully
   offloaded (with the memory plan llama.cpp's reported free memory gives); a scan pinned with
   ``--gpus 0``; ``--split-mode layer`` and ``row`` with ``--tensor-split`` when two GPUs are
   present; GPU vs CPU logits of one RYS file; batched vs sequential tokens/s; the per-config
   overhead ratio; ``verify`` of a build; the planner against the buffers llama.cpp reports on
   the GPU. One summary table is printed and written to ``$OUT/gpu_check.md`` (and .json).

Without CUDA (no ``nvidia-smi`` GPU or no ``nvcc``) it says so and exits 0 having built nothing.
``--phase build`` and ``--phase measure`` split the two when one command cannot hold both;
``--dry-run`` runs the measurements with the installed llama-cpp-python on whatever device it
has (the CPU here), to check this script where no GPU is.

    python3 -m benchmarks.gpu_check [--phase all|build|measure] [--dry-run] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import write_summary

ROOT = Path(__file__).resolve().parent.parent
SDIST = "llama_cpp_python-0.3.36.tar.gz"
DEADLINE_S = 9 * 60  # the whole run, compile included


def nvcc() -> str | None:
    """CUDA's compiler: on PATH, else under $CUDA_HOME (default /usr/local/cuda)."""
    found = shutil.which("nvcc")
    fallback = Path(os.environ.get("CUDA_HOME") or "/usr/local/cuda") / "bin" / "nvcc"
    return found or (str(fallback) if fallback.exists() else None)


def cuda_here() -> tuple[str | None, str]:
    """(compute capability like '90', or None) and why not when None."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None, "no nvidia-smi on PATH"
    try:
        out = subprocess.run(
            [smi, "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"nvidia-smi failed ({e})"
    caps = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or not caps:
        return None, f"nvidia-smi lists no GPU ({(out.stderr or out.stdout).strip()[:200]})"
    if nvcc() is None:
        return None, "no nvcc (CUDA's compiler) to build llama.cpp with"
    return caps[0].replace(".", ""), ""


def built(build_dir: Path) -> bool:
    lib = build_dir / "site" / "llama_cpp" / "lib"
    return lib.is_dir() and any("ggml-cuda" in p.name for p in lib.iterdir())


def build(bundle: Path, build_dir: Path, arch: str) -> float:
    """Compile llama-cpp-python with CUDA for ``arch`` into build_dir/site; returns seconds."""
    sdist = bundle / SDIST
    wheels = sorted((bundle / "wheels").glob("*.whl"))
    if not sdist.exists() or not wheels:
        raise SystemExit(
            f"gpu-check: {bundle} lacks {SDIST} or its wheels; run `make gpu-bundle` where there is network"
        )
    tools, site = build_dir / "tools", build_dir / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-cache-dir"]
    subprocess.run([*pip, "--upgrade", "--target", str(tools), *map(str, wheels)], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(tools),
        "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 4),
        "CUDACXX": nvcc() or "nvcc",
        "CMAKE_ARGS": (
            f"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES={arch} -DLLAVA_BUILD=OFF -DGGML_NATIVE=ON "
            "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF"
        ),
    }
    log = build_dir / "build.log"
    print(f"gpu-check: building llama-cpp-python for sm_{arch} (log: {log}) ...", flush=True)
    start = time.monotonic()
    with open(log, "w") as fh:
        done = subprocess.run(
            [*pip, "--no-build-isolation", "--upgrade", "--target", str(site),
             f"--config-settings=build-dir={build_dir / 'cmake'}", str(sdist)],
            stdout=fh, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    seconds = time.monotonic() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise SystemExit("gpu-check: the build failed:\n" + "\n".join(tail))
    runtime = [w for w in wheels if w.name.startswith(("diskcache", "typing_extensions"))]
    subprocess.run([*pip, "--upgrade", "--target", str(site), *map(str, runtime)], check=True)
    (build_dir / "build.json").write_text(json.dumps({"seconds": seconds, "arch": arch}))
    print(f"gpu-check: built in {seconds:.0f} s", flush=True)
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", choices=("all", "build", "measure"), default="all")
    ap.add_argument("--bundle", type=Path, default=ROOT / ".gpu-bundle")
    ap.add_argument("--build-dir", type=Path, default=ROOT / ".gpu-build")
    ap.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    ap.add_argument("--work", type=Path, default=None, help="folder for the models (default: a temporary one)")
    ap.add_argument("--arch", help="CUDA architecture to build for, e.g. 90 (default: the GPU's)")
    ap.add_argument("--big", default="16x2048", help="layers x width of the large model (default 16x2048, 1.4 GB)")
    ap.add_argument("--dry-run", action="store_true", help="measure with the installed llama-cpp-python, no GPU needed")
    ap.add_argument("--_measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    layers, _, width = args.big.lower().partition("x")
    if not (layers.isdigit() and width.isdigit() and int(layers) >= 8 and int(width) % 64 == 0):
        ap.error(f"--big {args.big!r}: expected LAYERSxWIDTH with at least 8 layers and a width divisible by 64")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._measure:
        from benchmarks.gpu_measure import measure_all

        return measure_all(args)
    start = time.monotonic()
    arch, why = (None, "dry run") if args.dry_run else cuda_here()
    if arch is None and not args.dry_run:
        print(f"gpu-check: no CUDA here ({why}); nothing built, nothing measured")
        write_summary([("CUDA", "skip", f"no CUDA here ({why}); nothing built, nothing measured")], args.out, {})
        return 0
    compile_s = None
    if not args.dry_run and args.phase in ("all", "build"):
        args.build_dir.mkdir(parents=True, exist_ok=True)
        compile_s = build(args.bundle, args.build_dir, args.arch or arch or "native")
        if args.phase == "build":
            return 0
    if not args.dry_run and not built(args.build_dir):
        print(f"gpu-check: no CUDA build in {args.build_dir}; run with --phase build first", file=sys.stderr)
        return 2
    env = dict(os.environ)
    paths = [str(ROOT)] if args.dry_run else [str(args.build_dir / "site"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if compile_s is None and (args.build_dir / "build.json").exists() and not args.dry_run:
        compile_s = json.loads((args.build_dir / "build.json").read_text())["seconds"]
    env["GPU_CHECK_COMPILE_S"] = "" if compile_s is None else f"{compile_s:.0f}"
    env["GPU_CHECK_DEADLINE"] = str(time.time() + DEADLINE_S - (time.monotonic() - start))
    child = [sys.executable, "-m", "benchmarks.gpu_check", "--_measure", "--big", args.big]  # ROOT is on its path
    for flag, value in (("--out", args.out), ("--work", args.work)):
        if value is not None:
            child += [flag, str(value)]
    if args.dry_run:
        child.append("--dry-run")
    return subprocess.run(child, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
