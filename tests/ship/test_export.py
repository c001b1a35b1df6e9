"""Ollama Modelfiles and LM Studio folders for tiny models; `ollama` is a fake script on PATH."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from gguf import GGUFReader
from helpers.cli import CliRunner
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.builder.job import build
from rys_gguf.builder.layout import BuildOptions
from rys_gguf.cli import app
from rys_gguf.errors import ExportError
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.plan import format_layer_path
from rys_gguf.ship import lmstudio
from rys_gguf.ship.lmstudio import LMStudioOptions, export_lmstudio
from rys_gguf.ship.ollama import prepare_ollama
from rys_gguf.ship.templates import (
    FAMILIES,
    chat_family,
    match_template,
    ollama_messages,
    render_family,
    render_jinja,
)

# The usual jinja templates of the three families written as Go TEMPLATEs, and one that is not.
JINJA = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "gemma": "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = "
    "messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}"
    '{%- set first_user_prefix = "" -%}{%- set loop_messages = messages -%}{%- endif -%}'
    "{%- for message in loop_messages -%}{%- if (message['role'] == 'assistant') -%}"
    "{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}",
}
MISTRAL = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
# SmolLM2-Instruct's template: ChatML that writes its own system turn when a chat brings none.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def tiny(folder: Path, name: str = "tiny.gguf", template: str | None = None) -> Path:
    extra = {"tokenizer.chat_template": template} if template else None
    return write_tiny_model(folder / name, TinySpec("llama"), extra_kv=extra)


def fake_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int = 0) -> Path:
    """An `ollama` script first on PATH that records its argv (one JSON list per call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ollama-calls.jsonl"
    script = bin_dir / "ollama"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\nsys.exit({code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_format_layer_path() -> None:
    assert format_layer_path([0, 1, 2, 3, 2, 3, 4, 5]) == "0-3, 2-5"
    assert format_layer_path([5, 4, 3]) == "5, 4, 3"
    assert format_layer_path([0, 1, 1, 2]) == "0-1, 1-2"


@pytest.mark.parametrize(("template", "family"), [*((t, f) for f, t in JINJA.items()), (MISTRAL, None), (None, None)])
def test_chat_family(template: str | None, family: str | None) -> None:
    assert chat_family(template) == family


def test_token_texts_match_gguf_py(tmp_path: Path) -> None:
    path = tiny(tmp_path)
    tokens = GGUFReader(path).fields["tokenizer.ggml.tokens"].contents()
    with GGUFModel(path) as model:
        got = model.first.strings_at("tokenizer.ggml.tokens", [293, 0, 2, 100, 999_999])
    assert got == {i: tokens[i] for i in (0, 2, 100, 293)}


def test_modelfile_for_chatml_model(tmp_path: Path) -> None:
    src = tiny(tmp_path, template=JINJA["chatml"])
    rys = tmp_path / "tiny-rys.gguf"
    build(src, rys, "2,4")
    job = prepare_ollama(rys, "tiny-rys:2-4")
    assert job.family == "chatml"
    assert job.modelfile == tmp_path / "tiny-rys.Modelfile"
    assert job.command == ("ollama", "create", "tiny-rys:2-4", "-f", str(job.modelfile))
    text = job.text
    assert "# RYS:      config 2,4: 6 -> 8 layers, source layers 0-3, 2-5" in text
    assert "\nFROM ./tiny-rys.gguf\n" in text
    assert f'\nTEMPLATE """{FAMILIES["chatml"].go}"""\n' in text
    stops = [line for line in text.splitlines() if line.startswith("PARAMETER stop")]
    assert stops == [f'PARAMETER stop "{s}"' for s in ("</s>", "<|im_end|>", "<|im_start|>")]
    assert "PARAMETER temperature 0.7" in text
    assert "PARAMETER num_ctx 256" in text  # the tiny model's context, under the 8192 cap


def test_modelfile_without_template_and_with_unknown_template(tmp_path: Path) -> None:
    plain = prepare_ollama(tiny(tmp_path, "plain.gguf"))
    assert plain.family is None and "TEMPLATE" not in plain.text
    assert "a base model" in plain.template_note
    assert "# RYS:      none recorded" in plain.text
    assert plain.stops == ("</s>",)
    assert plain.name == "plain"
    other = prepare_ollama(tiny(tmp_path, "Mistral Thing.gguf", template=MISTRAL))
    assert other.family is None and "TEMPLATE" not in other.text
    assert "left to Ollama" in other.template_note
    assert other.name == "mistral-thing"
    assert '\nFROM "./Mistral Thing.gguf"\n' in other.text  # a space would end an unquoted value
    chat = tiny(tmp_path, "chat.gguf", template=JINJA["llama3"])
    assert "TEMPLATE" not in prepare_ollama(chat, template=False).text
    assert "<|eot_id|>" in prepare_ollama(chat).stops


def test_modelfile_reads_sampling_recommendations(tmp_path: Path) -> None:
    src = write_tiny_model(
        tmp_path / "s.gguf",
        TinySpec("llama"),
        extra_kv={
            "general.sampling.temp": 1.0,
            "general.sampling.top_k": 64,
            "llama.context_length": 131072,
        },
    )
    text = prepare_ollama(src).text
    assert "PARAMETER temperature 1\n" in text and "PARAMETER top_k 64\n" in text
    assert "PARAMETER num_ctx 8192\n" in text


@pytest.fixture(scope="module")
def go_renderer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Go program that executes a template as Ollama does for .Messages templates."""
    if shutil.which("go") is None:
        pytest.skip("Go is not installed")
    folder = tmp_path_factory.mktemp("gorender")
    (folder / "main.go").write_text(
        'package main\nimport ("encoding/json"; "os"; "text/template")\n'
        "type Message struct { Role string; Content string }\n"
        "func main() {\n var in struct { Template string; System string; Messages []*Message }\n"
        " if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil { panic(err) }\n"
        ' t := template.Must(template.New("").Option("missingkey=zero").Parse(in.Template))\n'
        ' values := map[string]any{"System": in.System, "Messages": in.Messages}\n'
        " if err := t.Execute(os.Stdout, values); err != nil { panic(err) }\n}\n"
    )
    subprocess.run(["go", "build", "-o", "render", "main.go"], cwd=folder, check=True)
    return folder / "render"


CHATS = [
    [("user", "Hi there")],
    [("system", "Be brief."), ("user", "Hi there")],
    [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "2+2?")],
    [("user", "Hi"), ("assistant", "Hello!"), ("user", "Again")],
]


@pytest.mark.procs  # builds and runs a Go program
@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("system", [None, "Default."])
def test_go_templates_render_as_their_python_twins(go_renderer: Path, family: str, system: str | None) -> None:
    """The real Go renderer on the messages Ollama hands a template, SYSTEM default included."""
    for chat in CHATS:
        joined, messages = ollama_messages(chat, system)
        payload = {
            "Template": FAMILIES[family].go,
            "System": joined,
            "Messages": [{"Role": r, "Content": c} for r, c in messages],
        }
        got = subprocess.run([go_renderer], input=json.dumps(payload), capture_output=True, text=True, check=True)
        assert got.stdout == render_family(family, chat, system)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_renders_its_usual_jinja(family: str) -> None:
    assert match_template(JINJA[family]).family == family
    assert match_template(JINJA[family]).system is None


def test_a_template_that_writes_its_own_system_turn_gets_it_as_system() -> None:
    found = match_template(SMOLLM2)
    assert (found.family, found.system) == ("chatml", SMOLLM2_SYSTEM)
    for chat in CHATS:  # with that SYSTEM, Ollama's input renders what the jinja renders
        assert render_family("chatml", chat, found.system) == render_jinja(SMOLLM2, chat)
    assert render_family("chatml", CHATS[0]).startswith("<|im_start|>user")  # without it, not


@pytest.mark.parametrize(
    ("template", "why"),
    [
        (JINJA["chatml"].replace("'<|im_start|>assistant\n'", "'<|im_start|>assistant\n\n'"), "differently"),
        ("{{ raise_exception('no') }}<|im_start|><|im_end|>", "fails to render"),
        (JINJA["gemma"].replace("+ '\n\n'", "+ '\n'"), "a system+user chat differently"),
    ],
)
def test_a_family_lookalike_that_renders_otherwise_is_not_written(tmp_path: Path, template: str, why: str) -> None:
    found = match_template(template)
    assert found.family is None and found.mismatch is not None and why in found.mismatch
    job = prepare_ollama(tiny(tmp_path, template=template))
    assert job.family is None and "TEMPLATE" not in job.text
    (warning,) = job.warnings
    assert why in warning and "chatml, llama3, gemma" in warning


def test_modelfile_writes_the_default_system_prompt(tmp_path: Path) -> None:
    job = prepare_ollama(tiny(tmp_path, template=SMOLLM2))
    assert job.family == "chatml" and job.warnings == ()
    assert f'\nSYSTEM """{SMOLLM2_SYSTEM}"""\n' in job.text
    assert "SYSTEM" not in prepare_ollama(tiny(tmp_path, "plain-chatml.gguf", template=JINJA["chatml"])).text


def test_split_model_instructions(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    first = write_tiny_model(folder / "tiny.gguf", TinySpec("llama"), split_max_tensors=20)
    assert first.name == "tiny-00001-of-00003.gguf"
    job = prepare_ollama(first)
    assert job.modelfile == folder / "tiny.Modelfile"
    assert "\nFROM .\n" in job.text
    (note,) = job.notes
    assert "3 shards" in note and "0.30" in note
    assert "llama-gguf-split --merge tiny-00001-of-00003.gguf tiny.gguf" in note
    assert job.warnings == ()
    shutil.copy(first, folder / "other.gguf")
    (warning,) = prepare_ollama(first).warnings
    assert "other.gguf" in warning and "folder of their own" in warning


def test_ollama_warns_about_swa_array(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "g.gguf", TinySpec("gemma3"))
    build(src, tmp_path / "array.gguf", "2,3", options=BuildOptions(write_swa_pattern=True))
    build(src, tmp_path / "period.gguf", "0,6")
    (warning,) = prepare_ollama(tmp_path / "array.gguf").warnings
    assert "sliding_window_pattern" in warning and "b10488" in warning
    assert prepare_ollama(tmp_path / "period.gguf").warnings == ()
    result = CliRunner().invoke(app, ["ollama", str(tmp_path / "array.gguf")])
    assert result.exit_code == 0 and "warning: gemma3.attention.sliding_window_pattern" in result.output


def test_cli_ollama_prints_command_and_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(tmp_path, template=JINJA["gemma"])
    log = fake_ollama(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["ollama", str(model), "--name", "tiny-rys"])
    assert result.exit_code == 0, result.output
    modelfile = tmp_path / "tiny.Modelfile"
    assert f"ollama create tiny-rys -f {modelfile}" in result.output
    assert "gemma" in result.output and modelfile.read_text().startswith("# Ollama Modelfile")
    assert not log.exists()


@pytest.mark.procs
def test_cli_ollama_create_runs_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(tmp_path)
    log = fake_ollama(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["ollama", str(model), "-n", "tiny:v1", "--create"])
    assert result.exit_code == 0, result.output
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["create", "tiny:v1", "-f", str(tmp_path / "tiny.Modelfile")]]


@pytest.mark.procs
def test_cli_ollama_create_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["ollama", str(model), "--create"])
    assert result.exit_code == 2
    assert "ollama is not on PATH" in result.output and "ollama create tiny -f" in result.output
    assert (tmp_path / "tiny.Modelfile").exists()  # ready for the command to run later
    monkeypatch.setenv("PATH", os.defpath)
    fake_ollama(tmp_path, monkeypatch, code=3)
    result = CliRunner().invoke(app, ["ollama", str(model), "--create"])
    assert result.exit_code == 2 and "exit code 3" in result.output


def test_cli_ollama_refuses_bad_names_and_foreign_modelfiles(tmp_path: Path) -> None:
    model = tiny(tmp_path)
    result = CliRunner().invoke(app, ["ollama", str(model), "--name", "no spaces"])
    assert result.exit_code == 2 and "--name 'no spaces'" in result.output
    (tmp_path / "tiny.Modelfile").write_text("FROM llama3\n")
    result = CliRunner().invoke(app, ["ollama", str(model)])
    assert result.exit_code == 2 and "--force" in result.output
    assert (tmp_path / "tiny.Modelfile").read_text() == "FROM llama3\n"
    assert CliRunner().invoke(app, ["ollama", str(model), "--force"]).exit_code == 0
    assert CliRunner().invoke(app, ["ollama", str(model)]).exit_code == 0  # same text again


def test_lmstudio_hard_link_layout(tmp_path: Path) -> None:
    model = tiny(tmp_path, "tiny-rys.gguf")
    root = tmp_path / "lms"
    result = CliRunner().invoke(app, ["lmstudio", str(model), "--root", str(root), "-p", "me"])
    assert result.exit_code == 0, result.output
    placed = root / "me" / "tiny-rys" / "tiny-rys.gguf"
    assert placed.samefile(model) and os.stat(model).st_nlink == 2
    assert "me/tiny-rys" in result.output
    again = CliRunner().invoke(app, ["lmstudio", str(model), "--root", str(root), "-p", "me"])
    assert again.exit_code == 0  # already linked: nothing to do


def test_lmstudio_copy_env_root_and_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(tmp_path)
    monkeypatch.setenv("LMSTUDIO_MODELS_DIR", str(tmp_path / "env-root"))
    done = export_lmstudio(model, LMStudioOptions(name="copy", copy=True))
    placed = tmp_path / "env-root" / "rys-gguf" / "copy" / "tiny.gguf"
    assert done.files == (placed,) and done.copied
    assert not placed.samefile(model) and placed.read_bytes() == model.read_bytes()
    (tmp_path / "elsewhere").mkdir()
    other = tiny(tmp_path / "elsewhere")  # another file of the same name
    with pytest.raises(ExportError, match="--force"):
        export_lmstudio(other, LMStudioOptions(name="copy"))
    export_lmstudio(other, LMStudioOptions(name="copy", force=True))
    assert placed.samefile(other)


def test_lmstudio_split_model_links_every_shard(tmp_path: Path) -> None:
    first = write_tiny_model(tmp_path / "tiny.gguf", TinySpec("llama"), split_max_tensors=20)
    done = export_lmstudio(first, LMStudioOptions(root=tmp_path / "lms"))
    assert done.folder == tmp_path / "lms" / "rys-gguf" / "tiny"
    names = sorted(p.name for p in done.folder.iterdir())
    assert names == [f"tiny-0000{k}-of-00003.gguf" for k in (1, 2, 3)]
    assert all((done.folder / n).samefile(tmp_path / n) for n in names)


def test_lmstudio_across_filesystems_suggests_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(tmp_path)

    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(lmstudio.os, "link", no_link)
    result = CliRunner().invoke(app, ["lmstudio", str(model), "--root", str(tmp_path / "lms")])
    assert result.exit_code == 2 and "--copy" in result.output
    assert not (tmp_path / "lms").exists()  # no temporary, and no folder the refused export made
    result = CliRunner().invoke(app, ["lmstudio", str(model), "--root", str(tmp_path / "lms"), "--copy", "-q"])
    assert result.exit_code == 0 and "copied 1 file(s)" in result.output
    with pytest.raises(ExportError, match="one folder name"):
        export_lmstudio(model, LMStudioOptions(publisher="a/b", root=tmp_path / "lms"))
