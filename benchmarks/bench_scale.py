"""How the cost of a build and of one scan config grows with the model (layers and width).

For llama models of growing size (random F16 weights written with gguf-py, loadable by
llama.cpp), each measurement runs in a fresh process started by a fresh launcher process, which
reads the measured process's peak RSS with ``getrusage(RUSAGE_CHILDREN)``:

- build: ``rys_gguf.build`` of config (N/4, 3N/4), the output 1.5 times the model, beside ``cp``
  + fsync of that output (goal: build / cp <= 1.1 from 2 GB up);
- assemble, cold: the first config of a sweep, (N/4, N/2), from an empty shard cache: writes the
  globals and every layer shard the config needs;
- assemble, warm: the next config of the same shift, (N/4+1, N/2+1): writes its metadata shard
  and the one layer shard the cache lacks, as every later config of a sweep does;
- load: llama.cpp (llama-cpp-python, CPU, mmap) loads the cold config's split model, then
  evaluates 8 tokens, which touches every weight.

Prints one table (time, bytes written, peak RSS per step and model size) and the ratios that
say how each cost grows. Files go under --tmp (default: the system temp folder) and are removed.
Deliberately left out: probing (its cost does not depend on how the model was assembled) and GPU
offload.

    python benchmarks/bench_scale.py [--sizes 8x512,16x1024,32x1024,24x2048] [--tmp DIR]
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
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SIZES = "8x512,16x1024,32x1024,24x2048"  # layers x width: 42 MB to 2 GB
HEAD_DIM = 64
PIECES = [*"abcdefghijklmnopqrstuvwxyz", "▁", "▁t", "th", "he", "▁the"]


# -- the models --------------------------------------------------------------------------


def write_llama(path: Path, n_layers: int, width: int) -> int:
    """A loadable llama GGUF: F16 weights (one random tensor per shape, reused), byte tokenizer."""
    import gguf

    n_ff = 2 * width
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *PIECES]
    rng = np.random.default_rng(0)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.random((rows, cols), dtype=np.float32) - 0.5).astype(np.float16) / np.float16(np.sqrt(cols))

    norm = np.ones(width, dtype=np.float32)
    shapes = {"attn": matrix(width, width), "up": matrix(n_ff, width), "down": matrix(width, n_ff)}
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(512)
    w.add_embedding_length(width)
    w.add_block_count(n_layers)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(width // HEAD_DIM)
    w.add_head_count_kv(width // HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 259 + [float(len(p)) for p in PIECES])
    w.add_token_types([2, 3, 3, *[6] * 256, *[1] * len(PIECES)])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_tensor("token_embd.weight", matrix(len(tokens), width))
    w.add_tensor("output_norm.weight", norm)
    w.add_tensor("output.weight", matrix(len(tokens), width))
    for k in range(n_layers):
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{k}.{name}.weight", shapes["attn"])
        w.add_tensor(f"blk.{k}.attn_norm.weight", norm)
        w.add_tensor(f"blk.{k}.ffn_norm.weight", norm)
        w.add_tensor(f"blk.{k}.ffn_gate.weight", shapes["up"])
        w.add_tensor(f"blk.{k}.ffn_up.weight", shapes["up"])
        w.add_tensor(f"blk.{k}.ffn_down.weight", shapes["down"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.stat().st_size


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
    if step == "load":
        from llama_cpp import Llama

        llm = Llama(model_path=args[0], n_ctx=64, n_gpu_layers=0, n_threads=2, verbose=False)
        loaded = time.perf_counter()
        llm.eval(llm.tokenize(b"the quick brown fox", add_bos=True)[:8])
        done = time.perf_counter()
        llm.close()
        return {"seconds": loaded - t0, "eval_s": done - loaded, "n_written": 0}
    raise SystemExit(f"unknown step {step}")


def launch(args: list[str]) -> dict[str, Any]:
    """In a fresh launcher: run the step in a fresh child and add the child's peak RSS."""
    run = subprocess.run([sys.executable, __file__, "_child", *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{run.stderr}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    result["rss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kB on Linux
    return result


def measure(*args: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, __file__, "_launch", *args], capture_output=True, text=True)
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
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'model':>16} {'size':>9} | {'build':>7} {'cp+fsync':>8} {'ratio':>5} {'written':>9} {'RSS':>7} | "
        f"{'cold cfg':>8} {'written':>9} "
        f"{'RSS':>7} | {'warm cfg':>8} {'written':>9} {'RSS':>7} | {'load':>6} {'8 tok':>6} {'RSS':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        b, c, w, ld = r["build"], r["cold"], r["warm"], r["load"]
        print(
            f"{r['layers']:>4} x {r['width']:<5} L  {mb(r['model']):>9} | {b['seconds']:>6.2f}s "
            f"{r['cp']:>7.2f}s {b['seconds'] / r['cp']:>5.2f} "
            f"{mb(b['n_written']):>9} {mb(b['rss']):>7} | {c['seconds']:>7.2f}s {mb(c['n_written']):>9} "
            f"{mb(c['rss']):>7} | "
            f"{w['seconds']:>7.2f}s {mb(w['n_written']):>9} {mb(w['rss']):>7} | {ld['seconds']:>5.2f}s "
            f"{ld['eval_s']:>5.2f}s {mb(ld['rss']):>8}"
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
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        n_layers, width = (int(x) for x in size.lower().split("x"))
        rows.append(run_size(n_layers, width, args.tmp))
        print(f"measured {size}", file=sys.stderr)
    print_table(rows)
    print_growth(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
