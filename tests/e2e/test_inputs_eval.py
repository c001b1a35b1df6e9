"""``rys-gguf eval`` on every task shape lm-eval runs, end to end on tiny models and local tasks.

Each case runs the command line in process on a tiny llama model and an RYS build of it, with
local task YAMLs (``helpers.lmtasks``): a generative task scored after a filter list (GSM8K's
shape), a rolling log-likelihood task (wikitext's perplexities), groups of two tasks (MMLU's and
BBH's shape), a task YAML with a syntax error, and an RYS run that fails after the source's.
``KINDS`` lists the cases per kind of the bad-input corpus (kind 1: task shapes eval did not know,
and the source's results lost when the RYS run failed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import CliRunner
from helpers.lmtasks import MC_DOCS, write_filtered, write_group, write_mc, write_rolling, write_task
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf.prove.eval as eval_job
from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.errors import LlamaError

pytest.importorskip("lm_eval")

KINDS = {
    1: [
        "filtered",
        "rolling",
        "group",
        "group-unweighted",
        "all-shapes-at-once",
        "group-without-aggregate",
        "corpus-metric-refused",
        "broken-yaml",
        "broken-yaml-group",
        "rys-fails-source-kept",
        "stale-source-measured-again",
    ],
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("models")
    src = write_tiny_model(folder / "m.gguf", TinySpec("llama", n_layers=3))
    rys = folder / "rys.gguf"
    build(src, rys, "1,2")
    return src, rys


def run(models: tuple[Path, Path], out: Path, *tasks: Path) -> tuple[int, str]:
    src, rys = models
    args = ["eval", str(src), str(rys), "--tasks", ",".join(map(str, tasks)), "--out", str(out), "--threads", "1"]
    r = CliRunner().invoke(app, [*args, "-q"])
    return r.exit_code, r.output


def scored(models: tuple[Path, Path], tmp_path: Path, *tasks: Path) -> list[dict[str, Any]]:
    code, output = run(models, tmp_path / "out", *tasks)
    assert code == 0, output
    assert "Traceback" not in output
    data = json.loads((tmp_path / "out" / "eval.json").read_text())
    for t in data["tasks"]:
        d = t["diff"]["rys"]
        assert d["low"] <= d["mean"] <= d["high"] and d["n_items"] == t["n_items"]
        assert d["mean"] == pytest.approx(t["scores"]["rys"] - t["scores"]["source"])  # lm-eval's own scores
    return data["tasks"]  # type: ignore[no-any-return]


def filtered(models: tuple[Path, Path], tmp_path: Path) -> None:
    (t,) = scored(models, tmp_path, write_filtered(tmp_path / "tasks"))
    assert (t["task"], t["metric"], t["filter"], t["n_items"]) == ("lm_filtered", "exact_match", "strict-match", 3)
    assert "exact\\_match (strict-match)" in (tmp_path / "out" / "report.md").read_text()


def rolling(models: tuple[Path, Path], tmp_path: Path) -> None:
    (t,) = scored(models, tmp_path, write_rolling(tmp_path / "tasks"))
    assert (t["metric"], t["higher_is_better"], t["n_items"]) == ("word_perplexity", False, 3)
    assert all(v > 1 for v in t["scores"].values())  # a perplexity, not a log-likelihood
    assert "word\\_perplexity, lower is better" in (tmp_path / "out" / "report.md").read_text()


def group(models: tuple[Path, Path], tmp_path: Path) -> None:
    (t,) = scored(models, tmp_path, write_group(tmp_path / "tasks"))
    assert (t["task"], t["metric"], t["n_items"]) == ("lm_group", "acc", 5)


def group_unweighted(models: tuple[Path, Path], tmp_path: Path) -> None:
    (t,) = scored(models, tmp_path, write_group(tmp_path / "tasks", "plain", weight_by_size=False))
    assert (t["task"], t["n_items"]) == ("plain", 5)


def group_without_aggregate(models: tuple[Path, Path], tmp_path: Path) -> None:
    path = write_group(tmp_path / "tasks", "tagged")
    path.write_text(path.read_text().split("aggregate_metric_list")[0])  # no group score: each task alone
    tasks = scored(models, tmp_path, path)
    assert [(t["task"], t["n_items"]) for t in tasks] == [("tagged_a", 2), ("tagged_b", 3)]


def corpus_metric_refused(models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = spy(monkeypatch)
    body = 'output_type: multiple_choice\ndoc_to_text: "{{q}}"\ndoc_to_choice: "{{c}}"\ndoc_to_target: "{{a}}"\n'
    path = write_task(tmp_path / "tasks", "lm_f1", MC_DOCS, body + "metric_list:\n  - metric: f1\n")
    code, output = run(models, tmp_path / "out", path)
    assert code == 2 and output.count("\n") == 1, output
    assert "lm-eval task 'lm_f1': metric 'f1' aggregates with 'f1' over the whole corpus" in output
    assert ran == [], "a model ran before the task was refused"


def all_shapes_at_once(models: tuple[Path, Path], tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    paths = [write_mc(folder), write_filtered(folder), write_rolling(folder), write_group(folder)]
    tasks = scored(models, tmp_path, *paths)
    assert [t["task"] for t in tasks] == ["lm_mc", "lm_filtered", "lm_rolling", "lm_group"]


def broken_yaml(models: tuple[Path, Path], tmp_path: Path) -> None:
    path = write_mc(tmp_path / "tasks")
    path.write_text(path.read_text().replace("test_split: test\n", "test_split: [test\n"))
    code, output = run(models, tmp_path / "out", path)
    assert code == 2, output
    assert output.startswith(f"rys-gguf: error: {path}:7:") and output.count("\n") == 1, output
    assert "while parsing a flow sequence from line 6" in output  # where the bracket opened
    assert "not valid YAML" in output and "fix the task file at that line" in output
    assert not (tmp_path / "out").exists()


def broken_yaml_group(models: tuple[Path, Path], tmp_path: Path) -> None:
    path = write_group(tmp_path / "tasks")
    path.write_text(path.read_text().replace("task:\n", "task:\n\t- x\n"))  # a tab: YAML refuses it
    code, output = run(models, tmp_path / "out", path)
    assert code == 2, output
    assert output.startswith(f"rys-gguf: error: {path}:3:") and output.count("\n") == 1, output


def spy(monkeypatch: pytest.MonkeyPatch, fail_on: Path | None = None) -> list[Path]:
    """Record which models lm-eval runs on; ``fail_on`` fails as llama.cpp would."""
    ran, real = [], eval_job.evaluate

    def evaluate(path: Path, *args: Any, **kwargs: Any) -> Any:
        ran.append(Path(path))
        if path == fail_on:
            raise LlamaError(f"{path}: llama.cpp cannot load this model (injected)")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(eval_job, "evaluate", evaluate)
    return ran


def rys_fails_source_kept(models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, rys = models
    task = write_rolling(tmp_path / "tasks")
    ran = spy(monkeypatch, fail_on=rys)
    code, output = run(models, tmp_path / "out", task)
    error = output.splitlines()[-1]  # after the line on CPU weight repacking
    assert code == 2 and ran == [src, rys] and error.startswith(f"rys-gguf: error: {rys}: "), output
    kept_line = f"the source's results are kept in {tmp_path / 'out' / eval_job.SOURCE_FILE}: a rerun evaluates only"
    assert "(injected)" in error and kept_line in error and "Traceback" not in output
    kept = json.loads((tmp_path / "out" / eval_job.SOURCE_FILE).read_text())
    assert [len(row[1]) for row in kept["items"]["lm_rolling"]["lm_rolling"]] == [2, 2, 2]  # (loglik, words)
    ran.clear()
    monkeypatch.undo()
    ran = spy(monkeypatch)
    (t,) = scored(models, tmp_path, task)
    assert ran == [rys], "the source was measured again"
    assert t["scores"]["source"] == kept["scores"]["lm_rolling"]


def stale_source_measured_again(models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, rys = models
    task = write_filtered(tmp_path / "tasks")
    scored(models, tmp_path, task)
    ran = spy(monkeypatch)
    task.write_text(task.read_text().replace("max_gen_toks: 6", "max_gen_toks: 4"))  # another task now
    scored(models, tmp_path, task)
    assert ran == [src, rys]
    ran.clear()
    scored(models, tmp_path, task)
    assert ran == [rys]


CASES: dict[str, Callable[..., None]] = {
    "filtered": filtered,
    "rolling": rolling,
    "group": group,
    "group-unweighted": group_unweighted,
    "group-without-aggregate": group_without_aggregate,
    "corpus-metric-refused": corpus_metric_refused,
    "all-shapes-at-once": all_shapes_at_once,
    "broken-yaml": broken_yaml,
    "broken-yaml-group": broken_yaml_group,
    "rys-fails-source-kept": rys_fails_source_kept,
    "stale-source-measured-again": stale_source_measured_again,
}


def test_every_kind_lists_real_cases() -> None:
    listed = [case for cases in KINDS.values() for case in cases]
    assert sorted(listed) == sorted(CASES)


@pytest.mark.llama
@pytest.mark.parametrize("case", list(CASES))
def test_eval_input(case: str, models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fn = CASES[case]
    if "monkeypatch" in fn.__code__.co_varnames[: fn.__code__.co_argcount]:
        fn(models, tmp_path, monkeypatch)
    else:
        fn(models, tmp_path)
