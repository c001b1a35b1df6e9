"""The memory planner against what llama.cpp reports, and the budget that scan, verify and
validate check before they load anything.

The oracle is llama.cpp's own log: the "model/KV/compute/output buffer size" lines it prints as
it loads a model and creates contexts, captured here while the worker's code path runs (load,
then generate every probe as one batch).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import CliRunner
from helpers.extras import needs_lm_eval
from helpers.sweeps import SCAN_ARGS
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.builder.job import build
from rys_gguf.builder.source import model_constraints
from rys_gguf.cli import app
from rys_gguf.cli.options import parse_memory
from rys_gguf.errors import OptionError
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.llama.memory import ContextShape, MemoryBudget, ModelMemory, shortfall, worker_contexts
from rys_gguf.probes import ProbeSpec, load_probe_set
from rys_gguf.scan.memoryplan import probe_needs

SMOLLM2 = Path("/work/recorded/models/SmolLM2-135M-Instruct.Q4_1.gguf")
PROBES = ProbeSpec(math="search", eq="builtin")  # the scan's default: 16 math + 16 EQ


def planner(path: Path) -> ModelMemory:
    with GGUFModel(path) as model:
        return ModelMemory.read(model, model_constraints(model))


# -- pure: what the estimate counts ------------------------------------------------------------


def test_duplicated_layers_are_counted_as_copies(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=6))
    mem = planner(src)
    ctx = [ContextShape(512, 4)]
    base, rys = mem.estimate(None, ctx), mem.estimate([0, 1, 2, 3, 2, 3, 4, 5], ctx)
    with GGUFModel(src) as model:
        layer2 = sum(t.n_bytes for t in model.tensors if t.name.startswith(("blk.2.", "blk.3.")))
    assert rys.weights - base.weights == layer2
    assert rys.kv == base.kv * 8 // 6  # every layer holds the same KV width
    assert rys.compute == base.compute  # one ubatch's activations do not depend on depth


def test_kv_cache_follows_llama_cpp_sizes(tmp_path: Path) -> None:
    """K and V f16, per layer head_count_kv x key_length, one stream per sequence."""
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("arrays", n_layers=6))  # KV heads 1, 2, 4, 1, 2, 4
    mem = planner(src)
    kv = mem.estimate(None, [ContextShape(256, 3)], flash_attn=True).kv
    assert kv == sum(2 * 2 * 16 * h for h in (1, 2, 4, 1, 2, 4)) * 256 * 3
    # Without flash attention V is stored transposed, as wide as the widest layer's.
    kv = mem.estimate(None, [ContextShape(256, 3)]).kv
    assert kv == sum(2 * 16 * h + 2 * 16 * 4 for h in (1, 2, 4, 1, 2, 4)) * 256 * 3


def test_sliding_window_layers_hold_their_window_when_not_full(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("gemma3", n_layers=6))  # window 4, layer 5 global
    mem = planner(src)
    per_cell = 2 * 2 * 32 * 2  # K + V, f16, head 32, 2 KV heads
    full = mem.estimate(None, [ContextShape(2048)], swa_full=True).kv
    windowed = mem.estimate(None, [ContextShape(2048)], swa_full=False).kv
    assert full == 6 * per_cell * 2048
    assert windowed == per_cell * (2048 + 5 * 768)  # min(2048, 4 + 512 ubatch) padded to 256


def test_gpu_offload_places_weights_and_kv_as_llama_cpp_does(tmp_path: Path) -> None:
    """Input embeddings stay on the host; a tied output matrix gets its own GPU copy; with
    --n-gpu-layers k the last k of the layers and the output layer (and their KV cache) go to
    the GPU, llama.cpp counting the output layer as one."""
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("gemma3", n_layers=6))  # tied embeddings
    mem = planner(src)
    with GGUFModel(src) as model:
        sizes = {t.name: t.n_bytes for t in model.tensors}
    embd = sizes["token_embd.weight"]
    layers = sum(n for name, n in sizes.items() if name.startswith("blk."))
    ctx = [ContextShape(512, 2)]
    cpu, full = mem.estimate(None, ctx), mem.estimate(None, ctx, gpu=True)
    assert cpu.weights == sum(sizes.values()) and cpu.device == cpu.total
    assert full.weights == sum(sizes.values()) and full.host == embd  # the output copy on the GPU
    assert full.device == full.weights + full.kv + full.compute
    part = mem.estimate(None, ctx, gpu=True, n_gpu_layers=2)  # layer 5 and the output layer
    head = sum(sizes.values()) - layers  # input embeddings and the output norm
    last = sum(n for name, n in sizes.items() if name.startswith("blk.5."))
    assert part.weights == last + head  # the output norm and the tied matrix's GPU copy
    assert part.kv == full.kv // 6
    assert part.host == embd + layers - last + full.kv - part.kv


def test_budget_available_per_split() -> None:
    gb = 10**9
    two = MemoryBudget((24 * gb, 24 * gb), "--memory", gpu=True)
    assert two.available((), "layer", 0, None) == 48 * gb
    assert two.available((), "none", 1, None) == 24 * gb
    assert two.available((0, 1), "layer", 0, None) == 24 * gb  # one worker per GPU: one GPU each
    assert two.available((), "row", 0, (3, 1)) == 32 * gb  # GPU 0 takes 3/4 and has 24 GB
    assert MemoryBudget((16 * gb,), "--memory", gpu=False).available((0, 1), "none", 0, None) == 16 * gb


def test_shortfall_reads_like_the_issue(tmp_path: Path) -> None:
    mem = planner(write_tiny_model(tmp_path / "m.gguf", TinySpec("llama")))
    need = mem.estimate(None, [ContextShape(512, 4)])
    assert shortfall(need, need.device) is None
    why = shortfall(need, 10**6)
    assert why is not None and why.startswith(f"needs {need.device / 1e6:.1f} MB, 1.0 MB available (weights ")


def test_parse_memory() -> None:
    assert parse_memory("24G,24G") == (24 * 10**9, 24 * 10**9)
    assert parse_memory("500M") == (500 * 10**6,)
    assert parse_memory("none") == ()
    assert parse_memory("auto") is None and parse_memory(None) is None
    with pytest.raises(OptionError, match="--memory"):
        parse_memory("lots")


# -- the planner vs llama.cpp's reported buffers -----------------------------------------------


def reported_vs_planned(path: Path, generate: bool = True) -> tuple[dict[str, int], dict[str, int]]:
    """Buffers llama.cpp reports as the worker's code path runs, and the planner's numbers.

    With ``generate`` every probe is answered as one batch, as in a scan; without, the batch
    context the engine would build for them is created directly (real models: minutes saved).
    """
    from rys_gguf.llama import cpu_repack, logs
    from rys_gguf.llama.options import RuntimeOptions
    from rys_gguf.llama.runner import open_model

    probes = load_probe_set(math=PROBES.math, eq=PROBES.eq)
    items = probes.items
    with GGUFModel(path) as gguf:
        needs = probe_needs(gguf, probes, no_think=False)
        assert needs.note is None, needs.note  # counted by llama.cpp's tokenizer, not bounded
        contexts = worker_contexts(needs.needs, len(items))
        repack = cpu_repack.resolve().enabled  # as the load below will do
        est = ModelMemory.read(gguf, model_constraints(gguf)).estimate(None, contexts, cpu_repack=repack)
    lines: list[str] = []
    with logs.capture(listener=lines.append), open_model(path, RuntimeOptions(n_threads=2), len(items)) as model:
        if generate:
            model.generate([model.render(i.system, i.user) for i in items], [i.max_tokens for i in items])
        else:
            model._engine._batch_context(contexts[1].n_ctx_seq, contexts[1].n_seq)
    reported: dict[str, int] = {}
    for buf in logs.reported_buffers(lines):
        reported[buf.kind] = reported.get(buf.kind, 0) + buf.n_bytes
    planned = {"model": est.weights, "KV": est.kv, "compute": est.compute, "output": est.output}
    return reported, planned


def assert_close(path: Path, reported: dict[str, int], planned: dict[str, int]) -> None:
    total, est = sum(reported.values()), sum(planned.values())
    detail = {k: (reported.get(k, 0) / 2**20, v / 2**20) for k, v in planned.items()}
    assert abs(est / total - 1) <= 0.10, (
        f"{path.name}: planned {est / 2**20:.1f} MiB, reported {total / 2**20:.1f}: {detail}"
    )
    assert abs(planned["KV"] / reported["KV"] - 1) < 0.01, detail  # the KV cache is exact arithmetic
    assert planned["model"] == pytest.approx(reported["model"], rel=0.001, abs=16 << 10), detail


@pytest.mark.llama
@pytest.mark.procs
@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3", "arrays"])
def test_planner_matches_llama_cpp_on_tiny_models(tmp_path: Path, arch: str) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec(arch, n_layers=6))
    reported, planned = reported_vs_planned(src, generate=arch == "llama")  # one full worker path is enough
    assert_close(src, reported, planned)


@pytest.mark.llama
@pytest.mark.procs
def test_planner_counts_a_built_rys_model(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=6, quant="q8_0"))
    rys = tmp_path / "rys.gguf"
    build(src, rys, "1,5")
    reported, planned = reported_vs_planned(rys, generate=False)
    assert_close(rys, reported, planned)
    # The RYS file's estimate equals the source's estimate along the config's path.
    probes = load_probe_set(math=PROBES.math, eq=PROBES.eq)
    with GGUFModel(src) as gguf:
        contexts = worker_contexts(probe_needs(gguf, probes, False).needs, len(probes.items))
        along = ModelMemory.read(gguf, model_constraints(gguf)).estimate([0, 1, 2, 3, 4, 1, 2, 3, 4, 5], contexts)
    assert along.kv == planned["KV"] and along.compute == planned["compute"]
    assert abs(along.weights - planned["model"]) < 4096  # tensor padding only


@pytest.mark.llama
@pytest.mark.procs
def test_planner_matches_llama_cpp_on_gemma(gemma_path: Path) -> None:
    reported, planned = reported_vs_planned(gemma_path, generate=False)
    assert_close(gemma_path, reported, planned)


@pytest.mark.llama
@pytest.mark.slow
@pytest.mark.procs
@pytest.mark.skipif(not SMOLLM2.exists(), reason=f"{SMOLLM2} is not on this machine")
def test_planner_matches_llama_cpp_on_smollm2() -> None:
    reported, planned = reported_vs_planned(SMOLLM2, generate=False)
    assert_close(SMOLLM2, reported, planned)


# -- scans, validate and verify refuse what cannot fit ---------------------------------------


def baseline_and_largest(src: Path, max_block: int) -> tuple[int, int]:
    """The planner's need for the unchanged model and the largest config (this test's probes)."""
    probes = load_probe_set(math="search", eq="builtin", n_eq=2)
    with GGUFModel(src) as gguf:
        needs = probe_needs(gguf, probes, False)
        mem = ModelMemory.read(gguf, model_constraints(gguf))
        n = len(mem.layers)
    contexts = worker_contexts(needs.needs, len(probes.items))
    big = [*range(max_block), *range(n)]
    return mem.estimate(None, contexts).device, mem.estimate(big, contexts).device


def test_configs_over_the_budget_are_skipped_and_never_loaded(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    base, largest = baseline_and_largest(src, 2)
    budget = (base + largest) // 2  # the one-layer blocks fit, the two-layer ones do not
    log = tmp_path / "ran.log"
    out = tmp_path / "sweep"
    r = CliRunner().invoke(
        app,
        ["scan", src, "--out", out, "--max-block", "2", "--memory", str(budget), *SCAN_ARGS],
        env={"RYS_FAKE_LOG": str(log)},
    )
    assert r.exit_code == 0, r.output
    ran = {line.split()[0] for line in log.read_text().splitlines()}
    assert ran == {"0,0", "0,1", "1,2", "2,3", "3,4"}
    skipped = json.loads((out / "skipped.json").read_text())["configs"]
    assert set(skipped) == {"0,2", "1,3", "2,4"}
    assert all(why.startswith("needs ") and f", {budget / 1e6:.1f} MB available (" in why for why in skipped.values())
    assert f"memory: 5 of 8 configs fit in {budget / 1e6:.1f} MB of RAM (--memory)" in r.output


def test_a_baseline_that_cannot_fit_stops_before_anything_loads(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    base, _ = baseline_and_largest(src, 1)
    log = tmp_path / "ran.log"
    out = tmp_path / "sweep"
    r = CliRunner().invoke(
        app, ["scan", src, "--out", out, "--memory", str(base - 1000), *SCAN_ARGS], env={"RYS_FAKE_LOG": str(log)}
    )
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.output
    assert f"the unchanged model needs {base / 1e6:.1f} MB, {(base - 1000) / 1e6:.1f} MB available" in lines[0]
    assert not log.exists() and not out.exists()  # no worker ran, no sweep folder made


def test_memory_none_checks_nothing(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    r = CliRunner().invoke(app, ["scan", src, "--out", tmp_path / "s", "--memory", "none", *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    assert "memory: not checked (--memory none)" in r.output


def test_validate_skips_what_cannot_fit(tmp_path: Path, fake_worker: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    out = tmp_path / "sweep"
    r = CliRunner().invoke(app, ["scan", src, "--out", out, "--max-block", "1", *SCAN_ARGS])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["validate", out, "--eq-set", "validation", "--memory", "1M", "-q"])
    assert r.exit_code == 2
    assert "the unchanged model needs" in r.stderr and "1.0 MB available" in r.stderr
    assert not (out / "validation" / "results.jsonl").exists()


def test_verify_refuses_a_model_that_cannot_fit(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    rys = tmp_path / "rys.gguf"
    build(src, rys, "1,3")
    r = CliRunner().invoke(app, ["verify", src, rys, "--memory", "2M", "-q"])  # llama.cpp is never loaded here
    assert r.exit_code == 2
    assert r.stderr.startswith(f"rys-gguf: error: {src}: SRC needs ") and "2.0 MB available" in r.stderr
    assert "nothing was loaded" in r.stderr


@needs_lm_eval  # the run that fits must reach lm-eval, whose refusal names the task file
def test_eval_refuses_a_model_that_cannot_fit(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=4))
    rys = tmp_path / "rys.gguf"
    build(src, rys, "1,3")
    r = CliRunner().invoke(app, ["eval", src, rys, "--tasks", "none.yaml", "--memory", "2M", "-q"])
    assert r.exit_code == 2  # refused before lm-eval reads its tasks or llama.cpp loads anything
    assert r.stderr.startswith(f"rys-gguf: error: {src}: the source needs ") and "2.0 MB available" in r.stderr
    assert not (tmp_path / "rys-eval").exists()
    sized = CliRunner().invoke(app, ["eval", src, rys, "--tasks", "none.yaml", "--memory", "1G", "-q"])
    assert "needs" not in sized.stderr  # fits: the next refusal is the missing task file's


def test_without_gpu_offload_there_is_no_automatic_budget(tmp_path: Path) -> None:
    from rys_gguf.llama.budget import resolve_budget
    from rys_gguf.llama.options import RuntimeOptions

    assert resolve_budget(None, RuntimeOptions(n_gpu_layers=0)) is None
    assert resolve_budget((), RuntimeOptions()) is None
    budget = resolve_budget((10**9,), RuntimeOptions(n_gpu_layers=0))
    assert budget is not None and not budget.gpu and budget.per_device == (10**9,)
    assert os.environ.get("RYS_WORKER_CMD") is None  # no scan here
