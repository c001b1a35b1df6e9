"""The measurements of ``gpu_check.py``, run in a child that imports the CUDA build.

Each check adds one row (name, ok/FAIL/skip, detail) to the summary; a check that raises is a
FAIL row with the reason and the next check still runs; a check that would start after the
deadline is a skip row. Tolerances are stated in ``harness`` (GPU vs CPU logits).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.harness import LOGIT_TOLERANCE, TOP1_TOLERANCE, count_tokens, make_prompts, write_summary
from rys_gguf.builder.job import build
from rys_gguf.events import Event, Note
from rys_gguf.gguffile.synthetic import LlamaShape, write_llama
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.probes import ProbeSpec
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.options import ScanOptions
from rys_gguf.scan.sweep import run_scan

Row = tuple[str, str, str]
TEXT = "the theory of the thing is that the other one then thinks the same " * 4
WORDS = ("the", "theory", "of", "thing", "is", "that", "other", "one", "then", "thinks", "same", "What", "Answer")


class Checks:
    """Runs checks in order, each into one row; stops starting new ones at the deadline."""

    def __init__(self, deadline: float) -> None:
        self.rows: list[Row] = []
        self.deadline = deadline
        self.data: dict[str, Any] = {}

    def run(self, name: str, check: Callable[[], tuple[bool | None, str]]) -> None:
        if time.time() > self.deadline:
            self.rows.append((name, "skip", "not started: the 9-minute deadline has passed"))
            return
        start = time.monotonic()
        try:
            ok, detail = check()
        except Exception as e:  # one failing check must not hide the others
            ok, detail = False, f"{type(e).__name__}: {e}".splitlines()[0][:300]
            traceback.print_exc()
        result = "skip" if ok is None else "ok" if ok else "FAIL"
        self.rows.append((name, result, f"{detail} [{time.monotonic() - start:.1f} s]"))
        print(f"gpu-check: {name}: {result}: {detail}", flush=True)


def scan(
    model: Path, out: Path, runtime: RuntimeOptions, configs: tuple[str, ...], **kw: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    plan: list[str] = []
    options = ScanOptions(
        runtime=runtime, probes=ProbeSpec(math="search", eq="none"), grid=GridSpec(configs=configs),
        min_parse_rate=0.0, **kw,
    )  # fmt: skip

    def keep_plan(event: Event) -> None:  # the scan's plan lines arrive as notes
        if isinstance(event, Note):
            plan.append(event.text)

    run_scan(model, out, options, on_event=keep_plan)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return rows, plan


def timing(rows: list[dict[str, Any]]) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return "; ".join(f"{r['config']}: {r['reason']}" for r in rows)
    t = [r["timings"] for r in ok]
    return (
        f"{len(ok)}/{len(rows)} ok; per config load {sum(x['load_s'] for x in t) / len(t):.2f} s, "
        f"probes {sum(x['probe_s'] for x in t) / len(t):.2f} s, wall {sum(x['wall_s'] for x in t) / len(t):.2f} s"
    )


def measure_all(args: argparse.Namespace) -> int:
    import llama_cpp

    from rys_gguf.llama.survey import survey

    deadline = float(os.environ.get("GPU_CHECK_DEADLINE") or time.time() + 540)
    checks = Checks(deadline)
    gpu = not args.dry_run
    ngl = -1 if gpu else 0
    n_layers, width = (int(x) for x in args.big.lower().split("x"))
    q = n_layers // 8  # configs at 1/8..1/4, 1/4..1/2 and 1/2..3/4 of the depth
    configs = (f"{q},{2 * q}", f"{2 * q},{4 * q}", f"{4 * q},{6 * q}")
    rys_config = configs[1]
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    devices = survey(devices=True).devices
    gpus = [d for d in devices if d.kind in ("gpu", "igpu")]
    compile_s = os.environ.get("GPU_CHECK_COMPILE_S")
    compiled = f"compiled in {compile_s} s" if compile_s else "not compiled here"
    checks.rows.append(
        ("devices", "ok" if gpus or not gpu else "FAIL",
         ", ".join(f"{d.name} {d.description} {d.free / 1e9:.1f}/{d.total / 1e9:.1f} GB free" for d in devices)
         + f"; llama_supports_gpu_offload {bool(llama_cpp.llama_supports_gpu_offload())}; {compiled}"),
    )  # fmt: skip
    tiny = work / "tiny.gguf"
    big = work / "big.gguf"
    rys = work / "big-rys.gguf"
    t0 = time.monotonic()
    write_llama(tiny, LlamaShape(6, 256, words=WORDS))
    n_big = write_llama(big, LlamaShape(n_layers, width, n_head=width // 64, words=WORDS))
    build(big, rys, rys_config)
    checks.rows.append(("models", "ok", f"tiny 6x256, big {args.big} {n_big / 1e9:.2f} GB, RYS {rys_config} "
                        f"{rys.stat().st_size / 1e9:.2f} GB, written in {time.monotonic() - t0:.1f} s"))  # fmt: skip
    runtime = RuntimeOptions(n_gpu_layers=ngl)

    def full_offload() -> tuple[bool, str]:
        rows, plan = scan(big, work / "scan-full", runtime, configs)
        checks.data["scan_rows"] = rows
        return all(r["status"] == "ok" for r in rows), f"{timing(rows)}; {plan[0] if plan else ''}"

    def pinned() -> tuple[bool, str]:
        rows, _ = scan(tiny, work / "scan-pinned", runtime, ("1,3", "2,4"), gpus=(0,))
        return all(r["status"] == "ok" for r in rows), timing(rows)

    def split(mode: str) -> Callable[[], tuple[bool | None, str]]:
        def check() -> tuple[bool | None, str]:
            if len(gpus) < 2:
                return None, f"needs two GPUs, {len(gpus)} present"
            rt = replace(runtime, split_mode=mode, tensor_split=(1.0, 1.0))
            rows, _ = scan(big, work / f"scan-{mode}", rt, configs[:2])
            return all(r["status"] == "ok" for r in rows), timing(rows)

        return check

    checks.run("scan, 3 configs, all layers offloaded", full_offload)
    checks.run("scan, --gpus 0 (a worker pinned)", pinned)
    checks.run("scan, --split-mode layer --tensor-split 1,1", split("layer"))
    checks.run("scan, --split-mode row --tensor-split 1,1", split("row"))
    checks.run("GPU vs CPU logits of the RYS file", lambda: logits_agree(rys, gpu))
    checks.run("batched vs sequential tokens/s", lambda: batched_vs_sequential(big, runtime))
    checks.run(
        "per-config overhead ratio", lambda: overhead(work, big, rys_config, runtime, checks.data.get("scan_rows"))
    )
    checks.run("verify of a build", lambda: verify_build(big, rys, runtime))
    checks.run("memory planner vs llama.cpp's buffers", lambda: planner_vs_reported(big, runtime, gpu))
    print()
    print(write_summary(checks.rows, args.out, {"work": str(work)}))
    return 0 if all(r[1] != "FAIL" for r in checks.rows) else 1


def logits_agree(path: Path, gpu: bool) -> tuple[bool | None, str]:
    import numpy as np

    from rys_gguf.llama.runner import open_model

    if not gpu:
        return None, "dry run: no GPU to compare with"
    with open_model(path, RuntimeOptions(n_gpu_layers=-1)) as model:
        on_gpu = model.token_logits(TEXT)
    with open_model(path, RuntimeOptions(n_gpu_layers=0)) as model:
        on_cpu = model.token_logits(TEXT)
    scale = float(on_cpu.std())
    worst = float(np.abs(on_gpu - on_cpu).max()) / scale
    top1 = float((on_gpu.argmax(1) == on_cpu.argmax(1)).mean())
    ok = worst <= LOGIT_TOLERANCE and top1 >= TOP1_TOLERANCE
    return ok, (
        f"{len(on_cpu)} positions: max |GPU-CPU| {worst:.4f} of the logits' std (<= {LOGIT_TOLERANCE}), "
        f"top-1 agreement {top1:.1%} (>= {TOP1_TOLERANCE:.0%})"
    )


def batched_vs_sequential(path: Path, runtime: RuntimeOptions) -> tuple[bool, str]:
    from rys_gguf.llama.runner import open_model

    with open_model(path, runtime, n_seq_max=32) as model:
        prompts = [model.render(None, p) for p in make_prompts(32)]
        model.generate(prompts[:2], [2, 2])  # warm up
        start = time.perf_counter()
        batched = model.generate(prompts, [32] * 32)
        t_b = time.perf_counter() - start
        start = time.perf_counter()
        sequential = model.generate_sequential(prompts, [32] * 32)
        t_s = time.perf_counter() - start
        rate_b, rate_s = count_tokens(model, batched) / t_b, count_tokens(model, sequential) / t_s
    return rate_b > rate_s, f"32 prompts x 32 tokens: {rate_b:.0f} vs {rate_s:.0f} tokens/s = {rate_b / rate_s:.1f}x"


def overhead(
    work: Path, big: Path, config: str, runtime: RuntimeOptions, rows: list[dict[str, Any]] | None
) -> tuple[bool | None, str]:
    from rys_gguf.llama.runner import open_model
    from rys_gguf.probes import load_probe_set

    ok = [r for r in rows or [] if r["status"] == "ok" and r["config"] == config]
    if not ok:
        return None, "no scanned config to compare with"
    built = work / "overhead.gguf"
    build(big, built, config)
    items = load_probe_set(math="search", eq="none").items
    with open_model(built, runtime, n_seq_max=len(items)) as model:
        prompts = [model.render(i.system, i.user) for i in items]
        model.generate(prompts[:1], [2])
        start = time.perf_counter()
        model.generate(prompts, [i.max_tokens for i in items])
        loaded = time.perf_counter() - start
    wall = ok[0]["timings"]["wall_s"]
    return (
        True,
        f"config {config} end to end {wall:.2f} s vs the same probes on the loaded model "
        f"{loaded:.2f} s = {wall / loaded:.2f}",
    )


def verify_build(src: Path, rys: Path, runtime: RuntimeOptions) -> tuple[bool, str]:
    from rys_gguf.ship.verify import VerifyOptions, verify_model

    report = verify_model(src, rys, VerifyOptions(runtime=runtime))
    failed = [c.name for c in report.checks if not c.passed]
    return (
        report.passed,
        f"{len(report.checks)} checks, failed: {', '.join(failed) or 'none'}; top-1 {report.top1_agreement}",
    )


def planner_vs_reported(path: Path, runtime: RuntimeOptions, gpu: bool) -> tuple[bool, str]:
    from rys_gguf.gguffile.reader import GGUFModel
    from rys_gguf.llama import logs
    from rys_gguf.llama.budget import estimate_load
    from rys_gguf.llama.memory import worker_contexts
    from rys_gguf.llama.runner import open_model

    needs = [400] * 16  # 16 prompts of up to 400 tokens with their answers: 512 cells each
    contexts = worker_contexts(needs, 16)
    lines: list[str] = []
    with logs.capture(listener=lines.append), open_model(path, runtime, n_seq_max=16) as model:
        model._engine._batch_context(contexts[1].n_ctx_seq, contexts[1].n_seq)
    buffers = logs.reported_buffers(lines)
    on_device = [b for b in buffers if not b.device.startswith("CPU") and "Host" not in b.device]
    reported = sum(b.n_bytes for b in (on_device if gpu else buffers))
    with GGUFModel(path) as model:
        need = estimate_load(model, contexts, runtime, gpu)
    err = need.device / reported - 1
    kinds = {
        k: sum(b.n_bytes for b in (on_device if gpu else buffers) if b.kind == k) / 2**20
        for k in ("model", "KV", "compute")
    }
    return abs(err) <= 0.10, (
        f"{'GPU' if gpu else 'all'} buffers {reported / 2**20:.0f} MiB reported "
        f"({', '.join(f'{k} {v:.0f}' for k, v in kinds.items())}), planned {need.device / 2**20:.0f} MiB ({err:+.1%})"
    )
