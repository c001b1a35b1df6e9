"""Sweep folders gone stale or read several ways, through the commands that read them.

Each case runs one command line in this process and checks the outcome a user should see: exit
code 2 with one line that names the file (or the sweep) and the fix, nothing written; or, where
the input is fine, the right result. ``KINDS`` groups the cases by the kind of input they try:

2. a baseline recorded as failed (a worker killed for memory, a timeout) is measured again on the
   next run; a --config-timeout that would fail every config is refused;
3. a sweep's model file that is no longer the model the sweep measured is refused by every command
   that measures it again (validate, eval --sweep, stack);
7. one config spelled several ways (in a --configs file, in results.jsonl, across merged sweeps)
   is one config, measured and ranked once;
8. a --metric naming a probe the sweep did not run is refused by every command that ranks, and so
   are a stack --penalty or --min-gain that would make every score NaN.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import CliRunner, Result
from helpers.sweeps import SCAN_ARGS, recorded_sweep, rows_of, snapshot
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app

ERROR = "rys-gguf: error: "
PATH_1_3 = "layers:0,1,2,1,2,3"  # block 1,3 of a 4-layer model, spelled as its path


def run(*args: object, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def refused(result: Result, *phrases: str) -> str:
    """Exit 2 and one line: the error, naming ``phrases`` (the file, the fix); the line."""
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip() and "%|" not in ln]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith(ERROR), lines
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


def model(root: Path, n_layers: int = 4, seed: int = 0) -> Path:
    return write_tiny_model(root / "m.gguf", TinySpec("llama", n_layers=n_layers, seed=seed))


def ranked(folder: Path) -> list[str]:
    """The configs of ranking.json, in rank order."""
    return [c["config"] for c in json.loads((folder / "ranking.json").read_text())["configs"] if c.get("rank")]


# -- 2: a failed baseline -------------------------------------------------------------------


def baseline_timed_out(tmp: Path) -> None:
    """The baseline hangs and is killed by --config-timeout; the next run measures it."""
    src, out = model(tmp), tmp / "sweep"
    hang = run("scan", src, "--out", out, "--config-timeout", "1", *SCAN_ARGS, env={"RYS_FAKE_HANG": "0,0"})
    assert hang.exit_code == 2 and "Traceback" not in hang.output
    last = hang.output.strip().splitlines()[-1]
    assert last.startswith(ERROR) and "baseline" in last and "--config-timeout" in last and "rerun" in last
    assert [r["status"] for r in rows_of(out)] == ["failed"]
    again = run("scan", src, "--out", out, *SCAN_ARGS)
    assert again.exit_code == 0, again.output
    rows = {r["config"]: r for r in rows_of(out)}
    assert rows["0,0"]["status"] == "ok" and len(rows) == 11  # the baseline, then all ten blocks
    assert len(ranked(out)) == 10


def baseline_oom_killed(tmp: Path) -> None:
    """The baseline's worker is killed (SIGKILL: the out-of-memory killer); the rerun measures it."""
    src, out = model(tmp), tmp / "sweep"
    killed = run("scan", src, "--out", out, *SCAN_ARGS, env={"RYS_FAKE_KILL": "0,0"})
    assert killed.exit_code == 2 and "Traceback" not in killed.output
    last = killed.output.strip().splitlines()[-1]
    assert last.startswith(ERROR) and "out of memory" in last and "--n-ctx" in last and "rerun" in last
    again = run("scan", src, "--out", out, *SCAN_ARGS)
    assert again.exit_code == 0, again.output
    assert [r["status"] for r in rows_of(out)][:2] == ["failed", "ok"] and len(ranked(out)) == 10


def baseline_killed(tmp: Path) -> None:
    """results.jsonl says the baseline's worker was killed (the OOM killer): the rerun measures it first."""
    src, out = model(tmp), tmp / "sweep"
    recorded_sweep(out, src, 4, configs=["0,0", "1,2", "2,3"], failed=("0,0",))
    again = run("scan", src, "--out", out, *SCAN_ARGS, "--configs", _configs(tmp, "1,2", "2,3"))
    assert again.exit_code == 0, again.output
    rows = rows_of(out)
    assert [r["config"] for r in rows[3:]] == ["0,0"]  # the baseline alone was measured again
    assert rows[-1]["status"] == "ok" and ranked(out)


def baseline_killed_search(tmp: Path) -> None:
    """The same in a scan that searches: the baseline first, then the search's rounds."""
    src, out = model(tmp), tmp / "sweep"
    recorded_sweep(out, src, 4, configs=["0,0"], failed=("0,0",))
    again = run("scan", src, "--out", out, *SCAN_ARGS, "--search", "coarse", "--budget", "3")
    assert again.exit_code == 0, again.output
    rows = rows_of(out)
    assert rows[1]["config"] == "0,0" and rows[1]["status"] == "ok"
    assert len(rows) == 5  # the failed row, the baseline, three configs


def other_failed_config_stays(tmp: Path) -> None:
    """A failed config that is not the baseline stays as recorded (its row says why); nothing is rerun."""
    src, out = model(tmp), tmp / "sweep"
    recorded_sweep(out, src, 4, configs=["0,0", "1,2", "2,3"], failed=("1,2",))
    before = snapshot(out)["results.jsonl"]
    again = run("scan", src, "--out", out, *SCAN_ARGS, "--configs", _configs(tmp, "1,2", "2,3"))
    assert again.exit_code == 0, again.output
    assert (out / "results.jsonl").read_bytes() == before
    assert "0 configs measured" in again.output


def config_timeout(value: str) -> Callable[[Path], None]:
    def case(tmp: Path) -> None:
        out = tmp / "sweep"
        refused(run("scan", model(tmp), "--out", out, "--config-timeout", value), "--config-timeout", "> 0")
        assert not out.exists()

    return case


# -- 3: the model file is not the one the sweep measured ---------------------------------------


def _stale(tmp: Path, gone: bool = False) -> tuple[Path, Path]:
    """A recorded sweep whose model was replaced at its path by another (or removed)."""
    src, out = model(tmp), tmp / "sweep"
    recorded_sweep(out, src, 4)
    src.unlink()
    if not gone:
        model(tmp, seed=1)  # re-quantized, re-downloaded: same path, another file
    return src, out


def stale(command: str, gone: bool = False) -> Callable[[Path], None]:
    def case(tmp: Path) -> None:
        src, out = _stale(tmp, gone)
        before = snapshot(out)
        task = tmp / "task.yaml"
        task.write_text("task: unused\n")
        args = {
            "validate": ["validate", out, "--eq-set", "validation", "--n-math", "4", "--n-eq", "2", "-q"],
            "eval": ["eval", "--sweep", out, "--tasks", task, "-q"],
            "stack": ["stack", out, "-q"],
        }[command]
        fix = "put the measured file back" if gone else "scan this one into a new folder"
        refused(run(*args), str(out / "sweep.json"), str(src), fix)
        assert snapshot(out) == before

    return case


# -- 7: one config, several spellings ----------------------------------------------------------


def _configs(tmp: Path, *lines: str) -> Path:
    path = tmp / "configs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def spellings_in_configs_file(tmp: Path) -> None:
    src, out = model(tmp), tmp / "sweep"
    file = _configs(tmp, "1,3", "1, 3", "[1,3]", "blocks:1,3", PATH_1_3, "(1, 3)  # again")
    result = run("scan", src, "--out", out, *SCAN_ARGS, "--configs", file)
    assert result.exit_code == 0, result.output
    assert [r["config"] for r in rows_of(out)] == ["0,0", "1,3"]
    assert ranked(out) == ["1,3"]


def path_spelling_resumes(tmp: Path) -> None:
    """A rerun that names a measured config by its layer path measures nothing new."""
    src, out = model(tmp), tmp / "sweep"
    assert run("scan", src, "--out", out, *SCAN_ARGS, "--configs", _configs(tmp, "1,3")).exit_code == 0
    before = (out / "results.jsonl").read_bytes()
    result = run("scan", src, "--out", out, *SCAN_ARGS, "--configs", _configs(tmp, PATH_1_3, "[1, 3]"))
    assert result.exit_code == 0, result.output
    assert (out / "results.jsonl").read_bytes() == before


def spellings_in_results(tmp: Path) -> None:
    """Rows of one config spelled three ways rank once, under its one key, with its last row."""
    src, out = model(tmp), tmp / "sweep"
    recorded_sweep(out, src, 4, configs=["0,0", "1,3", "2,3", "1, 3", PATH_1_3, "[2,3]"])
    assert run("report", out, "--no-png").exit_code == 0
    assert sorted(ranked(out)) == ["1,3", "2,3"]
    rows = {r["config"]: r for r in rows_of(out)}
    scores = {c["config"]: c for c in json.loads((out / "ranking.json").read_text())["configs"]}
    assert scores["1,3"]["math"] == pytest.approx(rows[PATH_1_3]["math"])


def spellings_merged(tmp: Path) -> None:
    src = model(tmp)
    a = recorded_sweep(tmp / "a", src, 4, configs=["0,0", "1,3", "2,3"])
    b = recorded_sweep(tmp / "b", src, 4, configs=["0,0", PATH_1_3])
    result = run("merge", tmp / "merged", a, b, "--no-png")
    assert result.exit_code == 0, result.output
    assert sorted(r["config"] for r in rows_of(tmp / "merged")) == ["0,0", "1,3", "2,3"]
    assert sorted(ranked(tmp / "merged")) == ["1,3", "2,3"]


# -- 8: a metric the sweep did not run, a score that is not a number ---------------------------


def _one_probe(tmp: Path, probe: str) -> tuple[Path, Path]:
    src = model(tmp)
    return src, recorded_sweep(tmp / "sweep", src, 4, probes=(probe,))


def unrun_metric(command: str, metric: str = "eq", probe: str = "math") -> Callable[[Path], None]:
    def case(tmp: Path) -> None:
        _, out = _one_probe(tmp, probe)
        before = snapshot(out)
        args = {
            "report": ["report", out, "--metric", metric, "--no-png"],
            "replay": ["replay", out, "--metric", metric, "--seeds", "1", "-q"],
            "merge": ["merge", tmp / "merged", out, "--metric", metric],
            "stack": ["stack", out, "--metric", metric, "-q"],
        }[command]
        usable = "z, sum, " + probe
        refused(run(*args), f"--metric {metric}", str(out), usable)
        assert snapshot(out) == before and not (tmp / "merged").exists()

    return case


def unrun_metric_scan(metric: str, flag: str) -> Callable[[Path], None]:
    def case(tmp: Path) -> None:
        out = tmp / "sweep"
        refused(
            run("scan", model(tmp), "--out", out, flag, "none", "--metric", metric, *SCAN_ARGS), f"--metric {metric}"
        )
        assert not out.exists()

    return case


def metric_of_a_run_probe(metric: str) -> Callable[[Path], None]:
    """A math-only sweep ranks by z, sum and math: by its math deltas."""

    def case(tmp: Path) -> None:
        _, out = _one_probe(tmp, "math")
        result = run("report", out, "--metric", metric, "--no-png")
        assert result.exit_code == 0, result.output
        configs = json.loads((out / "ranking.json").read_text())["configs"]
        by_rank = sorted((c for c in configs if c.get("rank")), key=lambda c: c["rank"])
        assert [c["d_math"] for c in by_rank] == sorted((c["d_math"] for c in by_rank), reverse=True)

    return case


def stack_option(option: str, value: str) -> Callable[[Path], None]:
    def case(tmp: Path) -> None:
        src = model(tmp)
        out = recorded_sweep(tmp / "sweep", src, 4)
        before = snapshot(out)
        refused(run("stack", out, option, value, "-q"), f"{option} {value}", "expected a finite number")
        assert snapshot(out) == before

    return case


PROCS = {"baseline-timed-out", "baseline-oom-killed", "baseline-killed", "baseline-killed-search",
         "other-failed-config-stays", "spellings-in-configs-file", "path-spelling-resumes"}  # fmt: skip
CASES: dict[str, Callable[[Path], None]] = {
    "baseline-timed-out": baseline_timed_out,
    "baseline-oom-killed": baseline_oom_killed,
    "baseline-killed": baseline_killed,
    "baseline-killed-search": baseline_killed_search,
    "other-failed-config-stays": other_failed_config_stays,
    "config-timeout-0": config_timeout("0"),
    "config-timeout-negative": config_timeout("-1"),
    "config-timeout-nan": config_timeout("nan"),
    "validate-model-replaced": stale("validate"),
    "validate-model-gone": stale("validate", gone=True),
    "eval-sweep-model-replaced": stale("eval"),
    "eval-sweep-model-gone": stale("eval", gone=True),
    "stack-model-replaced": stale("stack"),
    "spellings-in-configs-file": spellings_in_configs_file,
    "path-spelling-resumes": path_spelling_resumes,
    "spellings-in-results": spellings_in_results,
    "spellings-merged": spellings_merged,
    "report-eq-on-math-only": unrun_metric("report"),
    "report-math-on-eq-only": unrun_metric("report", "math", "eq"),
    "replay-eq-on-math-only": unrun_metric("replay"),
    "merge-eq-on-math-only": unrun_metric("merge"),
    "stack-eq-on-math-only": unrun_metric("stack"),
    "scan-eq-with-eq-set-none": unrun_metric_scan("eq", "--eq-set"),
    "scan-math-with-math-none": unrun_metric_scan("math", "--math"),
    "report-z-on-math-only": metric_of_a_run_probe("z"),
    "report-math-on-math-only": metric_of_a_run_probe("math"),
    "stack-penalty-nan": stack_option("--penalty", "nan"),
    "stack-penalty-inf": stack_option("--penalty", "inf"),
    "stack-penalty-negative": stack_option("--penalty", "-0.5"),
    "stack-min-gain-nan": stack_option("--min-gain", "nan"),
    "stack-min-gain-inf": stack_option("--min-gain", "inf"),
}
KINDS: dict[int, tuple[str, ...]] = {
    2: ("baseline-timed-out", "baseline-oom-killed", "baseline-killed", "baseline-killed-search",
        "other-failed-config-stays", "config-timeout-0", "config-timeout-negative", "config-timeout-nan"),
    3: ("validate-model-replaced", "validate-model-gone", "eval-sweep-model-replaced", "eval-sweep-model-gone",
        "stack-model-replaced"),
    7: ("spellings-in-configs-file", "path-spelling-resumes", "spellings-in-results", "spellings-merged"),
    8: ("report-eq-on-math-only", "report-math-on-eq-only", "replay-eq-on-math-only", "merge-eq-on-math-only",
        "stack-eq-on-math-only", "scan-eq-with-eq-set-none", "scan-math-with-math-none", "report-z-on-math-only",
        "report-math-on-math-only", "stack-penalty-nan", "stack-penalty-inf", "stack-penalty-negative",
        "stack-min-gain-nan", "stack-min-gain-inf"),
}  # fmt: skip


def test_every_case_has_one_kind() -> None:
    listed = [case for cases in KINDS.values() for case in cases]
    assert sorted(listed) == sorted(CASES) and len(listed) == len(set(listed))
    assert set(CASES) >= PROCS


def _params() -> list[object]:
    return [
        pytest.param(case, id=f"kind{kind}-{case}", marks=[pytest.mark.procs] if case in PROCS else [])
        for kind, cases in KINDS.items()
        for case in cases
    ]


@pytest.mark.parametrize("case", _params())
def test_case(case: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if case in PROCS:
        request.getfixturevalue("fake_worker")  # scans run the stand-in worker
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # a command that wrote beside the working folder would show here
        CASES[case](tmp_path)
    finally:
        os.chdir(cwd)
