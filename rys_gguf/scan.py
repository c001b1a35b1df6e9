"""The brain scan: sweep layer configs, probe each in a worker process, keep every result.

Configs run baseline first, then ordered by shift (j - i) so the shard cache stays small. Each
config is assembled from cached per-layer shards (``shardcache``), then probed by a worker
subprocess (``worker``), one per slot: one slot, or one per GPU with ``gpus``. Only this
process writes results: one JSON line per config, appended and fsynced as soon as it is known,
so a crash or Ctrl-C loses at most the configs still running, and a rerun resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from . import __version__
from .arch import check_path
from .errors import ProbeError, RysError, ScanError
from .gguffile import GGUFModel
from .lifetime import die_with_parent
from .plan import LayerPlan, block_grid, parse_blocks, parse_plan
from .probes import load_probe_set
from .rewrite import BuildOptions, model_constraints
from .runner import RuntimeOptions
from .shard import shard_slice
from .shardcache import ShardCache, cache_need, remove_stale_caches
from .sweepdir import append_row, drop_partial_line, read_meta, read_rows, read_skipped, write_json_atomic

RESULTS = "results.jsonl"
META = "sweep.json"
SKIPPED = "skipped.json"
BASELINE = "0,0"


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """Which probe sets to use (see ``probes.load_probe_set``)."""

    math: str = "search"
    eq: str = "builtin"
    eq_scorer: str = "eqbench-v2"
    seed: int = 0
    n_eq: int | None = None


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Which configs to sweep: a filtered triangle, or the specs of a file."""

    min_block: int = 1
    max_block: int | None = None
    starts: tuple[int, int] | None = None
    configs_file: Path | None = None
    configs: tuple[str, ...] = ()  # explicit specs (used by validation)
    shard: tuple[int, int] | None = None  # (k, n): this machine's slice


@dataclass(frozen=True, slots=True)
class ScanOptions:
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    probes: ProbeSpec = field(default_factory=ProbeSpec)
    grid: GridSpec = field(default_factory=GridSpec)
    build: BuildOptions = field(default_factory=BuildOptions)
    gpus: tuple[int, ...] = ()  # one worker per GPU; () = one worker, devices as llama.cpp sees them
    cache_dir: Path | None = None
    config_timeout: float | None = None
    min_parse_rate: float = 0.5
    worker_cmd: tuple[str, ...] = (sys.executable, "-m", "rys_gguf.worker")


@dataclass(frozen=True, slots=True)
class SweepPlan:
    configs: list[LayerPlan]  # to run, baseline first
    skipped: dict[str, str]  # spec -> why the architecture rules refuse it


@dataclass(frozen=True, slots=True)
class ScanEvent:
    total: int  # configs this run will measure
    done: int
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScanResult:
    n_run: int
    n_failed: int
    n_resumed: int
    n_skipped: int
    cache_bytes_written: int


def read_config_file(path: Path, n_layers: int) -> list[LayerPlan]:
    """One spec per line ('#' comments and blank lines ignored); errors name the line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ScanError(f"{path}: cannot read the configs file ({e.strerror or e})") from None
    plans = []
    for no, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            try:
                plans.append(parse_plan(text, n_layers))
            except RysError as e:
                raise ScanError(f"{path}:{no}: {e}") from None
    if not plans:
        raise ScanError(f"{path}: no configs in the file")
    return plans


def shift_order(plan: LayerPlan) -> tuple[int, int]:
    """Sort key that groups configs needing the same shifted shards."""
    offsets = [k - src for k, src in enumerate(plan.path) if k != src]
    return (max(offsets, default=0), min(offsets, default=0))


def plan_sweep(model: GGUFModel, grid: GridSpec, build: BuildOptions = BuildOptions()) -> SweepPlan:
    """The configs to run (baseline first, then by shift) and those the rules skip."""
    c = model_constraints(model)
    if c.refused and not (build.allow_unknown_arch and "not in rys-gguf" in c.refused):
        raise ScanError(f"{model.path}: {c.arch} is refused: {c.refused}")
    n = c.n_layers
    if grid.configs:
        plans = [parse_plan(spec, n) for spec in grid.configs]
    elif grid.configs_file is not None:
        plans = read_config_file(grid.configs_file, n)
    else:
        blocks = block_grid(n, grid.min_block, grid.max_block, grid.starts)
        plans = sorted((parse_plan(f"{i},{j}", n) for i, j in blocks), key=lambda p: (p.n_extra, p.path))
    plans = [p for p in plans if p.spec != BASELINE]
    if grid.shard is not None:
        by_spec = {p.spec: p for p in plans}
        chosen = shard_slice(list(by_spec), lambda s: len(by_spec[s].path), *grid.shard)
        plans = [by_spec[s] for s in chosen]
    runnable, skipped = [], {}
    for plan in plans:
        try:
            check_path(
                c, plan.path, plan.spec, swa_array=build.write_swa_pattern, allow_unknown=build.allow_unknown_arch
            )
            runnable.append(plan)
        except RysError as e:
            skipped[plan.spec] = str(e)
    runnable.sort(key=shift_order)
    return SweepPlan([parse_plan(BASELINE, n), *runnable], skipped)


def fingerprint(model: GGUFModel) -> str:
    """A quick identity: every shard's header plus 16 samples of its bytes (not all 40 GB)."""
    h = hashlib.sha256(str(model.n_bytes).encode())
    for f in model.files:
        with open(f.path, "rb") as fh:
            h.update(fh.read(f.header_size))
            for k in range(16):
                fh.seek(f.size * k // 16)
                h.update(fh.read(1 << 16))
    return h.hexdigest()


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold DIR/.lock so two scans never write the same folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScanError(
                f"{out_dir}: another scan is running on this folder; wait for it or use another --out"
            ) from None
        yield


def _check_identity(out_dir: Path, meta: dict[str, Any]) -> None:
    if not (out_dir / META).exists():
        if (out_dir / RESULTS).exists():
            raise ScanError(f"{out_dir}: has {RESULTS} but no {META}; use an empty folder")
        write_json_atomic(out_dir / META, meta)
        return
    old = read_meta(out_dir)
    if old.get("model", {}).get("fingerprint") != meta["model"]["fingerprint"]:
        raise ScanError(
            f"{out_dir}: holds a sweep of another model ({old.get('model', {}).get('path')}); use another --out"
        )
    if old.get("probe_set", {}).get("hash") != meta["probe_set"]["hash"]:
        raise ScanError(f"{out_dir}: holds a sweep with another probe set ({old.get('probe_set')}); use another --out")


def run_scan(
    model_path: Path,
    out_dir: Path,
    options: ScanOptions = ScanOptions(),
    on_event: Callable[[ScanEvent], None] | None = None,
) -> ScanResult:
    """Sweep configs of ``model_path`` into ``out_dir``, resuming what is already there.

    Raises:
        RysError: bad model, probe set or configs file; another sweep in ``out_dir``; a baseline
            whose answers mostly cannot be parsed.
    """
    probes = load_probe_set(cache_dir=None, **asdict(options.probes))
    with contextlib.ExitStack() as stack:
        model = stack.enter_context(GGUFModel(model_path))
        sweep = plan_sweep(model, options.grid, options.build)  # refuse a bad model before DIR is made
        stack.enter_context(locked(out_dir))
        name = model.get("general.name")
        meta = {
            "format": 1,
            "tool_version": __version__,
            "model": {
                "path": str(Path(model_path).resolve()), "name": name if isinstance(name, str) else None,
                "architecture": model.architecture, "n_layers": sweep.configs[0].n_layers,
                "n_bytes": model.n_bytes, "fingerprint": fingerprint(model),
            },
            "probe_set": {"hash": probes.hash, **probes.description},
            "runtime": options.runtime.as_dict(),
            "created": _now(),
        }  # fmt: skip
        _check_identity(out_dir, meta)
        skipped = {**read_skipped(out_dir), **sweep.skipped}
        write_json_atomic(out_dir / SKIPPED, {"count": len(skipped), "configs": skipped})
        drop_partial_line(out_dir / RESULTS)  # a kill -9 mid-append must not glue two rows together
        done = {r["config"] for r in read_rows(out_dir / RESULTS) if r.get("status") in ("ok", "failed")}
        todo = [p for p in sweep.configs if p.spec not in done]
        base = Path(options.cache_dir) if options.cache_dir else out_dir
        for folder in {out_dir, base}:  # caches that killed scans left behind
            remove_stale_caches(folder)
        try:
            base.mkdir(parents=True, exist_ok=True)
            ensure_disk(model, base, todo, len(options.gpus) or 1, options.build)
            root = Path(tempfile.mkdtemp(prefix=".rys-cache-", dir=base))
        except OSError as e:  # read-only, a file in the way, no permission
            raise ScanError(
                f"{base}: cannot hold the shard cache ({e.strerror or e}); pick another --cache-dir"
            ) from None
        cache = ShardCache(model, root, options.build)
        try:
            runner = _Runner(cache, out_dir, options, probes.hash, meta, len(todo), on_event)
            runner.run(todo, baseline_pending=BASELINE not in done)
        finally:
            cache.remove()
        return ScanResult(
            runner.n_run, runner.n_failed, len(sweep.configs) - len(todo), len(sweep.skipped), cache.n_bytes_written
        )


def _now() -> str:
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


class _Runner:
    """Schedules workers over slots and records their results (the only writer)."""

    def __init__(
        self,
        cache: ShardCache,
        out_dir: Path,
        options: ScanOptions,
        probe_hash: str,
        meta: dict[str, Any],
        total: int,
        on_event: Callable[[ScanEvent], None] | None,
    ) -> None:
        self.cache, self.out_dir, self.options = cache, out_dir, options
        self.probe_hash, self.meta, self.total, self.on_event = probe_hash, meta, total, on_event
        self.slots: list[int | None] = list(options.gpus) or [None]
        self.n_run = self.n_failed = 0

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
                    running.append(self._start(pending.popleft(), free.pop(0)))
                finished = self._wait_one(running, pending)
                free.append(finished["_slot"])
        finally:
            for r in running:
                self._kill(r)

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
        }
        (folder / "job.json").write_text(json.dumps(job))
        env = dict(os.environ)
        gpu = self.slots[slot]
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        log = open(folder / "worker.log", "wb")  # noqa: SIM115 (closed when the worker is collected)
        cmd = [*self.options.worker_cmd, str(folder / "job.json"), str(folder / "result.json")]
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

    def _record(self, r: _Running, timed_out: bool) -> dict[str, Any]:
        r.log.close()
        result = _read_result(r, timed_out, self.options.config_timeout)
        plan = r.plan
        blocks = None if plan.spec.startswith("layers:") else parse_blocks(plan.spec)
        ok = result.pop("ok", False)
        timings = {
            "assemble_s": round(r.assemble_s, 3),
            **result.pop("timings", {}),
            "wall_s": round(time.monotonic() - r.started + r.assemble_s, 3),  # assemble to result
        }
        row: dict[str, Any] = {
            "config": plan.spec,
            "block": list(blocks[0]) if blocks and len(blocks) == 1 else None,
            "status": "ok" if ok else "failed",
            "reason": None if ok else result.get("reason", "unknown failure"),
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
            "finished": _now(),
        }
        append_row(self.out_dir / RESULTS, row)
        self.n_run += 1
        self.n_failed += not ok
        if self.on_event:
            self.on_event(ScanEvent(self.total, self.n_run, row))
        return row

    def _check_baseline(self, row: dict[str, Any]) -> None:
        if row["status"] != "ok":
            raise ScanError(f"the baseline (unchanged model) failed: {row['reason']}; fix this before sweeping")
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
                "format does not suit this model; try --no-think, another --eq-set, or a chat model"
            )


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
        reason = f"worker died: {signal.Signals(-code).name}"
    else:
        reason = f"worker exited with code {code}"
    tail = _last_line(r.folder / "worker.log")
    return {"ok": False, "reason": f"{reason} ({tail})" if tail else reason}


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""
    return ""


def ensure_disk(model: GGUFModel, base: Path, plans: list[LayerPlan], n_slots: int, options: BuildOptions) -> None:
    """Refuse to start a sweep whose shard cache cannot fit on the disk under ``base``."""
    need = cache_need(model, plans, n_slots, options)
    free = shutil.disk_usage(base).free
    if need.n_bytes > free:
        n_layers = plans[0].n_layers
        raise ScanError(
            f"{base}: the shard cache needs {need.n_bytes / 1e9:.2f} GB at its peak (globals "
            f"{need.n_globals / 1e9:.2f} + {need.n_layers_unshifted} unshifted layers {need.n_unshifted / 1e9:.2f} + "
            f"{need.n_layers_shifted} shifted layers {need.n_shifted / 1e9:.2f} + metadata "
            f"{need.n_metadata / 1e9:.2f} GB) but {free / 1e9:.2f} GB are free; pick a --cache-dir with more "
            f"room, or skip early block starts with --start A:{n_layers} (a block starting at layer i caches "
            f"{n_layers}-i shifted layers; --max-block shortens the sweep but not this peak)"
        )
