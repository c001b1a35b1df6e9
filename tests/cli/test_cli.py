"""The command line's shape: options declared once, one meaning per short flag, families that build
the library's values, one error boundary, and a start that loads nothing heavy."""

from __future__ import annotations

import errno
import inspect
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import typer
from helpers.cli import CliRunner
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf.builder.inspect as inspect_module
from rys_gguf.cli import app
from rys_gguf.cli.entry import COMMANDS
from rys_gguf.cli.options import (
    GRID,
    PROBES,
    RUNTIME,
    SEARCH,
    WORKERS,
    Family,
    _annotation,
    _family_of,
    checked_number,
    parse_size,
)
from rys_gguf.errors import OptionError
from rys_gguf.ship.lmstudio import DEFAULT_PUBLISHER, LMSTUDIO_ENV
from rys_gguf.ship.verify import N_SAMPLE_TOKENS

CLICK = typer.main.get_command(app)
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
    """(command, flags, help) of every visible option of every command."""
    found = []
    for name, cmd in CLICK.commands.items():  # type: ignore[attr-defined]
        for p in cmd.params:
            if p.param_type_name == "option" and not getattr(p, "hidden", False) and p.name != "help":
                found.append((name, [*p.opts, *p.secondary_opts], p.help or ""))
    return found


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
    """Each parameter of a command's function is an option, an argument, or a family whose
    options the command shows, and each family's options are exactly what its builder takes."""
    for name, cmd in COMMANDS.items():
        shown = {p.name for p in CLICK.commands[name].params}  # type: ignore[attr-defined]
        for p in inspect.signature(cmd.run).parameters.values():
            fam = _family_of(_annotation(cmd.run, p.annotation))
            wanted = {q.name for q in fam.params} if fam else {p.name}
            assert wanted <= shown, (name, p.name)


@pytest.mark.parametrize("fam", [RUNTIME, PROBES, GRID, SEARCH, WORKERS])
def test_a_familys_options_are_what_its_builder_takes(fam: Family) -> None:
    takes = set(inspect.signature(fam.build).parameters)
    assert {q.name for q in fam.params} <= takes


def test_scan_takes_about_ten_parameters() -> None:
    assert len(inspect.signature(COMMANDS["scan"].run).parameters) <= 10


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--gpus", "nan"], "--gpus 'nan'"),
        (["--gpus", "0,0"], "--gpus '0,0'"),
        (["--config-timeout", "0"], "--config-timeout 0"),
        (["--config-timeout", "-1"], "--config-timeout -1"),
        (["--tensor-split", "nan,1"], "--tensor-split 'nan,1'"),
        (["--budget", "-3"], "--budget '-3'"),
        (["--slice", "3/2"], "--slice '3/2'"),
        (["--slice", "1/2", "--shard", "1/2"], "--shard is the old name of --slice"),
        (["--min-parse-rate", "2"], "--min-parse-rate"),
        (["--n-gpu-layers", "-5"], "--n-gpu-layers"),
    ],
)
def test_values_are_checked_where_they_are_parsed(tmp_path: Path, args: list[str], phrase: str) -> None:
    r = CliRunner().invoke(app, ["scan", str(tmp_path / "m.gguf"), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("rys-gguf: error: ") and r.output.count("\n") == 1 and phrase in r.output
    assert not (tmp_path / "o").exists()


def test_a_family_builds_the_librarys_value() -> None:
    from rys_gguf.llama.options import RuntimeOptions

    values: dict[str, Any] = {q.name: q.default for q in RUNTIME.params}
    built = RUNTIME.build(**{**values, "tensor_split": "1,3", "threads": 2})
    assert built == RuntimeOptions(tensor_split=(1.0, 3.0), n_threads=2)
    with pytest.raises(OptionError, match="--tensor-split"):
        RUNTIME.build(**{**values, "tensor_split": "1,x"})


def test_a_stray_os_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama"))

    def denied(model: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(inspect_module, "describe_model", denied)
    r = CliRunner().invoke(app, ["inspect", str(model)])
    assert r.exit_code == 2
    fix = "check the permissions of the file and its folder, or write elsewhere"  # by errno
    assert r.output == f"rys-gguf: error: {tmp_path / 'x'}: Permission denied; {fix}\n"
    monkeypatch.setenv("RYS_DEBUG", "1")
    r = CliRunner().invoke(app, ["inspect", str(model)])
    assert isinstance(r.exception, PermissionError)  # the traceback is kept for debugging


def test_usage_errors_are_one_line_and_exit_2() -> None:
    r = CliRunner().invoke(app, ["build", "--no-such-option"])
    assert r.exit_code == 2
    assert r.output.startswith("rys-gguf: error: ") and r.output.count("\n") == 1
    assert "rys-gguf build --help" in r.output
    r = CliRunner().invoke(app, ["no-such-command"])
    assert r.exit_code == 2 and r.output.count("\n") == 1


def test_help_and_version_exit_0() -> None:
    assert CliRunner().invoke(app, []).exit_code == 0
    r = CliRunner().invoke(app, ["scan", "--help"])
    assert r.exit_code == 0 and "--n-gpu-layers" in r.output
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("rys-gguf ")


def test_help_shows_the_families_as_panels() -> None:
    r = CliRunner().invoke(app, ["scan", "--help"])
    for panel in ("Grid", "Probes", "Runtime (llama.cpp)", "Search", "Build", "Workers"):
        assert panel in r.output


@pytest.mark.procs
def test_shell_completion_is_offered() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rys_gguf", "--show-completion", "bash"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and "complete" in out.stdout and "rys" in out.stdout


@pytest.mark.parametrize(
    ("value", "low", "high", "ok"),
    [(0.5, 0, 1, True), (0.0, 0, 1, True), (1.0, 0, 1, True), (float("nan"), 0, 1, False), (float("inf"), 0, 1, False),
     (-0.1, 0, 1, False), (1e9, 0, float("inf"), True), (float("-inf"), float("-inf"), float("inf"), False)],
)  # fmt: skip
def test_checked_number_refuses_nan_infinity_out_of_range(value: float, low: float, high: float, ok: bool) -> None:
    if ok:
        assert checked_number(value, "--x", low, high) == value
    else:
        with pytest.raises(OptionError, match=r"^--x .*: expected a number (in \[|>= )"):
            checked_number(value, "--x", low, high, example="0.5")


@pytest.mark.parametrize(("text", "n"), [("1", 1), ("50G", 50 * 10**9), ("0.5K", 500), ("0", 0), ("0.5", 0), ("0G", 0)])
def test_sizes_are_at_least_one_byte(text: str, n: int) -> None:
    if n:
        assert parse_size(text) == n
    else:
        with pytest.raises(OptionError, match="expected a size of at least 1 byte"):
            parse_size(text, "--memory")


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "m.gguf", "--min-parse-rate", "nan"],
        ["validate", "sweep", "--min-parse-rate", "nan"],
        ["scan", "m.gguf", "--search-seed", "-1"],
        ["build", "m.gguf", "o.gguf", "-c", "1,2", "--split-max-size", "0"],
    ],
)
def test_option_values_are_checked_before_any_file_is_read(args: list[str]) -> None:
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and args[-2] in r.output, r.output
