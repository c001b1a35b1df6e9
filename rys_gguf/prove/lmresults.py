"""lm-eval's results read for every task shape it runs, and paired intervals that aggregate the
way lm-eval does (pure: no lm-eval import, no files).

A task's headline is one ``metric,filter`` key of lm-eval's results (``acc,none``,
``exact_match,strict-match``) and its per-item values come from the samples of that filter.
Items are paired between two models by (task, doc_id), and the interval resamples them within
each task (stratified), recomputing the headline each time:

- ``mean`` (accuracy, exact match): the mean of the items' values;
- ``perplexity``: exp(-mean log-likelihood);
- ``weighted_perplexity``: exp(-Σ loglik / Σ weight), each item a (loglik, weight) pair (words or
  bytes of a ``loglikelihood_rolling`` document);
- ``bits_per_byte``: -Σ loglik / Σ bytes / ln 2;
- a group (MMLU, BBH): the mean of its children's values, weighted by their sizes when its
  ``aggregate_metric_list`` says ``weight_by_size`` (as lm-eval's ``aggregate_subtask_metrics``),
  nested groups included.

``higher_is_better`` comes from lm-eval: for a perplexity, "better" means lower. Left out:
corpus-level aggregations (f1, bleu, mcc...), which cannot be recomputed per resampled item here;
`ShapeError` names them before any model runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ProbeError

if TYPE_CHECKING:
    import numpy as np

AGGREGATIONS = ("mean", "perplexity", "weighted_perplexity", "bits_per_byte")
PAIRED = ("weighted_perplexity", "bits_per_byte")  # items are (loglik, weight) pairs

Value = float | tuple[float, float]
Items = dict[str, dict[int, Value]]  # per task (a group's leaves), per doc_id


class ShapeError(ProbeError):
    """A task's headline cannot be compared item by item (a corpus-level aggregation)."""


@dataclass(frozen=True, slots=True)
class Node:
    """A task (no children) or a group of tasks and groups, with how it averages them."""

    name: str
    children: tuple[Node, ...] = ()
    weight_by_size: bool = True

    def leaves(self) -> list[str]:
        """The tasks under this node, in order (itself when it is a task)."""
        return [self.name] if not self.children else [n for c in self.children for n in c.leaves()]


@dataclass(frozen=True, slots=True)
class Shape:
    """What one requested task (or group) reports: its headline metric, filter, aggregation of
    the leaves' items, direction, and its tree of subtasks."""

    name: str
    metric: str
    filter: str
    aggregation: str
    higher_is_better: bool
    tree: Node = None  # type: ignore[assignment]  # None: the task alone, Node(name)

    def __post_init__(self) -> None:
        if self.tree is None:
            object.__setattr__(self, "tree", Node(self.name))

    @property
    def key(self) -> str:
        """The key of the headline in lm-eval's results."""
        return f"{self.metric},{self.filter}"


@dataclass(frozen=True, slots=True)
class Run:
    """One model's outcome: per requested task the headline lm-eval reported and the items."""

    scores: dict[str, float]
    items: dict[str, Items]


def pick_headline(
    name: str,
    filters: Sequence[str],
    aggregations: Mapping[str, str],
    higher: Mapping[str, bool],
    tree: Node | None = None,
) -> Shape:
    """A task's headline: its first metric under its first filter (lm-eval's own order).

    ``aggregations`` maps each metric to its aggregation's name, ``higher`` to whether higher is
    better. Raises ShapeError for an aggregation that is not recomputed per item.
    """
    if not aggregations:
        raise ProbeError(f"lm-eval task {name!r} has no metrics to score; give it a metric_list")
    metric, aggregation = next(iter(aggregations.items()))
    if aggregation not in AGGREGATIONS:
        raise ShapeError(
            f"lm-eval task {name!r}: metric {metric!r} aggregates with {aggregation!r} over the whole corpus, "
            f"which eval cannot compare item by item; use a task whose first metric aggregates with "
            f"{', '.join(AGGREGATIONS)}"
        )
    return Shape(
        name, metric, filters[0] if filters else "none", aggregation, bool(higher.get(metric, True)), tree or Node(name)
    )


def read_run(out: Mapping[str, Any], shapes: Sequence[Shape]) -> Run:
    """The headline and per-item values of every shape from ``lm_eval.evaluator.evaluate``'s output
    (run with ``log_samples=True``). Raises ProbeError when lm-eval reported no such score."""
    results, samples = out.get("results") or {}, out.get("samples") or {}
    scores, items = {}, {}
    for shape in shapes:
        value = (results.get(shape.name) or {}).get(shape.key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ProbeError(f"lm-eval reported no {shape.key!r} for {shape.name!r}; check the task's metric_list")
        scores[shape.name] = float(value)
        items[shape.name] = {leaf: _leaf_items(shape, leaf, samples.get(leaf)) for leaf in shape.tree.leaves()}
    return Run(scores, items)


def _leaf_items(shape: Shape, leaf: str, samples: Any) -> dict[int, Value]:
    if not isinstance(samples, list):
        raise ProbeError(f"lm-eval logged no samples for {leaf!r} (of {shape.name!r}); cannot pair its items")
    got: dict[int, Value] = {}
    for s in samples:
        if s.get("filter", "none") != shape.filter or shape.metric not in s:
            continue  # one sample per (doc, filter): keep the headline's filter
        got[int(s["doc_id"])] = _value(s[shape.metric], shape, leaf)
    return got


def _value(raw: Any, shape: Shape, leaf: str) -> Value:
    if shape.aggregation in PAIRED:
        if isinstance(raw, list | tuple) and len(raw) == 2:
            return (float(raw[0]), float(raw[1]))
    elif isinstance(raw, int | float):
        return float(raw)
    raise ProbeError(
        f"lm-eval task {leaf!r}: a {shape.metric!r} item is {type(raw).__name__}, not what {shape.aggregation!r} "
        "aggregates; check the task's metric_list"
    )


def headline(shape: Shape, items: Items) -> float:
    """The headline recomputed from the items (what lm-eval reports for them)."""
    return float(_aggregate(shape, _arrays(shape, items, None), None)[0])


def compare(shape: Shape, base: Items, other: Items, n_boot: int = 10000, seed: int = 0) -> dict[str, float]:
    """The headline's difference (other − base) over the items both models answered, with its 95 %
    paired bootstrap interval (items resampled within each task, the same draw for both)."""
    import numpy as np

    common = {leaf: sorted(set(base.get(leaf, {})) & set(other.get(leaf, {}))) for leaf in shape.tree.leaves()}
    n_items = sum(len(ids) for ids in common.values())
    if any(not ids for ids in common.values()):
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n_items": n_items}
    a, b = _arrays(shape, base, common), _arrays(shape, other, common)
    mean = float(_aggregate(shape, b, None)[0] - _aggregate(shape, a, None)[0])
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(1, n_items))  # bounded memory for long item lists
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        draw = {leaf: rng.integers(0, len(ids), size=(stop - start, len(ids))) for leaf, ids in common.items()}
        diffs[start:stop] = _aggregate(shape, b, draw) - _aggregate(shape, a, draw)
    with np.errstate(invalid="ignore"):
        low, high = np.percentile(diffs, [2.5, 97.5])
    return {"mean": mean, "low": float(low), "high": float(high), "n_items": n_items}


def _arrays(shape: Shape, items: Items, ids: Mapping[str, list[int]] | None) -> dict[str, np.ndarray]:
    import numpy as np

    out = {}
    for leaf in shape.tree.leaves():
        values = items.get(leaf, {})
        keys = ids[leaf] if ids is not None else sorted(values)
        out[leaf] = np.array([values[k] for k in keys], dtype=float)
    return out


def _aggregate(shape: Shape, arrays: Mapping[str, np.ndarray], draw: Mapping[str, np.ndarray] | None) -> np.ndarray:
    """The headline per resample (one value when ``draw`` is None): each leaf by the task's
    aggregation, groups by their (size-weighted) mean of the children."""
    import numpy as np

    def leaf_value(name: str) -> tuple[np.ndarray, int]:
        x = arrays[name]
        picked = x[None, :] if draw is None else x[draw[name]]  # [n_resamples, n_items(, 2)]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if shape.aggregation == "mean":
                v = picked.mean(axis=1)
            elif shape.aggregation == "perplexity":
                v = np.exp(-picked.mean(axis=1))
            else:
                ratio = picked[..., 0].sum(axis=1) / picked[..., 1].sum(axis=1)
                v = np.exp(-ratio) if shape.aggregation == "weighted_perplexity" else -ratio / math.log(2)
        return v, len(x)

    def value(node: Node) -> tuple[np.ndarray, int]:
        if not node.children:
            return leaf_value(node.name)
        parts = [value(c) for c in node.children]
        sizes = np.array([n if node.weight_by_size else 1 for _, n in parts], dtype=float)
        total = sum((v * w for (v, _), w in zip(parts, sizes, strict=True)), np.zeros_like(parts[0][0]))
        return total / sizes.sum(), sum(n for _, n in parts)

    return value(shape.tree)[0]


def items_to_json(items: Items) -> dict[str, list[list[Any]]]:
    """Items as JSON: per task, [doc_id, value] rows (a pair value as a two-element list)."""
    return {leaf: [[k, list(v) if isinstance(v, tuple) else v] for k, v in sorted(rows.items())]
            for leaf, rows in items.items()}  # fmt: skip


def items_from_json(data: Any) -> Items:
    """The inverse of `items_to_json`; raises ValueError on anything else."""
    if not isinstance(data, dict):
        raise ValueError("items: not an object")
    out: Items = {}
    for leaf, rows in data.items():
        got: dict[int, Value] = {}
        for doc_id, v in rows:
            got[int(doc_id)] = (float(v[0]), float(v[1])) if isinstance(v, list) and len(v) == 2 else float(v)
        out[str(leaf)] = got
    return out
