"""The command line's shape: options declared once, one meaning per short flag, one error boundary."""

from __future__ import annotations

import errno
from collections import defaultdict
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf.builder.inspect as inspect_module
from rys_gguf.cli import app
from rys_gguf.cli.command import Group
from rys_gguf.ship.lmstudio import DEFAULT_PUBLISHER, LMSTUDIO_ENV
from rys_gguf.ship.verify import N_SAMPLE_TOKENS

COMMANDS = app.commands
# Same flag, another meaning, on purpose: validate and eval take the --top configs of a sweep,
# validate reads the large EQ sets, eval's --out holds results; Ollama and LM Studio name different things.
SAME_FLAG_OTHER_HELP = {
    ("validate", "--top"),
    ("validate", "--eq-set"),
    ("eval", "--top"),
    ("eval", "--out"),
    ("lmstudio", "--name"),
}


def options() -> list[tuple[str, list[str], str]]:
    return [
        (name, list(p.flags), p.help) for name, cmd in COMMANDS.items() for p in cmd.flat_params if not p.positional
    ]


def test_each_short_flag_means_one_option() -> None:
    meaning: dict[str, set[str]] = defaultdict(set)
    for _, opts, _ in options():
        longs = [o for o in opts if o.startswith("--")]
        for short in (o for o in opts if not o.startswith("--")):
            meaning[short].update(longs)
    assert {s: sorted(m) for s, m in meaning.items() if len(m) > 1} == {}


def test_each_option_has_one_help_text() -> None:
    helps: dict[str, set[str]] = defaultdict(set)
    for command, opts, text in options():
        long = next(o for o in opts if o.startswith("--"))
        if (command, long) not in SAME_FLAG_OTHER_HELP:
            helps[long].add(text.removesuffix(" Without it, no layer is duplicated."))
    assert {o: sorted(h) for o, h in helps.items() if len(h) > 1} == {}


def test_help_states_the_librarys_defaults() -> None:
    text = {(c, next(x for x in o if x.startswith("--"))): h for c, o, h in options()}
    assert f"default: {N_SAMPLE_TOKENS} tokens" in text[("verify", "--max-tokens")]
    assert f"default: {DEFAULT_PUBLISHER}" in text[("lmstudio", "--publisher")]
    assert f"${LMSTUDIO_ENV}" in text[("lmstudio", "--root")]


def test_every_parameter_reaches_its_command() -> None:
    """Each declared parameter is a keyword of the command's function, and nothing is missing."""
    import inspect

    for name, cmd in COMMANDS.items():
        wanted = set(inspect.signature(cmd.run).parameters)
        declared = {p.name for p in cmd.params}  # a group arrives as one value
        assert declared == wanted, name
        for group in (p for p in cmd.params if isinstance(p, Group)):
            assert {q.name for q in group.params} <= set(inspect.signature(group.build).parameters), name


def test_a_stray_os_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama"))

    def denied(model: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(inspect_module, "describe_model", denied)
    r = CliRunner().invoke(app, ["inspect", str(model)])
    assert r.exit_code == 2
    assert r.output == f"rys-gguf: error: {tmp_path / 'x'}: Permission denied\n"
    monkeypatch.setenv("RYS_DEBUG", "1")
    r = CliRunner().invoke(app, ["inspect", str(model)])
    assert isinstance(r.exception, PermissionError)  # the traceback is kept for debugging


def test_usage_errors_are_one_line_and_exit_2() -> None:
    r = CliRunner().invoke(app, ["build", "--no-such-option"])
    assert r.exit_code == 2
    assert r.output.startswith("rys-gguf: error: ") and r.output.count("\n") == 1
    assert "rys-gguf build --help" in r.output


def test_help_and_version_exit_0() -> None:
    assert CliRunner().invoke(app, []).exit_code == 0
    r = CliRunner().invoke(app, ["scan", "--help"])
    assert r.exit_code == 0 and "--n-gpu-layers" in r.output
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("rys-gguf ")
