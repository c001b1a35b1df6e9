"""lm-eval's results read per task shape, and the paired intervals that aggregate as lm-eval does.

The structures are lm-eval 0.4's own: ``results[task]["metric,filter"]``, one sample per
(doc, filter) with the metric's per-item value (a float, or a (loglik, weight) pair for the
rolling perplexities), groups reported beside their tasks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from helpers.lmtasks import write_filtered, write_group, write_mc, write_rolling

from rys_gguf.errors import ProbeError
from rys_gguf.prove.lmresults import (
    Node,
    Shape,
    ShapeError,
    compare,
    headline,
    items_from_json,
    items_to_json,
    pick_headline,
    read_run,
)

EXACT = Shape("gsm", "exact_match", "strict-match", "mean", True)
WORDS = Shape("wiki", "word_perplexity", "none", "weighted_perplexity", False)
BITS = Shape("wiki", "bits_per_byte", "none", "bits_per_byte", False)
GROUP = Shape("mmlu", "acc", "none", "mean", True, Node("mmlu", (Node("mmlu_a"), Node("mmlu_b"))))


def sample(doc_id: int, filt: str = "none", **metrics: Any) -> dict[str, Any]:
    return {"doc_id": doc_id, "doc": {}, "target": "", "filter": filt, "metrics": list(metrics), **metrics}


def gsm_run(strict: list[float], flexible: list[float]) -> dict[str, Any]:
    samples = [sample(k, "strict-match", exact_match=v) for k, v in enumerate(strict)]
    samples += [sample(k, "flexible-extract", exact_match=v) for k, v in enumerate(flexible)]
    return {
        "results": {
            "gsm": {
                "alias": "gsm",
                "exact_match,strict-match": sum(strict) / len(strict),
                "exact_match_stderr,strict-match": "N/A",
                "exact_match,flexible-extract": sum(flexible) / len(flexible),
                "exact_match_stderr,flexible-extract": "N/A",
            }
        },
        "samples": {"gsm": samples},
    }


def wiki_run(pairs: list[tuple[float, int]]) -> dict[str, Any]:
    ll, words = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return {
        "results": {"wiki": {"word_perplexity,none": math.exp(-ll / words), "bits_per_byte,none": 1.0}},
        "samples": {
            "wiki": [sample(k, word_perplexity=[a, w], bits_per_byte=[a, 4 * w]) for k, (a, w) in enumerate(pairs)]
        },
    }


def test_a_filtered_metric_reads_its_filter_s_items_only() -> None:
    run = read_run(gsm_run([1, 0, 0, 1], [1, 1, 1, 1]), [EXACT])
    assert run.scores == {"gsm": 0.5}
    assert run.items == {"gsm": {"gsm": {0: 1.0, 1: 0.0, 2: 0.0, 3: 1.0}}}


def test_rolling_items_are_pairs_and_the_perplexity_is_lm_eval_s() -> None:
    pairs = [(-20.0, 5), (-31.5, 9), (-8.25, 2)]
    run = read_run(wiki_run(pairs), [WORDS])
    assert run.items["wiki"]["wiki"] == {k: (a, float(w)) for k, (a, w) in enumerate(pairs)}
    assert headline(WORDS, run.items["wiki"]) == pytest.approx(run.scores["wiki"])
    assert headline(BITS, read_run(wiki_run(pairs), [BITS]).items["wiki"]) == pytest.approx(59.75 / 64 / math.log(2))


def test_the_aggregations_match_lm_eval_s_own_functions() -> None:
    metrics = pytest.importorskip("lm_eval.api.metrics")
    pairs = [(-20.0, 5.0), (-31.5, 9.0), (-8.25, 2.0), (-3.0, 1.0)]
    items = {"wiki": dict(enumerate(pairs))}
    assert headline(WORDS, items) == pytest.approx(metrics.weighted_perplexity(pairs))
    assert headline(BITS, items) == pytest.approx(metrics.bits_per_byte(pairs))
    lls = {"t": {0: -1.5, 1: -0.25, 2: -3.0}}
    assert headline(Shape("t", "perplexity", "none", "perplexity", False), lls) == pytest.approx(
        metrics.perplexity([-1.5, -0.25, -3.0])
    )
    a, b = [1.0, 0.0], [0.0, 0.0, 1.0]
    grouped = {"mmlu_a": dict(enumerate(a)), "mmlu_b": dict(enumerate(b))}
    for weight in (True, False):
        shape = Shape("mmlu", "acc", "none", "mean", True, Node("mmlu", (Node("mmlu_a"), Node("mmlu_b")), weight))
        want = metrics.aggregate_subtask_metrics([0.5, 1 / 3], [2, 3], weight_by_size=weight)
        assert headline(shape, grouped) == pytest.approx(want)


def group_run(a: list[float], b: list[float]) -> dict[str, Any]:
    return {
        "results": {
            "mmlu_a": {"acc,none": sum(a) / len(a)},
            "mmlu_b": {"acc,none": sum(b) / len(b)},
            "mmlu": {"acc,none": (sum(a) + sum(b)) / (len(a) + len(b)), "sample_count": {"acc,none": 5}},
        },
        "groups": {"mmlu": {"acc,none": (sum(a) + sum(b)) / (len(a) + len(b))}},
        "group_subtasks": {"mmlu": ["mmlu_a", "mmlu_b"]},
        "samples": {  # keyed by subtask: the group has none of its own
            "mmlu_a": [sample(k, acc=v) for k, v in enumerate(a)],
            "mmlu_b": [sample(k, acc=v) for k, v in enumerate(b)],
        },
    }


def test_a_group_reads_its_subtasks_samples_keyed_by_subtask() -> None:
    run = read_run(group_run([1, 0], [0, 0, 1]), [GROUP])
    assert run.scores == {"mmlu": pytest.approx(0.4)}
    assert run.items["mmlu"] == {"mmlu_a": {0: 1.0, 1: 0.0}, "mmlu_b": {0: 0.0, 1: 0.0, 2: 1.0}}
    assert headline(GROUP, run.items["mmlu"]) == pytest.approx(run.scores["mmlu"])


def test_nested_groups_weigh_each_level() -> None:
    tree = Node("all", (Node("stem", (Node("a"), Node("b"))), Node("c")), weight_by_size=False)
    shape = Shape("all", "acc", "none", "mean", True, tree)
    items = {"a": {0: 1.0}, "b": {0: 0.0, 1: 0.0, 2: 0.0}, "c": {0: 1.0, 1: 0.0}}
    assert headline(shape, items) == pytest.approx((0.25 + 0.5) / 2)  # stem pooled (1 of 4), c alone


def test_the_same_answers_differ_by_nothing() -> None:
    items = read_run(group_run([1, 0], [0, 1, 1]), [GROUP]).items["mmlu"]
    assert compare(GROUP, items, items) == {"mean": 0.0, "low": 0.0, "high": 0.0, "n_items": 5}


def test_the_interval_holds_the_aggregate_s_difference() -> None:
    base = read_run(wiki_run([(-20.0, 5), (-31.5, 9), (-8.25, 2), (-12.0, 4)]), [WORDS]).items["wiki"]
    better = read_run(wiki_run([(-18.0, 5), (-30.0, 9), (-8.0, 2), (-11.0, 4)]), [WORDS]).items["wiki"]
    d = compare(WORDS, base, better, n_boot=2000)
    assert d["mean"] == pytest.approx(headline(WORDS, better) - headline(WORDS, base))
    assert d["high"] < 0 and d["low"] <= d["mean"] <= d["high"]  # lower perplexity on every resample
    assert d["n_items"] == 4


def test_items_are_paired_by_task_and_doc_id() -> None:
    base = {"mmlu_a": {0: 1.0, 1: 0.0}, "mmlu_b": {0: 0.0, 1: 0.0, 2: 1.0}}
    other = {"mmlu_a": {1: 1.0, 0: 1.0}, "mmlu_b": {2: 1.0, 1: 1.0}}  # one item missing, order shuffled
    d = compare(GROUP, base, other)
    assert d["n_items"] == 4
    assert d["mean"] == pytest.approx((2 + 2) / 4 - (1 + 1) / 4)


def test_pick_headline_takes_the_first_metric_and_filter() -> None:
    shape = pick_headline("gsm", ["strict-match", "flexible-extract"], {"exact_match": "mean"}, {"exact_match": True})
    assert (shape.key, shape.higher_is_better, shape.tree) == ("exact_match,strict-match", True, Node("gsm"))
    wiki = pick_headline("wiki", ["none"], {"word_perplexity": "weighted_perplexity"}, {"word_perplexity": False})
    assert not wiki.higher_is_better and wiki.aggregation == "weighted_perplexity"


def test_a_corpus_level_aggregation_is_refused_in_one_line() -> None:
    with pytest.raises(ShapeError, match=r"^lm-eval task 'squad': metric 'f1' aggregates with 'f1'") as info:
        pick_headline("squad", ["none"], {"f1": "f1"}, {"f1": True})
    assert "\n" not in str(info.value)


def test_a_missing_score_or_sample_is_one_line() -> None:
    out = gsm_run([1.0], [1.0])
    with pytest.raises(ProbeError, match="lm-eval reported no 'exact_match,none' for 'gsm'"):
        read_run(out, [Shape("gsm", "exact_match", "none", "mean", True)])
    with pytest.raises(ProbeError, match="lm-eval logged no samples for 'mmlu_b'"):
        read_run({**group_run([1], [1]), "samples": {"mmlu_a": []}}, [GROUP])
    with pytest.raises(ProbeError, match="is float, not what 'weighted_perplexity' aggregates"):
        read_run({**wiki_run([(-1.0, 1)]), "samples": {"wiki": [sample(0, word_perplexity=-1.0)]}}, [WORDS])


def test_items_survive_json() -> None:
    items = {"wiki": {0: (-20.0, 5.0), 3: (-1.5, 1.0)}, "mmlu_a": {1: 1.0, 0: 0.0}}
    assert items_from_json(items_to_json(items)) == items


# -- the shapes of real lm-eval tasks (loaded, not run) ---------------------------------------


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Shape]:
    pytest.importorskip("lm_eval")
    from rys_gguf.prove.eval import task_manager
    from rys_gguf.prove.lmtasks import load_tasks, task_shapes

    folder = tmp_path_factory.mktemp("lmtasks")
    paths = [write_filtered(folder), write_rolling(folder), write_group(folder), write_mc(folder)]
    manager, names = task_manager([str(p) for p in paths])
    return {s.name: s for s in task_shapes(load_tasks(manager, names), names)}


def test_lm_eval_s_tasks_give_their_shapes(shapes: dict[str, Shape]) -> None:
    assert shapes["lm_filtered"] == Shape(
        "lm_filtered", "exact_match", "strict-match", "mean", True, Node("lm_filtered")
    )
    assert shapes["lm_rolling"] == Shape(
        "lm_rolling", "word_perplexity", "none", "weighted_perplexity", False, Node("lm_rolling")
    )
    assert shapes["lm_group"] == Shape(
        "lm_group", "acc", "none", "mean", True, Node("lm_group", (Node("lm_group_a"), Node("lm_group_b")))
    )
    assert shapes["lm_mc"].key == "acc,none"


def test_a_group_without_weights_keeps_that(tmp_path: Path) -> None:
    pytest.importorskip("lm_eval")
    from rys_gguf.prove.eval import task_manager
    from rys_gguf.prove.lmtasks import load_tasks, task_shapes

    manager, names = task_manager([str(write_group(tmp_path, "plain", weight_by_size=False))])
    (shape,) = task_shapes(load_tasks(manager, names), names)
    assert shape.tree == Node("plain", (Node("plain_a"), Node("plain_b")), weight_by_size=False)


def test_a_lower_perplexity_reads_as_better() -> None:
    from rys_gguf.report.tables import eval_markdown

    def table(higher: bool, diff: tuple[float, float, float]) -> str:
        task = {"task": "wiki", "metric": "word_perplexity", "filter": "none", "higher_is_better": higher,
                "n_items": 3, "scores": {"source": 20.0, "rys": 18.0},
                "diff": {"rys": dict(zip(("mean", "low", "high"), diff, strict=True))}}  # fmt: skip
        return eval_markdown({"source": "m.gguf", "models": [{"label": "rys"}], "limit": None, "tasks": [task]})

    assert "word\\_perplexity, lower is better" in table(False, (-2.0, -3.0, -1.0))
    assert table(False, (-2.0, -3.0, -1.0)).endswith("better |")
    assert table(False, (2.0, 1.0, 3.0)).endswith("worse |")
    assert table(True, (-2.0, -3.0, -1.0)).endswith("worse |")  # eval.json before filters and perplexities


def test_the_task_dict_of_lm_eval_before_0_4_10_gives_the_same_tree() -> None:
    from rys_gguf.prove.lmtasks import _structure

    class ConfigurableGroup:  # lm-eval's dict key for a group then: hashed by identity
        def __init__(self, name: str) -> None:
            self.group_name, self.config = name, {"aggregate_metric_list": [{"metric": "acc"}]}

    a, b, c = object(), object(), object()
    inner, outer = ConfigurableGroup("stem"), ConfigurableGroup("all")
    tasks, groups = _structure({outer: {inner: {"a": a, "b": b}, "c": c}})
    assert tasks == {"a": a, "b": b, "c": c}
    assert groups == {"stem": (["a", "b"], [{"metric": "acc"}]), "all": (["stem", "c"], [{"metric": "acc"}])}


def test_a_tag_stands_for_its_tasks(tmp_path: Path) -> None:
    lm_eval_tasks = pytest.importorskip("lm_eval.tasks")
    from rys_gguf.prove.lmtasks import load_tasks, task_shapes

    for name in ("tagged_a", "tagged_b"):
        path = write_mc(tmp_path, name)
        path.write_text(path.read_text().replace(f"task: {name}\n", f"task: {name}\ntag: my_tag\n"))
    manager = lm_eval_tasks.TaskManager(include_path=[str(tmp_path)], include_defaults=False)
    shapes = task_shapes(load_tasks(manager, ["my_tag"]), ["my_tag"])
    assert [(s.name, s.key) for s in shapes] == [("tagged_a", "acc,none"), ("tagged_b", "acc,none")]
