"""rys-gguf eval: lm-evaluation-harness tasks through our runner, offline on local tasks.

The tasks are written by the fixture (a YAML file and a JSONL data file each): one scored by
loglikelihood (multiple choice), one generative (exact match after greedy decoding).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.brokenfiles import small_gguf
from helpers.cli import CliRunner
from helpers.sweeps import FAST

from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.errors import ProbeError
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.llama.runner import open_model
from rys_gguf.prove.eval import evaluate, task_manager

pytest.importorskip("lm_eval")

RUNTIME = RuntimeOptions(n_threads=2)
MC = [
    ("What color is the sky on a clear day?", ["blue", "green", "red"], 0),
    ("How many legs does a spider have?", ["six", "eight", "four"], 1),
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris"], 2),
    ("Which animal says moo?", ["cow", "cat", "dog"], 0),
    ("What is two plus two?", ["three", "five", "four"], 2),
    ("Which of these is a fruit?", ["carrot", "apple", "potato"], 1),
]
GEN = [("2 + 3 =", "5"), ("10 - 4 =", "6"), ("3 * 3 =", "9"), ("The opposite of hot is", "cold")]


def write_task(folder: Path, name: str, docs: list[dict[str, object]], body: str) -> Path:
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    path = folder / f"{name}.yaml"
    path.write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n{body}"
    )
    return path


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tasks")
    mc = write_task(
        folder,
        "rys_mc",
        [{"question": q, "choices": c, "answer": a} for q, c, a in MC],
        'output_type: multiple_choice\ndoc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\ndoc_to_target: "{{answer}}"\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n",
    )
    gen = write_task(
        folder,
        "rys_gen",
        [{"prompt": p, "answer": a} for p, a in GEN],
        'output_type: generate_until\ndoc_to_text: "{{prompt}}"\ndoc_to_target: "{{answer}}"\n'
        'generation_kwargs:\n  until: ["\\n", "."]\n  max_gen_toks: 8\n'
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
        '    ignore_case: true\n    regexes_to_ignore:\n      - "\\\\s"\n',
    )
    return {"mc": mc, "gen": gen}


def test_an_unknown_task_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "m.gguf"
    src.write_bytes(small_gguf()[0])  # the models are checked first: they must be real GGUFs
    r = CliRunner().invoke(app, ["eval", str(src), str(src), "--tasks", "no_such_task_anywhere"])
    assert r.exit_code == 2
    assert r.output == (
        "rys-gguf: error: unknown lm-eval task 'no_such_task_anywhere'; give a task name lm-eval knows "
        "(lm-eval ls tasks) or the path of a task YAML file\n"
    )


def test_the_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tasks: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    with pytest.raises(ProbeError, match=r"pip install 'rys-gguf\[eval\]'"):
        task_manager([str(tasks["mc"])])


def test_give_a_pair_or_a_sweep(tmp_path: Path, tasks: dict[str, Path]) -> None:
    r = CliRunner().invoke(app, ["eval", "--tasks", str(tasks["mc"])])
    assert r.exit_code == 2 and "give SRC and RYS, or --sweep DIR alone" in r.output


@pytest.mark.llama
def test_loglikelihood_is_the_sum_of_our_token_log_probabilities(smollm2_path: Path) -> None:
    context, continuation = "Question: What is the capital of France?\nAnswer:", " Paris"
    with open_model(smollm2_path, RUNTIME) as model:
        got, greedy = model.loglikelihood(context, continuation)
        whole = model.tokenize(context + continuation)
        n_context = len(model.tokenize(context))
        logits = model.token_logits(context + continuation).astype(np.float64)
    logp = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    want = sum(logp[k - 1, whole[k]] for k in range(n_context, len(whole)))
    assert got == pytest.approx(want, abs=1e-6)
    assert greedy == all(int(np.argmax(logits[k - 1])) == whole[k] for k in range(n_context, len(whole)))
    assert got < 0


def test_batched_and_sequential_generation_score_alike(smollm2_path: Path, tasks: dict[str, Path]) -> None:
    manager, names = task_manager([str(tasks["gen"])])
    batched = evaluate(smollm2_path, manager, names, RUNTIME)
    sequential = evaluate(smollm2_path, manager, names, RUNTIME, sequential=True)
    assert batched.items == sequential.items and len(batched.items["rys_gen"]["rys_gen"]) == len(GEN)


def test_source_vs_rys_on_both_local_tasks(smollm2_path: Path, tasks: dict[str, Path], tmp_path: Path) -> None:
    rys = tmp_path / "rys.gguf"
    build(smollm2_path, rys, "10,14")
    out = tmp_path / "eval"
    r = CliRunner().invoke(
        app,
        ["eval", str(smollm2_path), str(rys), "--tasks", f"{tasks['mc']},{tasks['gen']}", "--out", str(out),
         "--threads", "2", "-q"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads((out / "eval.json").read_text())
    assert [t["task"] for t in data["tasks"]] == ["rys_mc", "rys_gen"]
    mc, gen = data["tasks"]
    assert mc["metric"] == "acc" and gen["metric"] == "exact_match"
    assert mc["n_items"] == len(MC) and gen["n_items"] == len(GEN)
    for t in data["tasks"]:
        assert set(t["scores"]) == {"source", "rys"} and all(0 <= v <= 1 for v in t["scores"].values())
        d = t["diff"]["rys"]
        assert d["low"] <= d["mean"] <= d["high"]
        assert d["mean"] == pytest.approx(t["scores"]["rys"] - t["scores"]["source"])
    assert "## Real benchmarks" in (out / "report.md").read_text()
    assert f"| rys\\_mc | acc | {len(MC)} |" in r.output  # the table, its Markdown escapes kept


@pytest.mark.llama
@pytest.mark.procs
def test_the_best_configs_of_a_sweep(tmp_path: Path, tasks: dict[str, Path]) -> None:
    from helpers.tinymodels import TinySpec, write_tiny_model

    from rys_gguf.scan.sweep import run_scan

    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    sweep = tmp_path / "sweep"
    run_scan(src, sweep, FAST)
    data = run_eval_sweep(sweep, tasks["mc"])
    assert len(data["models"]) == 2 and all(m["label"] for m in data["models"])
    assert "## Real benchmarks" in (sweep / "report.md").read_text()
    assert not list(sweep.glob(".eval-models*")), "the built models were left behind"


def run_eval_sweep(sweep: Path, task: Path) -> dict[str, object]:
    r = CliRunner().invoke(app, ["eval", "--sweep", str(sweep), "--top", "2", "--tasks", str(task), "--threads", "1"])
    assert r.exit_code == 0, r.output
    return json.loads((sweep / "eval.json").read_text())  # type: ignore[no-any-return]
