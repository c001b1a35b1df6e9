"""lm-eval's tasks for ``rys-gguf eval``: task YAML files read (a syntax error names its line),
tasks loaded quietly, and each requested task's `Shape` (headline metric, filter, aggregation,
subtasks) found before any model runs.

Both layouts of lm-eval's loaded tasks are read: 0.4.10 and later (``{"tasks", "groups"}``) and
the nested dict keyed by groups before it. Left out: tasks defined in Python classes beyond what
lm-eval's own loader gives.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ProbeError, RysError
from ..files import read_text
from .lmresults import Node, Shape, ShapeError, pick_headline


def read_task_yaml(path: Path) -> dict[str, Any]:
    """A task YAML as a mapping (lm-eval's ``!function`` tags kept as None); a syntax error is one
    line that names the file, the line and the column."""
    import yaml

    loader: Any = type("TaskLoader", (yaml.SafeLoader,), {})  # a subclass: the tags stay out of SafeLoader
    loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    text = read_text(path, "task YAML")
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = " ".join(str(getattr(e, "problem", None) or e).split())
        context, start = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and start is not None and mark is not None and start.line != mark.line:
            what += f", {context} from line {start.line + 1}"  # where the unclosed bracket or block began
        raise ProbeError(f"{where}: not valid YAML ({what}); fix the task file at that line") from None
    if not isinstance(doc, dict):
        raise ProbeError(f"{path}: a task YAML is a mapping of keys (task:, dataset_path:, ...); fix the file")
    return doc


def load_tasks(manager: Any, names: Sequence[str]) -> Any:
    """lm-eval's task dict for ``names`` (their data loaded); any failure is one line."""
    try:
        with quiet_harness():
            return manager.load(list(names))
    except RysError:
        raise
    except Exception as e:  # lm-eval and datasets raise anything (missing data, bad YAML)
        raise ProbeError(f"lm-eval could not load {', '.join(names)} ({type(e).__name__}: {e})") from None


def task_shapes(task_dict: Any, names: Sequence[str]) -> list[Shape]:
    """What each requested task reports (headline metric, filter, aggregation, its subtasks),
    read from lm-eval's loaded tasks before any model runs. A group without an aggregate metric,
    and a tag, stand for their tasks, each reported alone."""
    import lm_eval.api.registry as registry

    tasks, groups = _structure(task_dict)
    by_function = {fn: name for name, fn in registry.AGGREGATION_REGISTRY.items()}

    def task_rules(task: Any) -> tuple[list[str], dict[str, str], dict[str, bool]]:
        filters = [f.name for f in getattr(task, "_filters", [])] or ["none"]
        functions = task.aggregation().items()
        aggregations = {m: by_function.get(fn, getattr(fn, "__name__", "custom")) for m, fn in functions}
        return filters, aggregations, dict(task.higher_is_better())

    def tree(name: str) -> Node:
        if name not in groups:
            return Node(name)
        children, aggs = groups[name]
        weight = bool(_field(aggs[0], "weight_by_size", True)) if aggs else True
        return Node(name, tuple(tree(c) for c in children), weight)

    shapes: list[Shape] = []
    claimed = {leaf for name in names if name in tasks or name in groups for leaf in tree(name).leaves()}
    for name in names:
        if name in tasks:
            shapes.append(pick_headline(name, *task_rules(tasks[name])))
            continue
        if name not in groups:  # a tag: it stands for its tasks, each reported alone
            tagged = [t for t in tasks if t not in claimed]
            if not tagged:
                raise ProbeError(f"lm-eval loaded no task or group named {name!r}; check the task YAML's name")
            shapes += [pick_headline(t, *task_rules(tasks[t])) for t in tagged]
            claimed.update(tagged)
            continue
        node = tree(name)
        _, aggs = groups[name]
        if not aggs:  # no aggregate score: each of its tasks on its own
            shapes += [pick_headline(leaf, *task_rules(tasks[leaf])) for leaf in node.leaves()]
            continue
        metric = str(_field(aggs[0], "metric", ""))
        first = node.leaves()[0]
        filters, aggregations, higher = task_rules(tasks[first])
        wanted = _field(aggs[0], "filter_list", None)
        wanted = [wanted] if isinstance(wanted, str) else list(wanted or filters)
        if str(_field(aggs[0], "aggregation", "mean")) != "mean" or metric not in aggregations:
            raise ShapeError(
                f"lm-eval group {name!r}: its aggregate {metric!r} is not a mean of its tasks' {metric!r}; "
                "give the group an aggregate_metric_list with aggregation: mean over a metric its tasks report"
            )
        shape = pick_headline(name, wanted, {metric: aggregations[metric]}, higher, node)
        for leaf in node.leaves():
            if task_rules(tasks[leaf])[1].get(metric) != shape.aggregation:
                raise ShapeError(f"lm-eval group {name!r}: its tasks aggregate {metric!r} in different ways")
        shapes.append(shape)
    return shapes


def _field(obj: Any, name: str, default: Any) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _structure(task_dict: Any) -> tuple[dict[str, Any], dict[str, tuple[list[str], list[Any]]]]:
    """Tasks by name and groups by name (children, aggregate metrics) from a task dict of either
    lm-eval layout: 0.4.10+ ({"tasks", "groups"}) or the nested dict keyed by groups before it."""
    tasks: dict[str, Any] = {}
    groups: dict[str, tuple[list[str], list[Any]]] = {}
    if isinstance(task_dict, dict) and "tasks" in task_dict and "groups" in task_dict:
        tasks.update(task_dict["tasks"])
        pending = list(task_dict["groups"].values())
        while pending:
            g = pending.pop()
            groups[g.name] = (list(g.child_names), list(g.aggregate_metric_list or []))
            pending += g.get_all_groups(recursive=False)
        return tasks, groups

    def walk(d: dict[Any, Any]) -> list[str]:
        names = []
        for key, value in d.items():
            name = str(getattr(key, "group_name", key))
            if isinstance(value, dict):
                config = getattr(key, "config", None) or {}
                groups[name] = (walk(value), list(_field(config, "aggregate_metric_list", None) or []))
            else:
                tasks[name] = value
            names.append(name)
        return names

    walk(task_dict)
    return tasks, groups


@contextlib.contextmanager
def quiet_harness() -> Iterator[None]:
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
