"""The command line's shape: options declared once, one meaning per short flag, one error boundary."""

from __future__ import annotations

import errno
from collections import defaultdict
from pathlib import Path

import pytest
import typer.main
from helpers.tinymodels import TinySpec, write_tiny_model
from typer.testing import CliRunner

import rys_gguf.builder.inspect as inspect_module
from rys_gguf.cli import app
from rys_gguf.cli.report import Metric
from rys_gguf.report.metrics import METRICS
from rys_gguf.ship.lmstudio import DEFAULT_PUBLISHER, LMSTUDIO_ENV
from rys_gguf.ship.verify import N_SAMPLE_TOKENS

COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]
# Same flag, another meaning, on purpose: validate re-scores --top configs and reads the large
# EQ sets; quantize's --threads counts quantizing threads; Ollama and LM Studio name different things.
SAME_FLAG_OTHER_HELP = {
    ("validate", "--top"),
    ("validate", "--eq-set"),
    ("quantize", "--threads"),
    ("lmstudio", "--name"),
}


def options() -> list[tuple[str, list[str], str]]:
    return [
        (name, list(p.opts), p.help or "")
        for name, cmd in COMMANDS.items()
        for p in cmd.params
        if p.param_type_name == "option" and p.name != "help"
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


def test_metric_choices_are_the_rankings_metrics() -> None:
    assert tuple(m.value for m in Metric) == METRICS


def test_help_states_the_librarys_defaults() -> None:
    text = {(c, next(x for x in o if x.startswith("--"))): h for c, o, h in options()}
    assert f"default: {N_SAMPLE_TOKENS} tokens" in text[("verify", "--max-tokens")]
    assert f"default: {DEFAULT_PUBLISHER}" in text[("lmstudio", "--publisher")]
    assert f"${LMSTUDIO_ENV}" in text[("lmstudio", "--root")]


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


def test_usage_errors_exit_2() -> None:
    r = CliRunner().invoke(app, ["build", "--no-such-option"])
    assert r.exit_code == 2
