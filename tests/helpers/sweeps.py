"""Sweep helpers: fast scan options for tiny models, a stand-in worker, results readers.

``FAKE_WORKER`` stands in for ``rys_gguf.scan.worker`` through the scan's worker-command seam
(``RYS_WORKER_CMD``): no llama.cpp, deterministic scores from the config's hash, long rows, and
the knobs the fault tests need (``RYS_FAKE_DELAY``, ``RYS_FAKE_HANG``, ``RYS_FAKE_CRASH``: a segfault,
``RYS_FAKE_KILL``: SIGKILL, as the out-of-memory killer sends, ``RYS_FAKE_LOG``), and configs
that answer garbage and are early-stopped (``RYS_FAKE_GARBAGE``, specs joined by ';').
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.probes import ProbeSpec
from rys_gguf.scan.options import ScanOptions

# Tiny random models answer nonsense: no parse-rate floor, few short probes.
FAST = ScanOptions(
    runtime=RuntimeOptions(n_threads=1),
    probes=ProbeSpec(math="search", eq="builtin", n_eq=2),
    min_parse_rate=0.0,
)
SCAN_ARGS = ["--min-parse-rate", "0", "--n-eq", "2", "-q"]  # FAST on the command line

FAKE_WORKER = """
import hashlib, json, os, sys, time
job_path, result_path = sys.argv[1:3]
job = json.load(open(job_path))
config = job["config"]
if os.environ.get("RYS_FAKE_LOG"):
    with open(os.environ["RYS_FAKE_LOG"], "a") as log:
        log.write(config + " " + os.environ.get("CUDA_VISIBLE_DEVICES", "-") + "\\n")
if config in os.environ.get("RYS_FAKE_HANG", "").split(";"):
    time.sleep(3600)
if config in os.environ.get("RYS_FAKE_CRASH", "").split(";"):
    import signal
    os.kill(os.getpid(), signal.SIGSEGV)
if config in os.environ.get("RYS_FAKE_KILL", "").split(";"):
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
h = int(hashlib.sha256(config.encode()).hexdigest()[:8], 16)
time.sleep(float(os.environ.get("RYS_FAKE_DELAY", "0.05")) * (1 + h % 4))
if config in os.environ.get("RYS_FAKE_GARBAGE", "").split(";") and job.get("early_stop"):
    why = "after 16 tokens the first 9 answers to settle were garbage (6 loop, 3 empty)"
    stopped = {"reason": why, "seen": {"loop": 6, "empty": 3}, "after_tokens": 16}
    result = {"ok": True, "answers": ["<b>" * 9] * 4, "timings": {"load_s": 0.0, "probe_s": 0.0},
              "early_stopped": stopped}
    with open(result_path, "w") as fh:
        json.dump(result, fh)
    sys.exit(0)
result = {
    "ok": True, "math": (h % 1000) / 1000, "eq": (h >> 10) % 100, "math_parse_rate": 1.0,
    "eq_parse_rate": 1.0, "items": {"math": [(h >> k) % 2 for k in range(16)], "eq": [h % 10] * 2},
    "answers": [config + " " + "x" * 4000] * 4, "timings": {"load_s": 0.0, "probe_s": 0.0},
}
with open(result_path + ".partial", "w") as fh:
    json.dump(result, fh)
os.replace(result_path + ".partial", result_path)
"""

# Runs the real worker after noting which GPU slot launched it.
RECORDING_WORKER = """
import os, runpy, sys
with open(os.environ["RYS_FAKE_LOG"], "a") as log:
    log.write(os.environ.get("CUDA_VISIBLE_DEVICES", "-") + "\\n")
sys.argv[0] = "rys_gguf.scan.worker"
runpy.run_module("rys_gguf.scan.worker", run_name="__main__")
"""


def worker_command(script: Path) -> str:
    """The RYS_WORKER_CMD value that runs ``script`` with this Python."""
    return shlex.join([sys.executable, str(script)])


def rows_of(out: Path) -> list[dict[str, Any]]:
    """Every line of results.jsonl, each of which must be a whole JSON object."""
    path = out / "results.jsonl"
    if not path.exists():
        return []
    text = path.read_text()
    assert not text or text.endswith("\n"), "results.jsonl ends mid-line"
    return [json.loads(line) for line in text.splitlines()]


def rows_of_repaired(out: Path) -> list[dict[str, Any]]:
    """After kill -9 the last line may be cut mid-write; every other line must be whole."""
    path = out / "results.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = [json.loads(line) for line in lines[:-1]]
    if lines:
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(lines[-1]))
    return rows


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (workers left behind)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def wait_gone(text: str, timeout: float = 10) -> list[int]:
    """Wait until no process mentions ``text``; the PIDs still there at the timeout."""
    deadline = time.monotonic() + timeout
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def recorded_sweep(
    folder: Path,
    model: Path,
    n_layers: int,
    *,
    probes: tuple[str, ...] = ("math", "eq"),
    configs: list[str] | None = None,
    failed: tuple[str, ...] = (),
) -> Path:
    """A sweep folder written as a scan writes it, without running one: sweep.json with ``model``'s
    fingerprint and the FAST probe set (``probes``: the ones it ran), a scored row per config
    (``configs``: default the baseline and every single block), ``failed`` ones as a killed worker's."""
    from dataclasses import asdict, replace

    from rys_gguf.gguffile.reader import GGUFModel
    from rys_gguf.probes import load_probe_set
    from rys_gguf.scan.sweep import fingerprint

    math, eq = ("search" if "math" in probes else "none"), ("builtin" if "eq" in probes else "none")
    spec = replace(FAST.probes, math=math, eq=eq)
    probe_set = load_probe_set(**asdict(spec))
    with GGUFModel(model) as opened:
        model_id = fingerprint(opened)
    meta = {
        "format": 1, "tool_version": "0.0.0",
        "model": {"path": str(Path(model).resolve()), "name": "tiny", "architecture": "llama", "n_layers": n_layers,
                  "n_bytes": Path(model).stat().st_size, "fingerprint": model_id},
        "probe_set": {"hash": probe_set.hash, **probe_set.description},
        "runtime": {"n_threads": 1}, "build": {"write_swa_pattern": False}, "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    if configs is None:
        configs = ["0,0"] + [f"{i},{j}" for j in range(1, n_layers + 1) for i in range(j)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.json").write_text(json.dumps(meta, indent=2))
    lines = []
    for config in configs:
        h = int(hashlib.sha256(config.encode()).hexdigest()[:8], 16)
        ok = config not in failed
        row = {
            "config": config, "status": "ok" if ok else "failed", "reason": None if ok else "worker died: SIGKILL",
            "math": (h % 1000) / 1000 if ok and "math" in probes else None,
            "eq": float((h >> 10) % 100) if ok and "eq" in probes else None,
            "math_parse_rate": 1.0 if "math" in probes else None, "eq_parse_rate": 1.0 if "eq" in probes else None,
            "items": {"math": [float((h >> k) % 2) for k in range(16)] if "math" in probes else [],
                      "eq": [float(h % 10)] * 2 if "eq" in probes else []},
            "timings": {"wall_s": 1.0}, "model_fingerprint": model_id, "probe_set_hash": probe_set.hash,
            "finished": "2026-01-01T00:00:01Z",
        }  # fmt: skip
        lines.append(json.dumps(row) + "\n")
    (folder / "results.jsonl").write_text("".join(lines))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (to show that a refused command wrote nothing)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
