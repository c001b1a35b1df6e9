"""The CPU repacking policy: the choice, the verdict ``auto`` finds (a crash injected through the
child's fault hook, so these run on every CPU), its cache, what loads do with it, and the scan's
message when the baseline dies by a signal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.sweeps import SCAN_ARGS
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.cli import app
from rys_gguf.errors import LlamaError
from rys_gguf.llama import cpu_repack
from rys_gguf.llama.options import RuntimeOptions


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test with its own cache folder and no remembered verdicts."""
    monkeypatch.setenv("RYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(cpu_repack.ENV, raising=False)
    monkeypatch.delenv("RYS_CPU_REPACK_FAULT", raising=False)
    monkeypatch.setattr(cpu_repack, "_resolved", {})


def no_probe(*_: object) -> tuple[bool | None, str]:
    raise AssertionError("the child ran, but the verdict should have come from the choice or the cache")


def test_on_and_off_need_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_repack, "probe", no_probe)
    on, off = cpu_repack.resolve("on"), cpu_repack.resolve("off")
    assert on.enabled and not off.enabled
    assert on.note and "on (--cpu-repack on)" in on.note
    assert off.note and "off (--cpu-repack off)" in off.note


def test_the_environment_chooses_for_the_library_and_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_repack, "probe", no_probe)
    monkeypatch.setenv(cpu_repack.ENV, "OFF")
    verdict = cpu_repack.resolve()
    assert not verdict.enabled and verdict.source == "$RYS_CPU_REPACK"
    assert cpu_repack.resolve("on").enabled  # the option wins over the environment


def test_a_bad_choice_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu_repack.ENV, "maybe")
    with pytest.raises(LlamaError, match=r"\$RYS_CPU_REPACK 'maybe': expected auto, on or off"):
        cpu_repack.resolve()
    with pytest.raises(LlamaError, match="--cpu-repack"):
        RuntimeOptions(cpu_repack="yes")


def test_auto_keeps_a_definite_verdict_and_asks_again_when_it_could_not_tell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([(None, "the check failed (no llama.cpp)"), (False, "llama.cpp crashed (SIGSEGV)")])
    monkeypatch.setattr(cpu_repack, "probe", lambda: next(answers))
    unsure = cpu_repack.resolve()
    assert not unsure.enabled and not unsure.certain and unsure.note is None  # off, said by nothing
    monkeypatch.setattr(cpu_repack, "_resolved", {})
    crashed = cpu_repack.resolve()  # asked again: nothing was cached
    assert not crashed.enabled and crashed.certain
    assert crashed.note == "CPU weight repacking off (default auto): llama.cpp crashed (SIGSEGV)"
    cached = list((tmp_path / "cache" / "cpu-repack").glob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["safe"] is False
    monkeypatch.setattr(cpu_repack, "_resolved", {})
    monkeypatch.setattr(cpu_repack, "probe", no_probe)
    again = cpu_repack.resolve()  # from the cache: no child
    assert not again.enabled and again.reason.endswith("(cached)")


def test_the_verdict_depends_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cpu_repack._build_key()
    monkeypatch.setattr(cpu_repack, "cpu_identity", lambda: ("another CPU", "avx2"))
    assert cpu_repack._build_key() != key


@pytest.mark.llama
@pytest.mark.procs
def test_a_child_that_dies_by_a_signal_turns_repacking_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault hook kills the child as the AMX kernels do, after the load, at the decode."""
    monkeypatch.setenv("RYS_CPU_REPACK_FAULT", "crash")
    safe, reason = cpu_repack.probe()
    assert safe is False
    assert reason.startswith("llama.cpp crashed (SIGSEGV) decoding repacked weights on this CPU")


@pytest.mark.llama
@pytest.mark.procs
def test_auto_finds_what_this_cpu_does() -> None:
    """llama-cpp-python 0.3.36's AMX kernels crash; without AMX, repacked weights decode."""
    _, flags = cpu_repack.cpu_identity()
    verdict = cpu_repack.resolve()
    assert verdict.certain
    assert verdict.enabled == ("amx_int8" not in flags.split()), verdict.reason


@pytest.mark.llama
@pytest.mark.parametrize("choice", ["off", pytest.param(None, marks=pytest.mark.procs)])  # None: auto asks a child
def test_loads_without_repacking_hold_no_repacked_buffer(tmp_path: Path, choice: str | None) -> None:
    """Off (chosen, or found by auto where repacking crashes): llama.cpp keeps every weight in the file's
    mapping, and the model decodes."""
    from rys_gguf.llama import logs
    from rys_gguf.llama.runner import open_model

    verdict = cpu_repack.resolve(choice)
    if verdict.enabled:
        pytest.skip("auto allows repacking on this CPU")
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2, quant="q8_0"))
    lines: list[str] = []
    with logs.capture(listener=lines.append), open_model(src, RuntimeOptions(n_threads=2, cpu_repack=choice)) as m:
        assert len(m.generate(["hello world"], [4])) == 1
    devices = {b.device for b in logs.reported_buffers(lines) if b.kind == "model"}
    assert devices and not devices & {"AMX", "CPU_REPACK"}, devices


def test_the_planner_counts_repacked_weights_only_when_repacking(tmp_path: Path) -> None:
    from rys_gguf.builder.source import model_constraints
    from rys_gguf.gguffile.reader import GGUFModel
    from rys_gguf.llama.memory import ContextShape, ModelMemory, _repacks

    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2, quant="q4_0"))
    with GGUFModel(src) as gguf:
        planner = ModelMemory.read(gguf, model_constraints(gguf))
    contexts = [ContextShape(n_ctx_seq=256, n_seq=1)]
    on, off = planner.estimate(None, contexts), planner.estimate(None, contexts, cpu_repack=False)
    repacked = sum(x.repacked for x in planner.layers) + planner.other_repacked
    assert repacked > 0
    assert on.weights - off.weights == (repacked if _repacks() else 0)


def test_a_baseline_killed_by_a_signal_names_the_causes(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    r = CliRunner().invoke(
        app,
        ["scan", src, "--out", tmp_path / "s", "--cpu-repack", "on", *SCAN_ARGS],
        env={"RYS_FAKE_CRASH": "0,0"},
    )
    assert r.exit_code == 2
    message = r.stderr.strip().splitlines()[-1]
    assert "the baseline (unchanged model) crashed llama.cpp: worker died: SIGSEGV" in message
    for hint in ("repacking was on: --cpu-repack on", "--cpu-repack off", "--n-gpu-layers 0", "RYS_DEBUG=1"):
        assert hint in message
    assert r.output.count("CPU weight repacking on (--cpu-repack on)") == 1  # said once


def test_the_cli_says_a_choice_once(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    r = CliRunner().invoke(
        app, ["scan", src, "--out", tmp_path / "s", *SCAN_ARGS], env={cpu_repack.ENV: "off", "RYS_FAKE_DELAY": "0"}
    )
    assert r.exit_code == 0, r.output
    assert r.output.count("CPU weight repacking off ($RYS_CPU_REPACK off)") == 1
    assert os.environ.get(cpu_repack.ENV) is None  # the runner's environment did not leak
