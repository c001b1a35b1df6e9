"""Early stop: garbage from a config's first answers stops it; slow correct answers never do; the scan
records it as early-stopped (never a score) and the report shows it apart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.sweeps import FAST, rows_of
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.probes import load_probe_set
from rys_gguf.probes.earlystop import GarbageWatch, repeating
from rys_gguf.report.write import ReportOptions, write_report
from rys_gguf.scan.sweep import run_scan

PROBES = load_probe_set(math="search", eq="builtin")
N_MATH = PROBES.description["n_math"]
EQ_ANSWER = "Resentful: 5\nGrateful: 2\nDisappointed: 8\nAmused: 0\n"  # the built-in item 1's emotions


def decode(watch: GarbageWatch, answers: Sequence[str], speeds: Sequence[int], every: int = 8) -> int | None:
    """Reveal each answer ``speed`` characters per token, showing the watch every ``every`` tokens as
    the decode loop does; the token count at which it stopped, or None."""
    longest = max(-(-len(a) // s) for a, s in zip(answers, speeds, strict=True))
    for t in range(every, longest + every, every):
        partials = [(a[: t * s], t * s >= len(a)) for a, s in zip(answers, speeds, strict=True)]
        if watch(partials, t):
            return t
    return None


def eq_answers(text: str) -> list[str]:
    return [text] * (len(PROBES.items) - N_MATH)


def test_loops_and_empty_answers_stop_early() -> None:
    watch = GarbageWatch(PROBES)
    answers = ["<b><u></b>" * 30] * N_MATH + eq_answers("")  # tag loops, and EOG at once
    stopped = decode(watch, answers, [3] * len(answers))
    assert stopped is not None and stopped <= 16
    assert watch.stopped and set(watch.seen) == {"loop", "empty"}
    assert "garbage" in watch.summary() and f"after {stopped} tokens" in watch.summary()


def test_unparseable_finished_answers_stop() -> None:
    watch = GarbageWatch(PROBES)
    answers = ["I am not sure."] * N_MATH + eq_answers("No idea, sorry.")
    assert decode(watch, answers, [2] * len(answers)) == 8
    assert watch.seen == {"unparseable": 8} or sum(watch.seen.values()) >= 8


def test_slow_correct_answers_run_to_the_end() -> None:
    slow_math = "Let me think about this carefully step by step, estimating the magnitude first... 4302459"
    slow_eq = "Thinking about how Ines feels after hearing this news from Callum today.\n" + EQ_ANSWER
    watch = GarbageWatch(PROBES)
    answers = [slow_math] * N_MATH + eq_answers(slow_eq)
    assert decode(watch, answers, [1] * len(answers)) is None and not watch.stopped


def test_loops_around_a_parseable_answer_are_scored() -> None:
    watch = GarbageWatch(PROBES)
    answers = ["The answer is 42.\n\n" * 10] * N_MATH + eq_answers(EQ_ANSWER * 5)
    assert decode(watch, answers, [4] * len(answers)) is None and not watch.armed


def test_garbage_on_one_probe_only_is_not_stopped() -> None:
    """EQ prompts answered with nothing, math answered: the config is scored (EQ as unparsed)."""
    watch = GarbageWatch(PROBES)
    answers = ["Roughly 12345678 I would say, give or take a few."] * N_MATH + eq_answers("")
    assert decode(watch, answers, [1] * len(answers)) is None


def test_repetition_detector() -> None:
    assert repeating("<start_of_image>" * 4) == len("<start_of_image>")
    assert repeating("I know that I can't do this. " * 3) == len("I know that I can't do this. ")
    assert repeating("\n" * 30) == 1
    assert repeating("The cube root of 992597834515186921 is about nine hundred ninety") == 0
    assert repeating("ab" * 5) == 0  # too short to call it a loop
    assert repeating("The answer is about\n\n\n") == 0  # a few newlines are not a loop


def test_scan_records_early_stopped_configs_and_the_report_shows_them(
    tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    monkeypatch.setenv("RYS_FAKE_GARBAGE", "0,2;1,3;0,0")  # the baseline always runs in full
    result = run_scan(src, tmp_path / "s", FAST)
    rows = {r["config"]: r for r in rows_of(tmp_path / "s")}
    assert result.n_early_stopped == 2 and result.n_failed == 0 and rows["0,0"]["status"] == "ok"
    stopped = rows["0,2"]
    assert stopped["status"] == "early-stopped" and stopped["math"] is None and stopped["eq"] is None
    assert stopped["early_stop"]["seen"] == {"loop": 6, "empty": 3} and "garbage" in stopped["reason"]
    assert run_scan(src, tmp_path / "s", FAST).n_run == 0  # early-stopped configs are done, not rerun
    assert run_scan(src, tmp_path / "t", replace(FAST, early_stop=False)).n_early_stopped == 0
    rescored = run_scan(src, tmp_path / "u", FAST)
    assert rescored.n_early_stopped == 2
    again = run_scan(src, tmp_path / "u", replace(FAST, early_stop=False))  # --no-early-stop scores them
    assert again.n_run == 2 and {r["config"]: r["status"] for r in rows_of(tmp_path / "u")}["0,2"] == "ok"
    summary = write_report(tmp_path / "s", ReportOptions(png=False))
    assert {s.config for s in summary.early_stopped} == {"0,2", "1,3"}
    assert all(s.config not in ("0,2", "1,3") for s in (*summary.ranked, *summary.failed))
    report = (tmp_path / "s" / "report.md").read_text()
    assert "## Early-stopped (2)" in report and "6 loop, 3 empty" in report
    ranking = json.loads((tmp_path / "s" / "ranking.json").read_text())["configs"]
    stopped_rows = [r for r in ranking if r["status"] == "early-stopped"]
    assert {r["config"] for r in stopped_rows} == {"0,2", "1,3"}
    assert all(r["d_sum"] is None and r["rank"] is None for r in stopped_rows)  # no score, not a zero
    assert "early-stopped" in (tmp_path / "s" / "ranking.csv").read_text()
