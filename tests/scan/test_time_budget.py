"""Budgets in time (``scan --budget 2m``) and the default strategy by the size of the universe."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.sweeps import SCAN_ARGS, rows_of
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app
from rys_gguf.errors import OptionError
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.search_rounds import resolve_strategy
from rys_gguf.search.strategies import SEARCH_FROM
from rys_gguf.search.timebudget import TimeBudget, config_seconds, configs_in_time, parse_time, read_budget

DELAY = {"RYS_FAKE_DELAY": "0.2"}
TRIANGLE_8 = [(i, j) for i in range(8) for j in range(i + 1, 9)]


def test_times_are_read_as_people_write_them() -> None:
    assert parse_time("8h") == TimeBudget(8 * 3600, "8h")
    assert parse_time("90m").seconds == parse_time("1h30m").seconds == parse_time("1.5h").seconds == 5400  # type: ignore[union-attr]
    assert parse_time("45 s").seconds == 45  # type: ignore[union-attr]
    for not_a_time in ("40", "10%", "h", "1h1h", "8 hours", ""):
        assert parse_time(not_a_time) is None
    assert read_budget("40") == 40 and read_budget("10%") == 0.1
    for bad in ("0m", "0h0m", "8 hours", "soon"):
        with pytest.raises(OptionError, match="--budget"):
            read_budget(bad)


def test_a_time_budget_counts_configs_by_their_length() -> None:
    # The baseline runs 8 layers in 10 s; the mean config of the triangle runs 8 + 10/3 layers (14.2 s).
    mean = sum(config_seconds(c, 8, 10.0) for c in TRIANGLE_8) / len(TRIANGLE_8)
    assert config_seconds((0, 8), 8, 10.0) == 20.0 and config_seconds((3, 4), 8, 10.0) == 11.25
    assert configs_in_time(TimeBudget(130, "130s"), 10.0, TRIANGLE_8, 8) == int(120 // mean) == 8
    assert configs_in_time(TimeBudget(130, "130s"), 10.0, TRIANGLE_8, 8, n_workers=2) == 16  # two at once
    assert configs_in_time(TimeBudget(3600, "1h"), 10.0, TRIANGLE_8, 8) == 36  # at most the universe
    assert configs_in_time(TimeBudget(15, "15s"), 10.0, TRIANGLE_8, 8) == 0  # the baseline ate the budget


def test_the_default_searches_from_a_24_layer_triangle() -> None:
    assert SEARCH_FROM == 24 * 25 // 2
    assert resolve_strategy(None, None, GridSpec(), SEARCH_FROM) == "adaptive"
    assert resolve_strategy(None, None, GridSpec(), SEARCH_FROM - 1) == "grid"  # small: measure them all
    assert resolve_strategy(None, "20", GridSpec(), 36) == "adaptive"  # a budget asks for a search
    assert resolve_strategy("grid", None, GridSpec(), 3000) == "grid"
    assert resolve_strategy(None, None, GridSpec(configs=("2,4",)), 3000) == "grid"  # a list runs as listed
    with pytest.raises(OptionError, match="--budget needs"):
        resolve_strategy("grid", "8h", GridSpec(), 3000)


@pytest.mark.procs
def test_a_time_budget_stops_in_time_with_its_configs_done(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=8))
    out = tmp_path / "s"
    args = ["scan", str(src), "--out", str(out), "--budget", "6s", *SCAN_ARGS]
    started = time.monotonic()
    r = CliRunner().invoke(app, args[:-1], env=DELAY)  # not quiet (-q last): the count is a note
    elapsed = time.monotonic() - started
    assert r.exit_code == 0, r.output
    announced = re.search(r"about (\d+) configs in 6s \(the baseline took", r.output)
    assert announced, r.output
    rows = rows_of(out)
    assert rows[0]["config"] == "0,0" and all(row["status"] == "ok" for row in rows)
    n_budget = int(announced.group(1))
    assert 1 <= len(rows) - 1 <= n_budget < 36
    # No config starts that its estimate says cannot end in time; the slowest fake config takes
    # 4 x 0.2 s longer than its estimate, plus the process start.
    assert elapsed < 6 + 3, (elapsed, r.output)
    record = json.loads((out / "search.json").read_text())
    assert record["budget"] == "6s" and record["strategy"] == "adaptive" and record["n_budget"] is None
    # The count comes from the recorded baseline: a rerun plans the same search and goes on.
    again = CliRunner().invoke(app, args[:-1], env=DELAY)
    assert again.exit_code == 0, again.output
    assert f"about {n_budget} configs in 6s" in again.output
    assert len(rows_of(out)) - 1 <= n_budget
    assert len({row["config"] for row in rows_of(out)}) == len(rows_of(out))


@pytest.mark.procs
def test_a_budget_the_baseline_uses_up_is_refused_with_the_reason(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=8))
    args = ["scan", str(src), "--out", str(tmp_path / "s"), "--budget", "1s", *SCAN_ARGS]
    r = CliRunner().invoke(app, args, env={"RYS_FAKE_DELAY": "1.5"})
    assert r.exit_code == 2, r.output
    assert "--budget 1s: the baseline alone took" in r.output and "no config fits" in r.output
    assert [row["config"] for row in rows_of(tmp_path / "s")] == ["0,0"]  # the baseline is kept
