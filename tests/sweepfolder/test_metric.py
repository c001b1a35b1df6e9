"""The ranking metric against the probes a sweep ran, and results rows read under one key per config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from rys_gguf.errors import OptionError
from rys_gguf.sweepfolder.metric import check_metric, probes_run, usable_metrics
from rys_gguf.sweepfolder.records import config_key, read_rows, read_sweep


def meta(math: str = "search16", eq: str = "builtin16", n_layers: Any = 10) -> dict[str, Any]:
    return {"model": {"path": "m.gguf", "n_layers": n_layers}, "probe_set": {"hash": "h", "math": math, "eq": eq}}


@pytest.mark.parametrize(
    ("info", "baseline", "probes"),
    [
        (meta(), None, ("math", "eq")),
        (meta(eq="none"), None, ("math",)),
        (meta(math="none"), None, ("eq",)),
        ({}, {"math": 0.5, "eq": None}, ("math",)),  # no names: the baseline's scores say
        (meta(), {"math": None, "eq": 40.0}, ("eq",)),
        ({"probe_set": "garbage"}, None, ("math", "eq")),
    ],
)
def test_probes_run(info: dict[str, Any], baseline: dict[str, Any] | None, probes: tuple[str, ...]) -> None:
    assert probes_run(info, baseline) == probes


def test_a_metric_of_a_probe_not_run_is_refused_naming_the_sweep_and_what_it_can_use() -> None:
    assert usable_metrics(("math",)) == ("z", "sum", "math")
    for metric in ("z", "sum", "math"):
        check_metric(metric, meta(eq="none"), "runs/a")
    with pytest.raises(OptionError) as info:
        check_metric("eq", meta(eq="none"), "runs/a")
    message = str(info.value)
    assert "\n" not in message and "runs/a" in message and "--eq-set none" in message
    assert message.endswith("rank it by z, sum, math")
    with pytest.raises(OptionError, match="rank it by z, sum, eq"):
        check_metric("math", meta(math="none"), "runs/b")


@pytest.mark.parametrize(
    ("config", "n_layers", "key"),
    [
        ("4, 8", 10, "4,8"),
        ("[4,8]", 10, "4,8"),
        ("layers:" + ",".join(map(str, [*range(8), *range(4, 10)])), 10, "4,8"),
        ("5,3", 10, "5,3"),  # outside the grammar's ranges: left as written for the readers' checks
        ("=cmd|x", 10, "=cmd|x"),
        ("4, 8", None, "4, 8"),  # no layer count: as written
        ("4, 8", 10**9, "4, 8"),  # not a model's layer count: never expanded
        ("4, 8", True, "4, 8"),
        ("4, 8", "10", "4, 8"),
    ],
)
def test_config_key(config: str, n_layers: Any, key: str) -> None:
    started = time.monotonic()
    assert config_key(config, n_layers) == key
    assert time.monotonic() - started < 1


def test_rows_of_one_config_spelled_several_ways_are_one_row_the_last(tmp_path: Path) -> None:
    path_4_8 = "layers:" + ",".join(map(str, [*range(8), *range(4, 10)]))
    rows = [
        {"config": c, "status": "ok", "math": float(k)} for k, c in enumerate(["0,0", "4,8", "2,3", "[4, 8]", path_4_8])
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "sweep.json").write_text(json.dumps(meta()))
    read = read_rows(tmp_path / "results.jsonl", n_layers=10)
    assert [(r["config"], r["math"]) for r in read] == [("0,0", 0.0), ("4,8", 4.0), ("2,3", 2.0)]
    assert read_sweep(tmp_path)[1] == read
    bare = tmp_path / "bare"  # no sweep.json beside it: no layer count, so each spelling as written
    bare.mkdir()
    (bare / "results.jsonl").write_text((tmp_path / "results.jsonl").read_text())
    assert [r["config"] for r in read_rows(bare / "results.jsonl")] == ["0,0", "4,8", "2,3", "[4, 8]", path_4_8]
    assert json.loads((tmp_path / "results.jsonl").read_text().splitlines()[3])["config"] == "[4, 8]"  # input kept
