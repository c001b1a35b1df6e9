"""Sweep folders edited by hand, through every command that reads one: no traceback, no silent change.

A valid sweep of a tiny 6-layer model (written here, with the model's real fingerprint and probe
set, so scan, stack and validate accept it) gets one edit per case, and each command that reads a
sweep folder runs on it. A sweep.json edit is refused: exit 2, one line naming sweep.json, the
field and the fix, nothing written. A results.jsonl edit is skipped and named: a warning names the
line and why, and the result equals the one for the same folder with that line deleted (the
oracle), so no ranking changes in silence. Numpy's warnings (NaN arithmetic) must not appear.
The cases are grouped by kind of bad input (``KINDS``, numbered as in test_inputs_kinds.py);
their ids start with ``k<kind>-``.
"""

from __future__ import annotations

import inspect
import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import CliRunner, Result
from helpers.sweeps import SCAN_ARGS
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.probes import load_probe_set
from rys_gguf.scan.sweep import fingerprint

KINDS = {5: "hand-edited sweep folders (sweep.json fields, results.jsonl rows)"}
N_LAYERS = 6
SWEEP_COMMANDS = ("report", "replay", "merge", "eval", "validate", "stack", "scan")
WORKER_COMMANDS = {"validate", "stack", "scan"}  # they measure configs (the stand-in worker)


# -- the valid sweep ----------------------------------------------------------------------------


def _score(config: str) -> tuple[float, float]:
    """Scores that give a clear ranking (any deterministic numbers would do)."""
    h = sum(ord(c) * (k + 1) for k, c in enumerate(config))
    return (h % 97) / 97, (h % 89) / 89


def _row(config: str, n_layers: int = N_LAYERS, fp: str = "", probes: str = "") -> dict[str, Any]:
    i, j = (int(x) for x in config.split(","))
    m, e = _score(config)
    return {
        "config": config, "block": [i, j], "status": "ok", "reason": None, "n_layers": n_layers + j - i,
        "n_extra": j - i, "math": m, "eq": e, "math_parse_rate": 1.0, "eq_parse_rate": 1.0,
        "items": {"math": [1.0, 0.0], "eq": [0.5, 0.5]}, "timings": {"load_s": 0.0, "probe_s": 0.0, "wall_s": 0.1},
        "model_fingerprint": fp, "probe_set_hash": probes, "finished": "2026-01-01T00:00:01Z",
    }  # fmt: skip


def make_sweep(root: Path) -> Path:
    """A complete --max-block 1 sweep of a tiny 6-layer model at root/model.gguf, in root/sweep."""
    model = write_tiny_model(root / "model.gguf", TinySpec("llama", n_layers=N_LAYERS))
    probes = load_probe_set(math="search", eq="builtin", n_eq=2)  # helpers.sweeps.FAST's probes
    with GGUFModel(model) as m:
        fp = fingerprint(m)
    folder = root / "sweep"
    folder.mkdir()
    meta = {
        "format": 1, "tool_version": "0.1.0",
        "model": {"path": str(model.resolve()), "name": "tiny", "architecture": "llama", "n_layers": N_LAYERS,
                  "n_bytes": model.stat().st_size, "fingerprint": fp},
        "probe_set": {"hash": probes.hash, **probes.description},
        "runtime": {"n_threads": 1}, "build": {"write_swa_pattern": False}, "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    (folder / "sweep.json").write_text(json.dumps(meta, indent=2))
    configs = ["0,0", *(f"{i},{i + 1}" for i in range(N_LAYERS))]
    lines = [json.dumps(_row(c, fp=fp, probes=probes.hash)) for c in configs]
    (folder / "results.jsonl").write_text("".join(line + "\n" for line in lines))
    (folder / "skipped.json").write_text(json.dumps({"count": 0, "configs": {}}))
    return folder


# -- the edits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hand edit: ``meta`` edits sweep.json (refused); ``row`` edits results.jsonl (skipped)."""

    id: str
    kind: int
    phrase: str  # in the error line (refused) or the warning (skipped)
    meta: Callable[[dict[str, Any]], Any] | None = None
    row: Callable[[list[str]], tuple[int | None, str]] | None = None  # (line index replaced or None: appended, text)
    baseline: bool = False  # the baseline's own row is the bad one: commands that rank refuse


def _set_model(**fields: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda m: {**m, "model": {**m["model"], **fields}}


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda m: {**m, key: value}


def _replace(config: str, text: str) -> Callable[[list[str]], tuple[int | None, str]]:
    """Line of ``config`` with ``text`` (a JSON fragment, NaN allowed) merged over its fields."""

    def edit(lines: list[str]) -> tuple[int | None, str]:
        n = next(k for k, line in enumerate(lines) if json.loads(line)["config"] == config)
        return n, lines[n].rstrip("}") + ", " + text + "}"  # a later key wins, as in any JSON reader

    return edit


def _append(config: str, fields: str = "") -> Callable[[list[str]], tuple[int | None, str]]:
    def edit(lines: list[str]) -> tuple[int | None, str]:
        row = json.loads(lines[2])
        row.update(config=config, block=None)
        return None, json.dumps(row).rstrip("}") + (", " + fields if fields else "") + "}"

    return edit


FIX = "restore the field or rerun the scan into a new folder"
META_CASES = [
    Case("k5-model-null", 5, "model is null; expected a JSON object", meta=_set("model", None)),
    Case("k5-model-string", 5, 'model is "tiny.gguf"', meta=_set("model", "tiny.gguf")),
    Case("k5-model-missing", 5, "model is missing", meta=lambda m: {k: v for k, v in m.items() if k != "model"}),
    Case("k5-path-number", 5, "model.path is 7", meta=_set_model(path=7)),
    Case("k5-layers-negative", 5, "model.n_layers is -6", meta=_set_model(n_layers=-6)),
    Case("k5-layers-zero", 5, "model.n_layers is 0", meta=_set_model(n_layers=0)),
    Case("k5-layers-huge", 5, "model.n_layers is 1000000000", meta=_set_model(n_layers=1_000_000_000)),
    Case("k5-layers-1e9", 5, "model.n_layers is 1000000000.0", meta=_set_model(n_layers=1e9)),
    Case("k5-layers-float", 5, "model.n_layers is 6.5", meta=_set_model(n_layers=6.5)),
    Case("k5-layers-string", 5, 'model.n_layers is "6"', meta=_set_model(n_layers="6")),
    Case("k5-layers-nan", 5, "model.n_layers is NaN", meta=_set_model(n_layers=float("nan"))),
    Case("k5-name-number", 5, "model.name is 5", meta=_set_model(name=5)),
    Case("k5-probe-set-null", 5, "probe_set is null", meta=_set("probe_set", None)),
    Case(
        "k5-seed-string", 5, 'probe_set.seed is "x"', meta=lambda m: {**m, "probe_set": {**m["probe_set"], "seed": "x"}}
    ),
    Case("k5-runtime-unknown", 5, "runtime is not one rys-gguf can run", meta=_set("runtime", {"gpus": 2})),
    Case("k5-runtime-list", 5, "runtime is [1]", meta=_set("runtime", [1])),
    Case("k5-not-object", 5, "expected a JSON object", meta=lambda m: [m]),
]
ROW_CASES = [
    Case("k5-config-reversed", 5, 'config "5,3" is not a config of this 6-layer model', row=_append("5,3")),
    Case("k5-config-negative", 5, 'config "-1,4" is not a config', row=_append("-1,4")),
    Case("k5-config-empty-block", 5, 'config "3,3" is not a config', row=_append("3,3")),
    Case("k5-config-beyond", 5, 'config "4,9" is not a config', row=_append("4,9")),
    Case("k5-config-words", 5, 'config "the best" is not a config', row=_append("the best")),
    Case("k5-math-nan", 5, "math is NaN, not a finite number", row=_replace("2,3", '"math": NaN')),
    Case("k5-eq-infinity", 5, "eq is Infinity, not a finite number", row=_replace("4,5", '"eq": Infinity')),
    Case("k5-math-minus-infinity", 5, "math is -Infinity", row=_replace("1,2", '"math": -Infinity')),
    Case("k5-math-string", 5, 'math is "x", not a finite number', row=_replace("3,4", '"math": "x"')),
    Case("k5-status-unknown", 5, 'status "done" is not ok, failed or early-stopped',
         row=_replace("0,1", '"status": "done"')),
    Case("k5-rate-above", 5, "math_parse_rate is 1.5, not a share in 0..1",
         row=_replace("5,6", '"math_parse_rate": 1.5')),
    Case("k5-rate-negative", 5, "eq_parse_rate is -0.2", row=_replace("2,3", '"eq_parse_rate": -0.2')),
    Case("k5-block-strings", 5, 'block is ["a", "b"], not [i, j]', row=_replace("1,2", '"block": ["a", "b"]')),
    Case("k5-block-other", 5, 'block [1, 2] is not config "3,4"', row=_replace("3,4", '"block": [1, 2]')),
    Case("k5-baseline-nan", 5, "math is NaN", row=_replace("0,0", '"math": NaN'), baseline=True),
]  # fmt: skip


def apply(case: Case, folder: Path, oracle: bool = False) -> None:
    """Edit the sweep in ``folder``; with ``oracle``, delete the line the edit would make bad instead."""
    if case.meta is not None:
        meta = json.loads((folder / "sweep.json").read_text())
        (folder / "sweep.json").write_text(json.dumps(case.meta(meta)))
    if case.row is not None:
        path = folder / "results.jsonl"
        lines = path.read_text().splitlines()
        n, text = case.row(lines)
        if n is None:
            lines = lines if oracle else [*lines, text]
        else:
            lines = [*lines[:n], *lines[n + 1 :]] if oracle else [*lines[:n], text, *lines[n + 1 :]]
        path.write_text("".join(line + "\n" for line in lines))


# -- the commands -------------------------------------------------------------------------------


def args_of(command: str, root: Path, folder: Path) -> list[str]:
    model = root / "model.gguf"
    return {
        "report": ["report", str(folder), "--no-png"],
        "replay": ["replay", str(folder), "--seeds", "2", "--budgets", "50%", "-q"],
        "merge": ["merge", str(root / f"merged-{folder.name}"), str(folder), "--no-png"],
        "eval": ["eval", "--sweep", str(folder), "-k", "2", "--tasks", str(root / "no-such-task.yaml"), "-q"],
        "validate": ["validate", str(folder), "-k", "2", "--eq-set", "validation", "--n-eq", "2", "-q"],
        "stack": ["stack", str(folder), "--depth", "2", "--width", "1", "--pool", "2", "--expand", "1", "-q"],
        "scan": ["scan", str(model), "--out", str(folder), "--max-block", "1", *SCAN_ARGS],
    }[command]


def run(args: list[str]) -> tuple[Result, list[str]]:
    """The command in process, and the Python warnings (numpy's RuntimeWarning) it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, args)
    return result, [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, RuntimeWarning)]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("rys-gguf: error: ")]


def _lines(result: Result) -> list[str]:
    """What a refusal printed: every line but a progress bar's last frame."""
    return [line for line in result.output.strip().splitlines() if line.strip() and "%|" not in line]


def _cases(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(cmd, case, id=f"{case.id}-{cmd}", marks=[pytest.mark.procs] if cmd in WORKER_COMMANDS else [])
        for case in cases
        for cmd in SWEEP_COMMANDS
    ]


@pytest.fixture(scope="module")
def valid_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("valid"))


def _copy(valid: Path, root: Path, name: str) -> Path:
    """The valid sweep and its model under ``root`` (the folder named ``name``); its model path updated."""
    if not (root / "model.gguf").exists():
        shutil.copy(valid.parent / "model.gguf", root / "model.gguf")
    folder = root / name
    shutil.copytree(valid, folder)
    meta = json.loads((folder / "sweep.json").read_text())
    meta["model"]["path"] = str((root / "model.gguf").resolve())
    (folder / "sweep.json").write_text(json.dumps(meta, indent=2))
    return folder


@pytest.mark.parametrize(("command", "case"), _cases(META_CASES))
def test_a_bad_sweep_json_is_refused_in_one_line(
    command: str, case: Case, valid_sweep: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if command in WORKER_COMMANDS:
        request.getfixturevalue("fake_worker")
    folder = _copy(valid_sweep, tmp_path, "sweep")
    apply(case, folder)
    before = _files(tmp_path)
    result, numpy_warnings = run(args_of(command, tmp_path, folder))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not numpy_warnings, (result.output, numpy_warnings)
    lines = _lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"rys-gguf: error: {folder / 'sweep.json'}: "), lines
    assert case.phrase in lines[0] and FIX in lines[0], lines[0]
    assert _files(tmp_path) == before  # nothing written, the input untouched


def _ranking(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / "ranking.json").read_text())
    return {"configs": data["configs"], "shortlist": data["shortlist"]}


def _oracle(command: str, case: Case, valid: Path, root: Path) -> tuple[Result, Path]:
    """The same command on the same folder with the bad line deleted (the result to match)."""
    folder = _copy(valid, root, "oracle")
    apply(case, folder, oracle=True)
    result, _ = run(args_of(command, root, folder))
    return result, folder


@pytest.mark.parametrize(("command", "case"), _cases(ROW_CASES))
def test_a_bad_row_is_skipped_named_and_changes_nothing_else(
    command: str, case: Case, valid_sweep: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if command in WORKER_COMMANDS:
        request.getfixturevalue("fake_worker")
    folder = _copy(valid_sweep, tmp_path, "sweep")
    apply(case, folder)
    edited = (folder / "results.jsonl").read_bytes()
    result, numpy_warnings = run(args_of(command, tmp_path, folder))
    assert "Traceback" not in result.output and not numpy_warnings, (result.output, numpy_warnings)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    # One warning (or, where the skipped row is why a command stops, the error) names the line.
    named = [line for line in result.output.splitlines() if f"of {folder / 'results.jsonl'} skipped: line " in line]
    assert named and all(case.phrase in line for line in named), result.output
    assert all("; fix or delete that line" in line for line in named)
    if command not in ("scan", "stack", "validate"):  # they append rows by design
        assert (folder / "results.jsonl").read_bytes() == edited
    oracle, truth = _oracle(command, case, valid_sweep, tmp_path)
    assert result.exit_code == oracle.exit_code, (result.output, oracle.output)
    if result.exit_code == 2:
        errors = _error_lines(result)
        assert len(errors) == 1, result.output
        if case.baseline and command in ("report", "eval", "validate"):  # they rank first
            assert "no scored baseline" in errors[0] and case.phrase in errors[0]
        return
    if command == "replay":
        table = [line.replace(str(folder), "DIR") for line in result.stdout.splitlines()]
        assert table == [line.replace(str(truth), "DIR") for line in oracle.stdout.splitlines()]
    elif command == "merge":
        assert _ranking(tmp_path / "merged-sweep") == _ranking(tmp_path / "merged-oracle")
    elif command == "stack":
        depths = [line for line in result.stdout.splitlines() if line.startswith(("depth", "best stack"))]
        assert depths == [line for line in oracle.stdout.splitlines() if line.startswith(("depth", "best stack"))]
    else:  # report, validate, scan; eval stops at its task, after ranking the sweep
        assert _ranking(folder) == _ranking(truth)
    if command == "validate":
        validated = [(r["config"], r["status"]) for r in map(json.loads, (folder / "validation.jsonl").open())]
        assert validated == [(r["config"], r["status"]) for r in map(json.loads, (truth / "validation.jsonl").open())]


def test_the_corpus_lists_its_kinds() -> None:
    ids = [c.id for c in META_CASES + ROW_CASES]
    assert len(set(ids)) == len(ids)
    assert {c.kind for c in META_CASES + ROW_CASES} == set(KINDS)
    assert all(c.id.startswith(f"k{c.kind}-") for c in META_CASES + ROW_CASES)


def test_every_command_that_reads_a_sweep_is_in_the_corpus() -> None:
    """A new command that reads a sweep folder joins SWEEP_COMMANDS (and args_of), or this fails:
    one that takes a sweep folder (DIR, DIR..., --sweep), and scan, which resumes its --out."""
    from rys_gguf.cli.entry import COMMANDS

    takes_a_sweep = {"directory", "dirs", "sweep"}
    reads_a_sweep = {
        name for name, cmd in COMMANDS.items() if takes_a_sweep & set(inspect.signature(cmd.run).parameters)
    }
    assert {*reads_a_sweep, "scan"} == set(SWEEP_COMMANDS)
