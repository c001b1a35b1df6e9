"""``rys-gguf eval``: real benchmarks (lm-evaluation-harness) on a source model and its RYS models.

Each model is loaded in turn and answers the same lm-eval requests through our own runner
(``prove.lmeval``); lm-eval scores them. Per task, the report gives each model's score and, for
each RYS model, the paired difference from the source over the same items with a 95 % paired
bootstrap interval (10,000 resamples): a gain whose interval straddles zero is noise.
Results go to ``DIR/eval.json``; ``report.md`` in DIR gets the "Real benchmarks" section (a sweep
folder's report keeps it on every rewrite). The source's results are written to
``DIR/eval-source.json`` before any RYS model runs and reused while `source_key` matches, so a
failed RYS run costs only its own time. Tasks are loaded and their shapes found by ``lmtasks``;
results (filters, perplexities, groups) are read and compared by ``lmresults``.

Tasks are lm-eval task names (their data is fetched by lm-eval, so those need the network) or
local task YAML files (with local data files, e.g. ``dataset_path: json``). Left out: few-shot
settings other than the task's own, chat templates, and other harness options.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..builder.source import model_constraints
from ..errors import ProbeError, RysError
from ..events import Note, OnEvent, Progress, Stage, emit
from ..files import remove_stale_partials, temp_path, write_atomic
from ..gguffile.reader import GGUFModel
from ..llama import cpu_repack
from ..llama.batching import N_BATCH
from ..llama.budget import require_fit
from ..llama.memory import logits_contexts
from ..llama.options import RuntimeOptions
from ..report.tables import eval_markdown
from ..report.write import EVAL_FILE
from ..sweepfolder.records import SWEEP_FILE
from .lmresults import Run, Shape, compare, items_from_json, items_to_json, read_run
from .lmtasks import load_tasks, quiet_harness, read_task_yaml, task_shapes

SOURCE_FILE = "eval-source.json"  # the source model's results, kept for reruns
MODELS_DIR = "eval-models"  # the RYS models built from a sweep, while they are evaluated
INSTALL = "pip install 'rys-gguf[eval]'"
FIX = "free some disk space or pass another --out"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model to evaluate: how the report names it, and its file."""

    label: str
    path: Path


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
            if str(path.resolve().parent) not in folders:
                folders.append(str(path.resolve().parent))
        else:
            names.append(task)
    local_only = all(Path(t).suffix in (".yaml", ".yml") for t in tasks)
    with quiet_harness():
        manager = lm_eval.tasks.TaskManager(include_path=folders or None, include_defaults=not local_only)
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        raise ProbeError(
            f"unknown lm-eval task {unknown[0]!r}; give a task name lm-eval knows (lm-eval ls tasks) "
            "or the path of a task YAML file"
        )
    return manager, names


def _yaml_task_name(path: Path) -> str:
    doc = read_task_yaml(path)
    for key in ("task", "group"):  # a group file lists its tasks under task:
        if isinstance(doc.get(key), str) and doc[key].strip():
            return str(doc[key]).strip()
    raise ProbeError(f"{path}: a task YAML needs a 'task: NAME' line (or 'group: NAME' for a group)")


def evaluate(
    path: Path,
    manager: Any,
    names: Sequence[str],
    options: RuntimeOptions,
    *,
    limit: int | None = None,
    sequential: bool = False,
    progress: Callable[[int], None] | None = None,
    shapes: Sequence[Shape] | None = None,
) -> Run:
    """Run lm-eval's ``names`` on one model through our runner; the headlines and per-item values."""
    lm_eval = _lm_eval()
    from ..llama.runner import open_model
    from .lmeval import RysLM

    if shapes is None:
        shapes = task_shapes(load_tasks(manager, names), names)
    with open_model(path, options) as model, quiet_harness():
        try:
            out = lm_eval.evaluator.evaluate(
                lm=RysLM(model, sequential=sequential, progress=progress),
                task_dict=load_tasks(manager, names),
                limit=limit,
                log_samples=True,
                bootstrap_iters=0,  # our own paired intervals below
                verbosity="ERROR",
            )
        except RysError:
            raise
        except Exception as e:  # lm-eval and datasets raise anything (missing data, bad YAML)
            raise ProbeError(f"lm-eval could not run {', '.join(names)} ({type(e).__name__}: {e})") from None
    return read_run(out, shapes)


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
    shapes = task_shapes(load_tasks(manager, names), names)  # a task eval cannot score is refused now
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RysError(f"{out}: cannot create the output folder ({e.strerror}); pass another --out") from None
    cpu_repack.announce(o.runtime.cpu_repack, on_event)
    key = source_key(source, o.tasks, names, o.limit)
    runs: dict[str, Run] = {}
    kept = read_source(out / SOURCE_FILE, key, shapes)
    if kept is not None:
        runs["source"] = kept
        emit(on_event, Note(f"source results reused from {out / SOURCE_FILE} (same model, tasks and limit)"))
    for label, path in labelled:
        if label in runs:
            continue
        emit(on_event, Stage(f"lm-eval on {label}: {path}", None, "request"))
        try:
            runs[label] = evaluate(
                path,
                manager,
                names,
                o.runtime,
                limit=o.limit,
                sequential=o.sequential,
                progress=progress,
                shapes=shapes,
            )
        except RysError as e:
            if label == "source":
                raise
            note = f"the source's results are kept in {out / SOURCE_FILE}: a rerun evaluates only the RYS models"
            raise type(e)(f"{e}; {note}") from None
        if label == "source":  # kept before any RYS model runs: a failure there loses nothing
            write_source(out / SOURCE_FILE, key, runs[label])
    base = runs["source"]
    data = {
        "format": 1,
        "source": str(source),
        "models": [{"label": c.label, "path": str(c.path)} for c in candidates],
        "limit": o.limit,
        "tasks": [
            {
                "task": s.name,
                "metric": s.metric,
                "filter": s.filter,
                "higher_is_better": s.higher_is_better,
                "n_items": sum(len(v) for v in base.items[s.name].values()),
                "scores": {label: run.scores[s.name] for label, run in runs.items()},
                "diff": {c.label: compare(s, base.items[s.name], runs[c.label].items[s.name]) for c in candidates},
            }
            for s in shapes
        ],
    }
    write_atomic(out / EVAL_FILE, json.dumps(data, indent=2) + "\n", FIX)
    if (out / SWEEP_FILE).exists():
        from ..report.write import write_report

        write_report(out)
    else:
        write_atomic(out / "report.md", eval_markdown(data) + "\n", FIX)
    return EvalResult(out / EVAL_FILE, data)


def source_key(source: Path, tasks: Sequence[str], names: Sequence[str], limit: int | None) -> str:
    """What the source's results depend on: the model (its fingerprint), the task names and the
    contents of the task YAML files (every YAML beside them, and their local data files), the
    limit and lm-eval's version."""
    from importlib.metadata import version

    from ..sweepfolder.fingerprint import fingerprint

    h = hashlib.sha256()
    with GGUFModel(source) as model:
        h.update(fingerprint(model).encode())
    h.update(json.dumps({"tasks": list(names), "limit": limit, "lm_eval": version("lm_eval")}).encode())
    seen: set[Path] = set()
    for task in tasks:
        path = Path(task)
        if path.suffix not in (".yaml", ".yml"):
            continue
        for yaml_file in sorted(p for p in path.resolve().parent.iterdir() if p.suffix in (".yaml", ".yml")):
            for f in (yaml_file, *_data_files(yaml_file)):
                if f not in seen and f.is_file():
                    seen.add(f)
                    h.update(f"{f}\0".encode() + f.read_bytes() + b"\0")
    return h.hexdigest()


def _data_files(path: Path) -> list[Path]:
    try:
        kwargs = read_task_yaml(path).get("dataset_kwargs")
    except ProbeError:
        return []
    files = kwargs.get("data_files") if isinstance(kwargs, dict) else None
    values = files.values() if isinstance(files, dict) else [files]
    flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
    return [(path.parent / v).resolve() for v in flat if isinstance(v, str)]


def write_source(path: Path, key: str, run: Run) -> None:
    """The source's results in OUT/eval-source.json, keyed by `source_key`."""
    items = {name: items_to_json(v) for name, v in run.items.items()}
    write_atomic(path, json.dumps({"format": 1, "key": key, "scores": run.scores, "items": items}) + "\n", FIX)


def read_source(path: Path, key: str, shapes: Sequence[Shape]) -> Run | None:
    """The kept source results when they were made with the same `source_key` and hold every
    task; None otherwise (the source is evaluated again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        scores = {s.name: float(data["scores"][s.name]) for s in shapes}
        items = {s.name: items_from_json(data["items"][s.name]) for s in shapes}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or unusable: measured again
    if any(set(items[s.name]) != set(s.tree.leaves()) for s in shapes):
        return None
    return Run(scores, items)


@contextlib.contextmanager
def sweep_models(directory: Path, top: int, on_event: OnEvent | None = None) -> Iterator[tuple[Path, list[Candidate]]]:
    """The sweep's model and its ``top`` best configs, built into a work folder in the sweep
    folder that is removed afterwards (and, after a kill, by the next run); what the report
    warns about reading the sweep comes to ``on_event``."""
    from ..builder.job import build
    from ..report.write import ReportOptions, write_report
    from ..sweepfolder.fingerprint import sweep_model

    source = sweep_model(directory)  # the file the sweep measured, or a refusal
    summary = write_report(directory, ReportOptions(png=False), on_event=on_event)
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
