"""How the cost of a build and of one scan config grows with the model (layers and width).

For llama models of growing size (random F16 weights written by ``gguffile.synthetic``, a
vocabulary holding the probes' words, loadable by llama.cpp), each measurement runs in a fresh
process started by a fresh launcher process, which reads the measured process's peak RSS and
CPU seconds with ``getrusage(RUSAGE_CHILDREN)``:

- build: ``rys_gguf.build`` of config (N/4, 3N/4), the output 1.5 times the model, beside ``cp``
  + fsync of that output (goal: build / cp <= 1.1 from 2 GB up);
- assemble, cold: the first config of a sweep, (N/4, N/2), from an empty shard cache: writes the
  globals and every layer shard the config needs;
- assemble, warm: the next config of the same shift, (N/4+1, N/2+1): writes its metadata shard
  and the one layer shard the cache lacks, as every later config of a sweep does;
- load: llama.cpp (llama-cpp-python, CPU, mmap) loads the cold config's split model, then
  evaluates 8 tokens, which touches every weight;
- worker: the scan worker's own code (``scan.worker.run_job``) on that config: load, then the
  scan's default probes (16 math and 16 EQ prompts, about 7,700 prompt tokens here) decoded as
  one batch (load and probe seconds as the scan records them; random weights rarely stop early,
  so most answers run to their token budget), in a process whose whole life is timed, start-up
  included.

Prints one table (time, bytes written, peak RSS per step and model size), the ratios that say
how each cost grows, and the README's table of scan durations per strategy and model size
(``scale_costs``: the configs each strategy measures times the cost per config, a line in the
config's parameters fitted here on the widest sizes measured, where matrix products dominate
as they do at scale; narrow ones are dominated by per-layer and per-token overheads).
Files go under --tmp (default: the system temp folder) and are removed. ``--from-json`` reprints
the tables from a saved run. Deliberately left out: GPU offload (``gpu_check.py`` measures it).

    python -m benchmarks.bench_scale [--sizes 8x512,16x1024,32x1024,8x2048,24x2048] [--tmp DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.scale_costs import cost_table

if TYPE_CHECKING:
    from rys_gguf.gguffile.synthetic import LlamaShape

DEFAULT_SIZES = "8x512,16x1024,32x1024,8x2048,24x2048"  # layers x width: 42 MB to 2 GB
HEAD_DIM = 64
THREADS = 2
SELF = [sys.executable, "-m", "benchmarks.bench_scale"]  # the launcher and the measured child (run from the root)


# -- the models --------------------------------------------------------------------------


def probe_words() -> tuple[str, ...]:
    """The words of the scan's default probes, so the synthetic tokenizer cuts them into words
    rather than bytes, about as many tokens as a real tokenizer."""
    import re

    from rys_gguf.probes import ProbeSpec, load_probe_set

    items = load_probe_set(**asdict(ProbeSpec())).items
    return tuple(sorted({w for i in items for w in re.findall(r"[A-Za-z]+", f"{i.system or ''} {i.user}")}))


def shape(n_layers: int, width: int) -> LlamaShape:
    from rys_gguf.gguffile.synthetic import LlamaShape

    return LlamaShape(n_layers, width, n_head=width // HEAD_DIM, words=probe_words())


def write_llama(path: Path, n_layers: int, width: int) -> int:
    """A loadable llama GGUF (random F16 weights), written with our own writer."""
    from rys_gguf.gguffile.synthetic import write_llama as write

    return write(path, shape(n_layers, width))


# -- the measured steps (each in its own process) ------------------------------------------


def child(step: str, args: list[str]) -> dict[str, Any]:
    """Run one step in this (fresh) process; return what it measured."""
    t0 = time.perf_counter()
    if step == "build":
        from rys_gguf.builder.job import build

        src, dst, spec = args
        result = build(src, dst, spec)
        return {"seconds": time.perf_counter() - t0, "n_written": result.n_bytes}
    if step == "assemble":
        from rys_gguf.gguffile.reader import GGUFModel
        from rys_gguf.plan import parse_plan
        from rys_gguf.scan.layercache import ShardCache

        src, root, spec, folder = args
        with GGUFModel(src) as model:
            cache = ShardCache(model, Path(root))
            n_layers = int(model.value("llama.block_count"))
            first = cache.assemble(parse_plan(spec, n_layers), Path(folder))
        return {"seconds": time.perf_counter() - t0, "n_written": cache.n_bytes_written, "first": str(first)}
    if step == "worker":
        from rys_gguf.probes import ProbeSpec, load_probe_set
        from rys_gguf.scan.worker import run_job

        probes = ProbeSpec()  # the scan's default: 16 math and 16 EQ prompts; nonsense answers
        job = {
            "config": "bench", "model": args[0], "runtime": {"n_gpu_layers": int(args[1]), "n_threads": THREADS},
            "probes": asdict(probes), "probe_set_hash": load_probe_set(**asdict(probes)).hash,
        }  # fmt: skip
        timings = run_job(job)["timings"]
        return {"seconds": time.perf_counter() - t0, "n_written": 0, **timings}
    if step == "load":
        from rys_gguf.llama.engine import load_llama

        llm = load_llama(args[0], n_ctx=64, n_gpu_layers=0, n_threads=2, verbose=False)
        loaded = time.perf_counter()
        llm.eval(llm.tokenize(b"the quick brown fox", add_bos=True)[:8])
        done = time.perf_counter()
        llm.close()
        return {"seconds": loaded - t0, "eval_s": done - loaded, "n_written": 0}
    raise SystemExit(f"unknown step {step}")


def launch(args: list[str]) -> dict[str, Any]:
    """In a fresh launcher: run the step in a fresh child and add the child's peak RSS."""
    t0 = time.perf_counter()
    run = subprocess.run([*SELF, "_child", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{run.stderr}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["rss"] = usage.ru_maxrss * 1024  # kB on Linux
    result["wall"] = wall  # the process's whole life: start-up and imports included
    result["cpu"] = usage.ru_utime + usage.ru_stime  # other work on the machine stretches it far less
    return result


def measure(*args: str) -> dict[str, Any]:
    run = subprocess.run([*SELF, "_launch", *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr or run.stdout)
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


# -- the table ----------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} KB"


def cp_durably(src: Path, dst: Path) -> float:
    """Seconds to ``cp`` a file and fsync the copy (a build fsyncs too before its rename)."""
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    fd = os.open(dst, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - t0


def run_size(n_layers: int, width: int, tmp: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"scale-{n_layers}x{width}-", dir=tmp))
    try:
        src = work / "model.gguf"
        n_model = write_llama(src, n_layers, width)
        q, h = n_layers // 4, n_layers // 2
        row: dict[str, Any] = {"layers": n_layers, "width": width, "model": n_model}
        row["build"] = measure("build", str(src), str(work / "rys.gguf"), f"{q},{3 * q}")
        row["cp"] = cp_durably(work / "rys.gguf", work / "copy.gguf")
        (work / "rys.gguf").unlink()
        (work / "copy.gguf").unlink()
        cache = work / "cache"
        row["cold"] = measure("assemble", str(src), str(cache), f"{q},{h}", str(cache / "config-0"))
        row["warm"] = measure("assemble", str(src), str(cache), f"{q + 1},{h + 1}", str(cache / "config-1"))
        row["load"] = measure("load", row["cold"]["first"])
        row["worker"] = measure("worker", row["cold"]["first"], "0")
        row["config_bytes"] = sum(f.stat().st_size for f in Path(row["cold"]["first"]).parent.glob("*.gguf"))
        row["config_params"] = shape(n_layers + h - q, width).n_params  # the cold config's path
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'model':>16} {'size':>9} | {'build':>7} {'cp+fsync':>8} {'ratio':>5} {'written':>9} {'RSS':>7} | "
        f"{'cold cfg':>8} {'written':>9} "
        f"{'RSS':>7} | {'warm cfg':>8} {'written':>9} {'RSS':>7} | {'load':>6} {'8 tok':>6} {'RSS':>8} | "
        f"{'worker':>6} {'load':>6} {'probes':>6} {'RSS':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        b, c, w, ld, wk = r["build"], r["cold"], r["warm"], r["load"], r["worker"]
        print(
            f"{r['layers']:>4} x {r['width']:<5} L  {mb(r['model']):>9} | {b['seconds']:>6.2f}s "
            f"{r['cp']:>7.2f}s {b['seconds'] / r['cp']:>5.2f} "
            f"{mb(b['n_written']):>9} {mb(b['rss']):>7} | {c['seconds']:>7.2f}s {mb(c['n_written']):>9} "
            f"{mb(c['rss']):>7} | "
            f"{w['seconds']:>7.2f}s {mb(w['n_written']):>9} {mb(w['rss']):>7} | {ld['seconds']:>5.2f}s "
            f"{ld['eval_s']:>5.2f}s {mb(ld['rss']):>8} | {wk['wall']:>5.1f}s {wk['load_s']:>5.2f}s "
            f"{wk['probe_s']:>5.1f}s {mb(wk['rss']):>8}"
        )


def print_growth(rows: list[dict[str, Any]]) -> None:
    first, last = rows[0], rows[-1]
    grow = last["model"] / first["model"]
    print(f"\nfrom the smallest to the largest model (x{grow:.0f} in size):")
    for step, what in (("build", "build"), ("cold", "cold config"), ("warm", "warm config"), ("load", "llama.cpp")):
        t = last[step]["seconds"] / max(first[step]["seconds"], 1e-9)
        rss = last[step]["rss"] / first[step]["rss"]
        written = (
            f", bytes written x{last[step]['n_written'] / first[step]['n_written']:.1f}"
            if first[step]["n_written"]
            else ""
        )
        print(f"  {what:<12} time x{t:.1f}{written}, peak RSS x{rss:.2f}")
    big = [r for r in rows if r["build"]["n_written"] >= 2e9]
    if big:
        worst = max(r["build"]["seconds"] / r["cp"] for r in big)
        print(f"  build / cp + fsync from 2 GB up: {worst:.2f} at worst (goal <= 1.1)")
    for r in rows:
        per_gb = r["build"]["seconds"] / (r["build"]["n_written"] / 1e9)
        print(f"  {r['layers']}x{r['width']}: build writes {per_gb:.2f} s/GB; warm config writes "
              f"{r['warm']['n_written'] / r['model']:.1%} of the model")  # fmt: skip


def print_costs(rows: list[dict[str, Any]]) -> None:
    """Per-config cost per size, then how long each strategy takes at 32, 64 and 80 layers."""
    print("\nper config (warm assembly + worker process, 16 math and 16 EQ probes):")
    pairs = []
    width = max(r["width"] for r in rows)  # the widest models: matrix products dominate, as at scale
    for r in rows:
        # The worker's CPU seconds over its threads: what the config costs on these cores; other
        # work on a shared machine stretches wall time far more (printed beside it).
        seconds = r["warm"]["seconds"] + r["worker"]["cpu"] / THREADS
        if r["width"] == width:
            pairs.append((r["config_params"], seconds))
        print(f"  {r['layers']}x{r['width']}: {r['config_params'] / 1e6:,.0f}M parameters, "
              f"{mb(r['config_bytes'])} config: {seconds:.1f} s (worker CPU {r['worker']['cpu']:.0f} s "
              f"over {THREADS} threads; wall {r['warm']['seconds'] + r['worker']['wall']:.1f} s)")  # fmt: skip
    print()
    print(cost_table(pairs, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2], sys.argv[3:])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_launch":
        print(json.dumps(launch(sys.argv[2:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="layers x width, comma-separated")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()), help="folder for the models")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--from-json", type=Path, help="print the tables of a saved run instead of measuring")
    args = parser.parse_args()
    rows = []
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
    for size in [] if args.from_json else args.sizes.split(","):
        n_layers, width = (int(x) for x in size.lower().split("x"))
        rows.append(run_size(n_layers, width, args.tmp))
        print(f"measured {size}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print_table(rows)
    print_growth(rows)
    print_costs(rows)


if __name__ == "__main__":
    main()
