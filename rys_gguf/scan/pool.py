"""The worker pool: one worker process per slot (one slot, or one per GPU), one queue.

Each config is assembled from the layer cache into its slot's folder, then probed by a worker
subprocess that dies with this process. Only the pool writes results: one JSON line per config,
appended and fsynced as soon as it is known, so a crash or Ctrl-C loses at most the configs
still running. The baseline runs alone first; a failed or unparseable baseline stops the sweep.

The worker command is ``$RYS_WORKER_CMD`` when set (a command line, e.g. to wrap workers in
``nice`` or ``numactl``), else this Python running ``rys_gguf.scan.worker``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..errors import ProbeError, ScanError
from ..events import Event, OnEvent, Progress, emit
from ..lifetime import die_with_parent
from ..plan import LayerPlan
from ..sweepfolder import records
from ..sweepfolder.records import BASELINE, RESULTS_FILE, ResultRow, SweepMeta
from ..version import __version__
from .layercache import ShardCache
from .options import ScanOptions

WORKER_ENV = "RYS_WORKER_CMD"
DIED = "worker died: "  # a failure reason that starts so: the worker was killed by a signal


@dataclass(frozen=True, slots=True)
class ConfigDone(Event):
    """A config was measured (or failed, or stopped early): its results row, as written."""

    row: ResultRow
    done: int  # configs measured so far in this run
    total: int  # configs this run will measure


def worker_command(configured: tuple[str, ...] = ()) -> list[str]:
    """The command that runs one config: ``configured``, else $RYS_WORKER_CMD, else the default."""
    if configured:
        return list(configured)
    if env := os.environ.get(WORKER_ENV):
        return shlex.split(env)
    return [sys.executable, "-m", "rys_gguf.scan.worker"]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Running:
    plan: LayerPlan
    slot: int
    proc: subprocess.Popen[bytes]
    folder: Path
    started: float
    assemble_s: float
    log: IO[bytes]


class WorkerPool:
    """Schedules workers over slots and records their results (the only writer)."""

    def __init__(
        self,
        cache: ShardCache,
        out_dir: Path,
        options: ScanOptions,
        meta: SweepMeta,
        total: int,
        progress: Progress | None = None,
        on_event: OnEvent | None = None,
    ) -> None:
        self.cache, self.out_dir, self.options = cache, out_dir, options
        self.meta, self.total, self.progress, self.on_event = meta, total, progress, on_event
        self.probe_hash = meta["probe_set"]["hash"]
        self.command = worker_command(options.worker_cmd)
        self.slots: list[int | None] = list(options.gpus) or [None]
        self.n_run = self.n_failed = self.n_early_stopped = 0
        # A time budget's end (time.monotonic()) and each config's expected seconds: no config
        # starts that would end past it, and out_of_time says the run stopped for that.
        self.deadline: float | None = None
        self.estimate: dict[str, float] = {}
        self.out_of_time = False

    def run(self, todo: list[LayerPlan], baseline_pending: bool) -> None:
        pending = deque(todo)
        running: list[_Running] = []
        try:
            if baseline_pending and pending and pending[0].spec == BASELINE:
                running.append(self._start(pending.popleft(), 0))
                row = self._wait_one(running, pending)
                self._check_baseline(row)
            free = list(range(len(self.slots)))
            while pending or running:
                while pending and free:
                    if not self._in_time(pending[0]):
                        self.out_of_time = True
                        pending.clear()
                        break
                    running.append(self._start(pending.popleft(), free.pop(0)))
                if not running:
                    break
                finished = self._wait_one(running, pending)
                free.append(finished["_slot"])
        finally:
            for r in running:
                self._kill(r)

    def _in_time(self, plan: LayerPlan) -> bool:
        if self.deadline is None:
            return True
        return time.monotonic() + self.estimate.get(plan.spec, 0.0) <= self.deadline

    def _start(self, plan: LayerPlan, slot: int) -> _Running:
        t0 = time.monotonic()
        folder = self.cache.root / f"config-{slot}"
        first = self.cache.assemble(plan, folder)
        job = {
            "config": plan.spec,
            "model": str(first),
            "runtime": self.options.runtime.as_dict(),
            "probes": asdict(self.options.probes),
            "probe_set_hash": self.probe_hash,
            "early_stop": self.options.early_stop and plan.spec != BASELINE,  # the reference runs in full
        }
        (folder / "job.json").write_text(json.dumps(job))
        env = dict(os.environ)
        gpu = self.slots[slot]
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        log = open(folder / "worker.log", "wb")  # noqa: SIM115 (closed when the worker is collected)
        cmd = [*self.command, str(folder / "job.json"), str(folder / "result.json")]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        return _Running(plan, slot, proc, folder, time.monotonic(), time.monotonic() - t0, log)

    def _wait_one(self, running: list[_Running], pending: deque[LayerPlan]) -> dict[str, Any]:
        timeout = self.options.config_timeout
        while True:
            for r in running:
                timed_out = timeout is not None and time.monotonic() - r.started > timeout
                if r.proc.poll() is not None or timed_out:
                    if timed_out and r.proc.poll() is None:
                        self._kill(r)
                    running.remove(r)
                    row = self._record(r, timed_out)
                    self.cache.retain([x.plan for x in running] + list(pending)[: len(self.slots)])
                    return {**row, "_slot": r.slot}
            time.sleep(0.02)

    def _kill(self, r: _Running) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(r.proc.pid, signal.SIGKILL)
        r.proc.wait()
        r.log.close()

    def _record(self, r: _Running, timed_out: bool) -> ResultRow:
        r.log.close()
        result = _read_result(r, timed_out, self.options.config_timeout)
        plan = r.plan
        ok = result.pop("ok", False)
        stopped = result.get("early_stopped") if ok else None
        timings = {
            "assemble_s": round(r.assemble_s, 3),
            **result.pop("timings", {}),
            "wall_s": round(time.monotonic() - r.started + r.assemble_s, 3),  # assemble to result
        }
        row: ResultRow = {
            "config": plan.spec,
            "block": list(block) if (block := plan.single_block) is not None else None,
            "status": "early-stopped" if stopped else "ok" if ok else "failed",
            "reason": stopped["reason"] if stopped else None if ok else result.get("reason", "unknown failure"),
            "n_layers": len(plan.path),
            "n_extra": plan.n_extra,
            "math": result.get("math"),
            "eq": result.get("eq"),
            "math_parse_rate": result.get("math_parse_rate"),
            "eq_parse_rate": result.get("eq_parse_rate"),
            "items": result.get("items"),
            "answers": result.get("answers"),
            "timings": timings,
            "model_fingerprint": self.meta["model"]["fingerprint"],
            "probe_set_hash": self.probe_hash,
            "runtime": self.meta["runtime"],
            "tool_version": __version__,
            "finished": now(),
        }
        if stopped:
            row["early_stop"] = stopped
        records.append_row(self.out_dir / RESULTS_FILE, row)
        self.n_run += 1
        self.n_failed += not ok
        self.n_early_stopped += bool(stopped)
        if self.progress:
            self.progress(1)
        emit(self.on_event, ConfigDone(row, self.n_run, self.total))
        return row

    def _check_baseline(self, row: dict[str, Any]) -> None:
        if row["status"] != "ok" and str(row["reason"]).startswith(DIED + "SIGKILL"):
            raise ScanError(
                f"the baseline (unchanged model) was killed: {row['reason']}; most likely the system ran out of "
                "memory: free some, or lower --n-ctx or --n-gpu-layers, and rerun: the scan measures the baseline again"
            )
        if row["status"] != "ok" and str(row["reason"]).startswith(DIED):
            raise ScanError(
                f"the baseline (unchanged model) crashed llama.cpp: {row['reason']}; nothing can be compared with it. "
                f"Likely causes: repacked CPU weights on a CPU whose llama.cpp kernels crash ({_repack_state(self)}; "
                "try --cpu-repack off), the GPU (try --n-gpu-layers 0, or fewer layers), or a llama.cpp bug with "
                "this model; rerun with RYS_DEBUG=1 to end the reason with llama.cpp's last log line"
            )
        if row["status"] != "ok":
            hint = " (a larger --config-timeout)" if str(row["reason"]).startswith("timeout") else ""
            raise ScanError(
                f"the baseline (unchanged model) failed: {row['reason']}; fix the cause{hint} and rerun: "
                "the scan measures the baseline again"
            )
        low = [
            f"{probe} {rate:.0%}"
            for probe in ("math", "eq")
            if (rate := row[f"{probe}_parse_rate"]) is not None
            and row[probe] is not None
            and rate < self.options.min_parse_rate
        ]
        if low:
            raise ProbeError(
                f"baseline parse rate below {self.options.min_parse_rate:.0%} ({', '.join(low)}): the prompt "
                "format does not suit this model; try --no-think or a chat model, or scan one probe alone "
                "(--eq-set none for math only, --math none for EQ only)"
            )


def _repack_state(pool: WorkerPool) -> str:
    from ..llama.cpu_repack import resolve

    verdict = resolve(pool.options.runtime.cpu_repack)
    return f"repacking was {'on' if verdict.enabled else 'off'}: {verdict.source} {verdict.choice}"


def _read_result(r: _Running, timed_out: bool, timeout: float | None) -> dict[str, Any]:
    if timed_out:
        return {"ok": False, "reason": f"timeout after {timeout:g} s (worker killed)"}
    path = r.folder / "result.json"
    if r.proc.returncode == 0 and path.exists():
        result: dict[str, Any] = json.loads(path.read_text())
        path.unlink()
        return result
    code = r.proc.returncode
    if code is not None and code < 0:
        reason = f"{DIED}{signal.Signals(-code).name}"
    else:
        reason = f"worker exited with code {code}"
    tail = _last_line(r.folder / "worker.log")
    return {"ok": False, "reason": f"{reason} ({tail})" if tail else reason}


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""
    return ""
