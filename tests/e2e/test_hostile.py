"""The hostile corpus (helpers/hostile.py) through every command: nothing a file says escapes its place.

Each run builds valid files whose strings are hostile and runs one command on them. Whatever the
command prints must hold no ESC, BEL, CR, C1 or bidi control character; whatever it writes
(Modelfile, report.md, ranking.csv, JSON) must carry no live directive, markup or formula. The
guard at the end fails for a command of ``app.commands`` that has no run here, so a new command
that shows file-derived text cannot skip the corpus.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.hostile import (
    EVIL,
    STRINGS,
    forbidden_in,
    hostile_arch_model,
    hostile_hf_folder,
    hostile_model,
    hostile_pieces,
    hostile_rys,
    hostile_sweep,
)
from helpers.modelfile import parse_modelfile
from helpers.sweeps import FAST, SCAN_ARGS

from rys_gguf.cli import app
from rys_gguf.cli.entry import COMMANDS as CLI_COMMANDS
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.sweep import run_scan
from rys_gguf.ship.templates import FAMILIES
from rys_gguf.untrusted import safe_line

CHATML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
EVIL_PATH = f"m{STRINGS['osc-title']}{STRINGS['bidi']}{STRINGS['c1']}.gguf"  # a file name can be hostile too
QUOTABLE = {"quotes", "markup", "formula"}  # stop strings a Modelfile can hold exactly


@dataclass(frozen=True)
class Run:
    """One command line over hostile inputs: ``make(root)`` writes them and returns the arguments."""

    id: str
    make: Callable[[Path], list[str]]
    codes: tuple[int, ...] = (0,)
    shows: str | None = None  # the escaped file string the output must show (so the run is not vacuous)
    llama: bool = False
    worker: bool = False


def _shown(text: str) -> str:
    return safe_line(text)[:40]


def inspect_runs() -> list[Run]:
    runs = []
    for case, value in STRINGS.items():
        runs.append(Run(f"name-{case}", lambda r, v=value: ["inspect", str(hostile_model(r / "m.gguf", name=v))],
                        shows=_shown(value)))  # fmt: skip
        runs.append(Run(f"arch-{case}", lambda r, v=value: ["inspect", str(hostile_arch_model(r / "m.gguf", v))],
                        shows=_shown(value)))  # fmt: skip
        runs.append(
            Run(f"json-{case}", lambda r, v=value: ["inspect", "--json", str(hostile_model(r / "m.gguf", name=v))])
        )
    runs.append(Run("path", lambda r: ["inspect", str(hostile_model(r / EVIL_PATH))], shows=_shown(EVIL_PATH)))
    return runs


def ollama_runs() -> list[Run]:
    runs = []
    for case, value in STRINGS.items():
        template = CHATML + "{# " + value + " #}"
        runs.append(Run(f"name-{case}", lambda r, v=value, t=template: [
            "ollama", str(hostile_model(r / "m.gguf", name=v, template=t))]))  # fmt: skip
        runs.append(Run(f"eos-{case}", lambda r, v=value: ["ollama", str(hostile_model(r / "m.gguf", eos=v))],
                        codes=(0,) if case in QUOTABLE else (2,)))  # fmt: skip
        runs.append(Run(f"arch-{case}", lambda r, v=value: ["ollama", str(hostile_arch_model(r / "m.gguf", v))]))
        runs.append(Run(f"rys-{case}", lambda r, v=value: ["ollama", str(hostile_rys(r / "m.gguf", v))]))
    runs.append(Run("path", lambda r: ["ollama", str(hostile_model(r / EVIL_PATH)), "-n", "m"], codes=(2,)))
    return runs


def _scanned(root: Path) -> Path:
    """A sweep of a model with a hostile name at a hostile path, made with the stand-in worker."""
    model = hostile_model(root / EVIL_PATH, name=EVIL)
    run_scan(model, root / "sweep", replace(FAST, grid=GridSpec(max_block=1)))
    return root / "sweep"


def _task(root: Path) -> Path:
    """A local lm-eval task (multiple choice over two items) for the eval runs."""
    data = root / "task.jsonl"
    data.write_text('{"q": "Sky?", "c": ["blue", "red"], "a": 0}\n{"q": "Grass?", "c": ["blue", "green"], "a": 1}\n')
    path = root / "task.yaml"
    path.write_text(
        f"task: hostile_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
        'output_type: multiple_choice\ndoc_to_text: "{{q}}"\ndoc_to_choice: "{{c}}"\ndoc_to_target: "{{a}}"\n'
        "metric_list:\n  - metric: acc\n"
    )
    return path


def _sweep(root: Path, name: str = "sweep") -> Path:
    return hostile_sweep(root / name, name=EVIL, model_path=f"/models/{EVIL}.gguf")


RUNS: dict[str, list[Run]] = {
    "inspect": inspect_runs(),
    "build": [
        Run(
            "name",
            lambda r: ["build", str(hostile_model(r / "m.gguf", name=EVIL)), str(r / "o.gguf"), "-c", "1,2", "-q"],
        ),
        Run(
            "arch-refused",
            lambda r: ["build", str(hostile_arch_model(r / "m.gguf", EVIL)), str(r / "o.gguf"), "-c", "0,1"],
            codes=(2,),
            shows=_shown(EVIL),
        ),
        Run(
            "arch-allowed",
            lambda r: [
                "build",
                str(hostile_arch_model(r / "m.gguf", EVIL)),
                str(r / "o.gguf"),
                "-c",
                "0,1",
                "--allow-unknown-arch",
                "-q",
            ],
        ),
        Run(
            "paths",
            lambda r: ["build", str(hostile_model(r / EVIL_PATH)), str(r / f"o{EVIL_PATH}"), "-c", "1,2", "-q"],
            shows=_shown(f"o{EVIL_PATH}"),
        ),
    ],
    "scan": [
        Run(
            "name-and-path",
            lambda r: [
                "scan",
                str(hostile_model(r / EVIL_PATH, name=EVIL)),
                "--out",
                str(r / "sweep"),
                "--max-block",
                "1",
                *SCAN_ARGS,
            ],
            shows=_shown(EVIL)[:20],
            worker=True,
        ),
        Run(
            "arch",
            lambda r: ["scan", str(hostile_arch_model(r / "m.gguf", EVIL)), "--out", str(r / "sweep"), "-q"],
            codes=(2,),
            shows=_shown(EVIL)[:20],
            worker=True,
        ),
    ],
    "report": [Run("sweep", lambda r: ["report", str(_sweep(r))], shows=_shown(EVIL)[:20])],
    "merge": [
        Run(
            "sweeps",
            lambda r: ["merge", str(r / "out"), str(_sweep(r, "a")), str(_sweep(r, "b")), "--no-png"],
            shows=_shown(EVIL)[:20],
        )
    ],
    "validate": [
        Run(
            "scanned",
            lambda r: ["validate", str(_scanned(r)), "-k", "2", "--eq-set", "validation", "-q"],
            shows=_shown(EVIL)[:20],
            worker=True,
        ),
        Run(
            "missing-model",
            lambda r: ["validate", str(_sweep(r)), "--eq-set", "builtin", "-q"],
            codes=(2,),
            shows=_shown(EVIL)[:20],
            worker=True,
        ),
    ],
    "replay": [
        Run("sweep", lambda r: ["replay", str(_sweep(r)), "--seeds", "1", "-q"], codes=(0, 2)),
    ],
    "stack": [
        Run(
            "scanned",
            lambda r: ["stack", str(_scanned(r)), "--depth", "2", "--pool", "2", "--expand", "2", "-q"],
            worker=True,
        ),
    ],
    "verify": [
        Run(
            "strings",
            lambda r: [
                "verify",
                str(hostile_model(r / "src.gguf", name=EVIL, pieces=hostile_pieces())),
                str(hostile_rys(r / "rys.gguf", EVIL, name=EVIL, pieces=hostile_pieces())),
                "--max-tokens",
                "8",
                "-q",
            ],
            codes=(0, 1),
            shows=_shown(EVIL)[:20],
            llama=True,
        ),
    ],
    "eval": [
        Run(
            "strings",
            lambda r: [
                "eval",
                str(hostile_model(r / "src.gguf", name=EVIL, pieces=hostile_pieces())),
                str(hostile_rys(r / EVIL_PATH, EVIL, name=EVIL, pieces=hostile_pieces())),
                "--tasks",
                str(_task(r)),
                "--threads",
                "1",
                "-q",
            ],
            shows=_shown(EVIL_PATH.removesuffix(".gguf"))[:20],
            llama=True,
        ),
    ],
    "ollama": ollama_runs(),
    "lmstudio": [
        Run("name", lambda r: ["lmstudio", str(hostile_model(r / "m.gguf", name=EVIL)), "--root", str(r / "lm"), "-q"]),
        Run("arch", lambda r: ["lmstudio", str(hostile_arch_model(r / "m.gguf", EVIL)), "--root", str(r / "lm"), "-q"]),
        Run(
            "path",
            lambda r: ["lmstudio", str(hostile_model(r / EVIL_PATH)), "--root", str(r / "lm"), "-q"],
            codes=(2,),
            shows=_shown(EVIL_PATH)[:20],
        ),
    ],
    "quantize": [
        Run(
            "name",
            lambda r: ["quantize", str(hostile_model(r / "m.gguf", name=EVIL)), str(r / "q.gguf"), "-t", "Q8_0", "-q"],
            llama=True,
        ),
        Run(
            "arch",
            lambda r: ["quantize", str(hostile_arch_model(r / "m.gguf", EVIL)), str(r / "q.gguf"), "-t", "Q8_0", "-q"],
            codes=(2,),
            llama=True,
        ),
    ],
    "convert": [
        *(
            Run(
                kind,
                lambda r, k=kind: ["convert", str(hostile_hf_folder(r / "hf", k, r / "ran")), str(r / "o.gguf"), "-q"],
                codes=(2,),
            )
            for kind in ("py", "auto-map", "pickle", "both")
        ),
        Run(
            "folder-name",
            lambda r: ["convert", str(hostile_hf_folder(r / f"hf{EVIL_PATH}", "py")), str(r / "o.gguf")],
            codes=(2,),
            shows=_shown(f"hf{EVIL_PATH}"),
        ),
    ],
}


def _cases() -> list[object]:
    return [
        pytest.param(
            cmd,
            run,
            id=f"{cmd}-{run.id}",
            marks=[m for m, on in ((pytest.mark.llama, run.llama), (pytest.mark.procs, run.worker)) if on],
        )
        for cmd, runs in RUNS.items()
        for run in runs
    ]


def _snapshot(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("command", "run"), _cases())
def test_hostile_corpus(command: str, run: Run, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if run.worker:
        request.getfixturevalue("fake_worker")
    args = run.make(tmp_path)
    assert args[0] == command
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code in run.codes, result.output
    assert "Traceback" not in result.output
    assert not forbidden_in(result.output), [
        safe_line(line) for line in result.output.splitlines() if forbidden_in(line)
    ]
    if run.shows is not None:
        assert run.shows in result.output, result.output[:2000]
    if result.exit_code == 2:
        assert result.output.strip().splitlines()[-1].startswith("rys-gguf: error: ")
    written = [p for p, t in _snapshot(tmp_path).items() if before.get(p) != t]
    for path in written:
        check_written(path)
    assert not (tmp_path / "ran").exists()  # no folder code ran, no pickle was loaded


def check_written(path: Path) -> None:
    """A file a command wrote: text files hold no hidden characters, and each format stays inert."""
    if path.suffix in (".gguf", ".png") or "lm" in path.parts:
        return
    text = path.read_text(encoding="utf-8")
    assert not forbidden_in(text), (path.name, [safe_line(x) for x in text.splitlines() if forbidden_in(x)][:3])
    if path.name.endswith(".Modelfile"):
        check_modelfile(text)
    elif path.name == "report.md":
        check_markdown(text)
    elif path.name == "ranking.csv":
        check_csv(text)


def check_modelfile(text: str) -> None:
    directives = parse_modelfile(text)
    names = [d.name for d in directives]
    assert names.count("model") == 1 and names.count("template") <= 1
    assert set(names) <= {"model", "template", "stop", "temperature", "top_k", "top_p", "min_p", "num_ctx"}, names
    assert all(d.value in [f[2] for f in FAMILIES.values()] for d in directives if d.name == "template")


_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def check_markdown(text: str) -> None:
    lines, fenced, width = text.splitlines(), False, 0
    assert sum(line.startswith("```") for line in lines) == 2 * text.count("\nBuild them")  # only our fences
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:  # a fenced block shows its lines literally; each is one of our commands
            assert line.startswith(("# ", "rys-gguf build ")), line
            continue
        assert "<img" not in line and "<script" not in line, line  # HTML arrives as entities
        if not line.startswith("|"):
            width = 0
            continue
        cells = len(_CELL_SPLIT.split(line))
        width = width or cells  # the header row of this table
        assert cells == width, line  # no pipe from a file opened a new cell


def check_csv(text: str) -> None:
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            try:
                float(cell)
            except ValueError:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_every_command_is_in_the_corpus() -> None:
    """A new command must join RUNS above (with the hostile files it reads), or this fails."""
    missing = sorted(set(CLI_COMMANDS) - set(RUNS))
    assert not missing, f"add runs of {', '.join(missing)} over the hostile corpus to tests/test_hostile.py RUNS"
    assert set(RUNS) <= set(CLI_COMMANDS)
