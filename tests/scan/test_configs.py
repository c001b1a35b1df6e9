"""What a scan measures: one plan per layer path however a config is spelled, the failed baseline
measured again, a config timeout that would fail every config refused, stack options range-checked."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.sweeps import FAST, recorded_sweep, rows_of
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.errors import OptionError
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.scan.grid import GridSpec, plan_sweep
from rys_gguf.scan.stack import StackOptions, check_stack_options
from rys_gguf.scan.sweep import run_scan

PATH_1_3 = "layers:0,1,2,1,2,3"


def test_a_configs_file_names_each_layer_path_once(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    file = tmp_path / "configs.txt"
    file.write_text(f"2,3\n1,3\n1, 3\n[1,3]\nblocks:1,3\n{PATH_1_3}\nlayers:0,1,2,3\n2,3;2,3\n")
    with GGUFModel(src) as model:
        plan = plan_sweep(model, GridSpec(configs_file=file))
        explicit = plan_sweep(model, GridSpec(configs=(PATH_1_3, "1,3", "0,0")))
    assert plan.configs[0].spec == "0,0"  # the layers: path of the unchanged model is the baseline
    assert sorted(p.spec for p in plan.configs[1:]) == ["1,3", "2,3", "2,3;2,3"]
    assert [p.spec for p in explicit.configs] == ["0,0", "1,3"]


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf])
def test_a_config_timeout_that_fails_every_config_is_refused(tmp_path: Path, timeout: float) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    with pytest.raises(OptionError, match=r"--config-timeout .*expected seconds > 0"):
        run_scan(src, tmp_path / "sweep", replace(FAST, config_timeout=timeout))
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        (StackOptions(penalty=math.nan), "--penalty nan"),
        (StackOptions(penalty=math.inf), "--penalty inf"),
        (StackOptions(penalty=-0.1), "--penalty -0.1"),
        (StackOptions(min_gain=math.nan), "--min-gain nan"),
        (StackOptions(min_gain=-math.inf), "--min-gain -inf"),
    ],
)
def test_stack_scores_stay_numbers(options: StackOptions, phrase: str) -> None:
    with pytest.raises(OptionError, match=phrase):
        check_stack_options(options)
    check_stack_options(StackOptions(penalty=0.05, min_gain=-1.0))  # a loss allowed before the plateau


def test_a_failed_baseline_is_measured_again_and_nothing_else(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=3))
    out = recorded_sweep(tmp_path / "s", src, 3, configs=["0,0", "0,1", "1,2"], failed=("0,0", "1,2"))
    result = run_scan(src, out, replace(FAST, grid=GridSpec(configs=("0,1", "1,2"))))
    assert result.n_run == 1 and result.n_resumed == 2
    rows = rows_of(out)
    assert [(r["config"], r["status"]) for r in rows[3:]] == [("0,0", "ok")]
    assert run_scan(src, out, replace(FAST, grid=GridSpec(configs=("0,1", "1,2")))).n_run == 0
