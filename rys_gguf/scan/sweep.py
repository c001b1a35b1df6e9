"""The brain scan: sweep layer configs, probe each in a worker process, keep every result.

`run_scan` plans the configs (``grid``), skips those that cannot fit in memory (``fit``), takes
the sweep folder's lock, records the sweep's identity (sweep.json: model fingerprint, probe-set
hash), plans the layer cache against the free disk (``layercache``), then lets the worker pool
(``pool``) measure what the folder does not hold yet, so rerunning the same command resumes (a
failed baseline is measured again: every delta needs it; other failed configs keep their row). A
search (``--search coarse|adaptive``) measures a budget of them instead, round by round
(``search_rounds``).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import OptionError, ScanError
from ..events import Note, OnEvent, Progress, Stage, emit
from ..files import try_lock
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import NAME_KEY
from ..llama import cpu_repack
from ..probes import load_probe_set
from ..sweepfolder.fingerprint import fingerprint
from ..sweepfolder.metric import check_metric
from ..sweepfolder.records import (
    BASELINE,
    FINISHED,
    FORMAT,
    RESULTS_FILE,
    SKIPPED_FILE,
    SWEEP_FILE,
    SweepMeta,
    drop_partial_line,
    read_meta,
    read_rows,
    read_skipped,
    write_json_atomic,
)
from ..version import __version__
from .grid import plan_sweep
from .layercache import CACHE_PREFIX, ShardCache, ensure_disk, remove_stale_caches
from .memoryplan import fit_sweep
from .options import ScanOptions
from .pool import WorkerPool, now
from .search_rounds import plan_search, record_search, remaining, resolve_strategy, run_rounds


@dataclass(frozen=True, slots=True)
class ScanResult:
    n_run: int
    n_failed: int
    n_resumed: int
    n_skipped: int
    cache_bytes_written: int
    n_early_stopped: int = 0  # of n_run: garbage from their first answers, cut short


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold DIR/.lock so two scans never write the same folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = try_lock(out_dir)
    if lock is None:
        raise ScanError(f"{out_dir}: another scan is running on this folder; wait for it or use another --out")
    with lock:
        yield


def _check_identity(out_dir: Path, meta: SweepMeta) -> None:
    if not (out_dir / SWEEP_FILE).exists():
        if (out_dir / RESULTS_FILE).exists():
            raise ScanError(f"{out_dir}: has {RESULTS_FILE} but no {SWEEP_FILE}; use an empty folder")
        write_json_atomic(out_dir / SWEEP_FILE, meta)
        return
    old = read_meta(out_dir)
    old_model, old_probes = old.get("model", {}), old.get("probe_set", {})
    if old_model.get("fingerprint") != meta["model"]["fingerprint"]:
        raise ScanError(f"{out_dir}: holds a sweep of another model ({old_model.get('path')}); use another --out")
    if old_probes.get("hash") != meta["probe_set"]["hash"]:
        raise ScanError(f"{out_dir}: holds a sweep with another probe set ({old_probes}); use another --out")


def _cache_error(base: Path, e: OSError) -> ScanError:
    return ScanError(f"{base}: cannot hold the shard cache ({e.strerror or e}); pick another --cache-dir")


def run_scan(
    model_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: ScanOptions = ScanOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> ScanResult:
    """Sweep configs of ``model_path`` into ``out_dir``, resuming what is already there.

    Args:
        model_path: the GGUF to scan (or the first shard of a split model).
        out_dir: the sweep folder; rerunning the same call resumes it.
        options: runtime, probes, grid, search, build rules, workers, memory.
        progress: one step per config measured.
        on_event: the memory plan as a `Note`, a `Stage` when measuring starts (its total: the
            configs this run will measure), and a `ConfigDone` with each config's results row.

    Raises:
        RysError: bad model, probe set or configs file; another sweep in ``out_dir``; a baseline
            that cannot fit in memory (MemoryBudgetError) or whose answers mostly cannot be parsed.
    """
    model_path, out_dir = Path(model_path), Path(out_dir)
    probes = load_probe_set(cache_dir=None, **asdict(options.probes))
    check_metric(options.search.metric, {"probe_set": probes.description}, out_dir)  # what ranks it
    timeout = options.config_timeout
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):  # 0 would fail every config
        raise OptionError(f"--config-timeout {timeout:g}: expected seconds > 0 (e.g. 600)")
    with contextlib.ExitStack() as stack:
        model = stack.enter_context(GGUFModel(model_path))
        sweep = plan_sweep(model, options.grid, options.build)  # refuse a bad model before DIR is made
        n_configs = len(sweep.configs) - 1  # the baseline aside
        strategy = resolve_strategy(options.search.strategy, options.search.budget, options.grid, n_configs)
        sweep, memory_line = fit_sweep(model, sweep, options, probes)  # nothing loaded yet
        search = plan_search(sweep, options, strategy) if strategy != "grid" else None
        stack.enter_context(locked(out_dir))
        name = model.get(NAME_KEY)
        meta: SweepMeta = {
            "format": FORMAT,
            "tool_version": __version__,
            "model": {
                "path": str(Path(model_path).resolve()), "name": name if isinstance(name, str) else None,
                "architecture": model.architecture, "n_layers": sweep.configs[0].n_layers,
                "n_bytes": model.n_bytes, "fingerprint": fingerprint(model),
            },
            "probe_set": {"hash": probes.hash, **probes.description},  # type: ignore[typeddict-item]
            "runtime": options.runtime.as_dict(),
            "build": {"write_swa_pattern": options.build.write_swa_pattern},
            "created": now(),
        }  # fmt: skip
        _check_identity(out_dir, meta)
        skipped = {**read_skipped(out_dir), **sweep.skipped}
        write_json_atomic(out_dir / SKIPPED_FILE, {"count": len(skipped), "configs": skipped})
        drop_partial_line(out_dir / RESULTS_FILE)  # a kill -9 mid-append must not glue two rows together
        finished = FINISHED if options.early_stop else ("ok", "failed")  # --no-early-stop rescores them
        warnings: list[str] = []  # rows that cannot be used are measured again
        n_layers = sweep.configs[0].n_layers
        done = {
            r["config"]
            for r in read_rows(out_dir / RESULTS_FILE, warnings, n_layers=n_layers)
            # A failed baseline (killed for memory, timed out) is measured again: every delta needs
            # it. Other failed configs stay as recorded; their rows say why.
            if r.get("status") in finished and (r["config"] != BASELINE or r.get("status") == "ok")
        }
        for warning in warnings:
            emit(on_event, Note(warning, warning=True))
        todo = [p for p in sweep.configs if p.spec not in done]
        if not (options.grid.configs or options.grid.configs_file):  # explicit lists leave a search's record
            record_search(out_dir, search, options)
        base = Path(options.cache_dir) if options.cache_dir else out_dir
        for folder in {out_dir, base}:  # caches that killed scans left behind
            remove_stale_caches(folder)
        try:
            base.mkdir(parents=True, exist_ok=True)
            ensure_disk(model, base, todo, len(options.gpus) or 1, options.build)
        except OSError as e:  # read-only, a file in the way, no permission
            raise _cache_error(base, e) from None
        emit(on_event, Note(memory_line))  # after every refusal: a refused scan says only its reason
        cpu_repack.announce(options.runtime.cpu_repack, on_event)
        try:
            root = Path(tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=base))
        except OSError as e:
            raise _cache_error(base, e) from None
        cache = ShardCache(model, root, options.build)  # nothing between the folder and the try below
        try:
            if search is None:
                emit(on_event, Stage(f"scan {Path(model_path).name}", len(todo), "config"))
                pool = WorkerPool(cache, out_dir, options, meta, len(todo), progress, on_event)
                pool.run(todo, baseline_pending=BASELINE not in done)
            else:
                first = sweep.configs[0] if BASELINE not in done else None
                rescore = not options.early_stop
                left = remaining(search, out_dir, rescore)  # None: a time budget, counted after the baseline
                total = (left or 0) + (first is not None)
                what = "baseline" if left is None else f"search ({strategy})"
                emit(on_event, Stage(f"{what} {Path(model_path).name}", total, "config"))
                pool = WorkerPool(cache, out_dir, options, meta, total, progress, on_event)
                run_rounds(search, pool, out_dir, first, rescore, on_event)
        finally:
            cache.remove()
        n_resumed = len(sweep.configs) - len(todo)
        return ScanResult(
            pool.n_run, pool.n_failed, n_resumed, len(sweep.skipped), cache.n_bytes_written, pool.n_early_stopped
        )
