"""``rys-gguf eval``: real benchmarks (lm-evaluation-harness) on a source model and its RYS models.

Each model is loaded in turn and answers the same lm-eval requests through our own runner
(``prove.lmeval``); lm-eval scores them. Per task, the report gives each model's score and, for
each RYS model, the paired difference from the source over the same items with a 95 % paired
bootstrap interval (10,000 resamples): a gain whose interval straddles zero is noise.
Results go to ``DIR/eval.json``; ``report.md`` in DIR gets the "Real benchmarks" section (a sweep
folder's report keeps it on every rewrite).

Tasks are lm-eval task names (their data is fetched by lm-eval, so those need the network) or
local task YAML files (with local data files, e.g. ``dataset_path: json``). Left out: few-shot
settings other than the task's own, chat templates, and other harness options.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..builder.source import model_constraints
from ..errors import ProbeError, RysError
from ..events import OnEvent, Progress, Stage, emit
from ..files import remove_stale_partials, temp_path, write_atomic
from ..gguffile.reader import GGUFModel
from ..llama import cpu_repack
from ..llama.batching import N_BATCH
from ..llama.budget import require_fit
from ..llama.memory import logits_contexts
from ..llama.options import RuntimeOptions
from ..report.ranking import paired_bootstrap
from ..report.tables import eval_markdown
from ..report.write import EVAL_FILE
from ..sweepfolder.records import SWEEP_FILE

MODELS_DIR = "eval-models"  # the RYS models built from a sweep, while they are evaluated
INSTALL = "pip install 'rys-gguf[eval]'"
FIX = "free some disk space or pass another --out"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model to evaluate: how the report names it, and its file."""

    label: str
    path: Path


@dataclass(frozen=True, slots=True)
class ModelScores:
    """One model's lm-eval outcome: per task, the metric's mean and its value per item."""

    scores: dict[str, float]
    items: dict[str, dict[int, float]]
    metrics: dict[str, str]


def _lm_eval() -> Any:
    try:
        import lm_eval
        import lm_eval.evaluator
        import lm_eval.tasks
    except ImportError:
        raise ProbeError(f"rys-gguf eval needs lm-evaluation-harness: {INSTALL}") from None
    return lm_eval


def task_manager(tasks: Sequence[str]) -> tuple[Any, list[str]]:
    """lm-eval's task manager and the task names for ``tasks`` (names or local YAML files)."""
    lm_eval = _lm_eval()
    names, folders = [], []
    for task in tasks:
        path = Path(task)
        if path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise ProbeError(f"{path}: no such task file")
            names.append(_yaml_task_name(path))
            folders.append(str(path.resolve().parent))
        else:
            names.append(task)
    local_only = len(folders) == len(tasks)
    manager = lm_eval.tasks.TaskManager(include_path=folders or None, include_defaults=not local_only)
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        raise ProbeError(
            f"unknown lm-eval task {unknown[0]!r}; give a task name lm-eval knows (lm-eval ls tasks) "
            "or the path of a task YAML file"
        )
    return manager, names


def _yaml_task_name(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "task" and value.strip():
            return value.strip().strip("'\"")
    raise ProbeError(f"{path}: a task YAML needs a 'task: NAME' line")


def evaluate(
    path: Path,
    manager: Any,
    names: Sequence[str],
    options: RuntimeOptions,
    *,
    limit: int | None = None,
    sequential: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ModelScores:
    """Run lm-eval's ``names`` on one model through our runner; the scores and per-item values."""
    lm_eval = _lm_eval()
    from ..llama.runner import open_model
    from .lmeval import RysLM

    with open_model(path, options) as model, _quiet_harness():
        try:
            out = lm_eval.evaluator.evaluate(
                lm=RysLM(model, sequential=sequential, progress=progress),
                task_dict=manager.load(list(names)),
                limit=limit,
                log_samples=True,
                bootstrap_iters=0,  # our own paired intervals below
                verbosity="ERROR",
            )
        except RysError:
            raise
        except Exception as e:  # lm-eval and datasets raise anything (missing data, bad YAML)
            raise ProbeError(f"lm-eval could not run {', '.join(names)} ({type(e).__name__}: {e})") from None
    scores, items, metrics = {}, {}, {}
    for name in names:
        results = out["results"][name]
        metric = next(k.split(",")[0] for k, v in results.items() if "," in k and isinstance(v, int | float))
        scores[name] = float(results[f"{metric},none"])
        items[name] = {int(s["doc_id"]): float(s[metric]) for s in out["samples"][name]}
        metrics[name] = metric
    return ModelScores(scores, items, metrics)


@contextlib.contextmanager
def _quiet_harness() -> Iterator[None]:
    """lm-eval and datasets draw their own bars and log at INFO: keep the terminal to ours
    (RYS_DEBUG=1 shows theirs). Their stderr is held and dropped; errors still raise."""
    if os.environ.get("RYS_DEBUG") == "1":
        yield
        return
    loggers = [logging.getLogger(name) for name in ("lm_eval", "lm-eval", "datasets")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def compare(source: ModelScores, rys: ModelScores, task: str) -> dict[str, float]:
    """Mean paired difference (RYS - source) over the task's items, with its 95 % interval."""
    ids = sorted(set(source.items[task]) & set(rys.items[task]))
    mean, low, high = paired_bootstrap([source.items[task][i] for i in ids], [rys.items[task][i] for i in ids])
    return {"mean": mean, "low": low, "high": high, "n_items": len(ids)}


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """lm-eval ``tasks`` (names, or task YAML files with local data), at most ``limit`` items per
    task, ``sequential`` generation (a check of the batched runner), how llama.cpp runs the models,
    and the ``memory`` budget per device (None: what llama.cpp reports; (): no check)."""

    tasks: tuple[str, ...] = ()
    limit: int | None = None
    sequential: bool = False
    runtime: RuntimeOptions = RuntimeOptions()
    memory: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What ``run_eval`` wrote: eval.json's path and its contents (per task: scores, paired diffs)."""

    path: Path
    data: dict[str, Any]


def run_eval(
    source: str | os.PathLike[str],
    candidates: Sequence[Candidate],
    out: str | os.PathLike[str],
    options: EvalOptions = EvalOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> EvalResult:
    """Evaluate ``source`` and every candidate on the tasks; write OUT/eval.json and the report.

    Every model is checked before lm-eval starts against the smallest load an evaluation makes
    (the weights, the Llama object's context, one batch of per-token logits); generation sizes
    its own waves. ``on_event`` gets a `Stage` per model; ``progress`` one step per request.
    """
    o, source, out = options, Path(source), Path(out)
    if not o.tasks:
        raise ProbeError("--tasks: give at least one lm-eval task name or task YAML file")
    labelled = [("source", source), *((c.label, Path(c.path)) for c in candidates)]
    for _, path in labelled:
        with GGUFModel(path) as model:  # a broken or corrupt file is refused before lm-eval starts
            model_constraints(model)
    contexts = logits_contexts(N_BATCH, 0, o.runtime.n_ctx)
    for label, path in labelled:
        require_fit(path, o.runtime, contexts, o.memory, "the source" if label == "source" else "the RYS model")
    manager, names = task_manager(o.tasks)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RysError(f"{out}: cannot create the output folder ({e.strerror}); pass another --out") from None
    cpu_repack.announce(o.runtime.cpu_repack, on_event)
    runs: dict[str, ModelScores] = {}
    for label, path in labelled:
        emit(on_event, Stage(f"lm-eval on {label}: {path}", None, "request"))
        runs[label] = evaluate(
            path, manager, names, o.runtime, limit=o.limit, sequential=o.sequential, progress=progress
        )
    base = runs["source"]
    data = {
        "format": 1,
        "source": str(source),
        "models": [{"label": c.label, "path": str(c.path)} for c in candidates],
        "limit": o.limit,
        "tasks": [
            {
                "task": name,
                "metric": base.metrics[name],
                "n_items": len(base.items[name]),
                "scores": {label: run.scores[name] for label, run in runs.items()},
                "diff": {c.label: compare(base, runs[c.label], name) for c in candidates},
            }
            for name in names
        ],
    }
    write_atomic(out / EVAL_FILE, json.dumps(data, indent=2) + "\n", FIX)
    if (out / SWEEP_FILE).exists():
        from ..report.write import write_report

        write_report(out)
    else:
        write_atomic(out / "report.md", eval_markdown(data) + "\n", FIX)
    return EvalResult(out / EVAL_FILE, data)


@contextlib.contextmanager
def sweep_models(directory: Path, top: int) -> Iterator[tuple[Path, list[Candidate]]]:
    """The sweep's model and its ``top`` best configs, built into a work folder in the sweep
    folder that is removed afterwards (and, after a kill, by the next run)."""
    from ..builder.job import build
    from ..report.write import ReportOptions, write_report
    from ..sweepfolder.fingerprint import sweep_model

    source = sweep_model(directory)  # the file the sweep measured, or a refusal
    summary = write_report(directory, ReportOptions(png=False))
    picks = summary.shortlist(top)  # the same list validate --top takes
    if not picks:
        raise RysError(f"{directory}: no scored configs to evaluate yet; run the scan first")
    remove_stale_partials(directory / MODELS_DIR)
    work = temp_path(directory / MODELS_DIR)
    try:
        work.mkdir()
        candidates = []
        for k, config in enumerate(picks):
            path = work / f"rank{k + 1}.gguf"
            build(source, path, config)
            candidates.append(Candidate(config, path))
        yield source, candidates
    finally:
        shutil.rmtree(work, ignore_errors=True)
