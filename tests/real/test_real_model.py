"""The real model: Gemma 3 270M Q4_K_M (mixed quant types, 262k vocab, SWA period 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader
from helpers.cli import CliRunner

from rys_gguf.cli import app
from rys_gguf.demo.fetch import GEMMA_SHA256, sha256_file
from rys_gguf.gguffile.reader import GGUFModel

pytestmark = pytest.mark.slow
TEXT = "The capital of France is Paris. " * 6  # longer than nothing, shorter than the window


def logits(path: Path, text: str = TEXT) -> np.ndarray:
    from rys_gguf.llama.engine import load_llama

    llm = load_llama(path, n_ctx=256, logits_all=True, n_threads=2, verbose=False)
    try:
        tokens = llm.tokenize(text.encode(), add_bos=True)
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)])
    finally:
        llm.close()


def test_fetched_model_is_verified(gemma_path: Path) -> None:
    assert sha256_file(gemma_path) == GEMMA_SHA256


def test_identity_round_trip_is_byte_exact(gemma_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "same.gguf"
    spec = "layers:" + ",".join(str(k) for k in range(18))
    assert CliRunner().invoke(app, ["build", str(gemma_path), str(out), "-c", spec, "-q"]).exit_code == 0
    assert sha256_file(out) == GEMMA_SHA256


def test_build_6_12_loads_and_generates(gemma_path: Path, tmp_path: Path) -> None:
    from rys_gguf.llama.engine import load_llama

    out = tmp_path / "rys.gguf"
    result = CliRunner().invoke(app, ["build", str(gemma_path), str(out), "-c", "6,12", "-q"])
    assert result.exit_code == 0, result.output
    assert "layers 18 → 24" in result.output
    reader = GGUFReader(out)
    assert reader.fields["gemma3.block_count"].contents() == 24
    assert reader.fields["rys.layer_path"].contents() == [*range(12), *range(6, 18)]
    assert reader.fields["general.name"].contents() == "Gemma 3 270m"
    with GGUFModel(gemma_path) as src, GGUFModel(out) as dst:
        src_t = {t.name: t for t in src.tensors}
        for t in dst.tensors:
            if t.name.startswith("blk.14."):  # output layer 14 runs source layer 8
                s = src_t[t.name.replace("blk.14.", "blk.8.", 1)]
                with open(t.path, "rb") as a, open(s.path, "rb") as b:
                    a.seek(t.data_offset)
                    b.seek(s.data_offset)
                    assert a.read(t.n_bytes) == b.read(s.n_bytes)
    llm = load_llama(out, n_ctx=128, verbose=False)
    try:
        text = llm.create_completion("The capital of France is", max_tokens=8, temperature=0)
    finally:
        llm.close()
    assert "Paris" in text["choices"][0]["text"]  # type: ignore[index]
    assert not np.allclose(logits(out), logits(gemma_path))  # the block really runs twice


def test_6_9_refused_then_written_with_swa_array(gemma_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "rys69.gguf"
    refused = CliRunner().invoke(app, ["build", str(gemma_path), str(out), "-c", "6,9"])
    assert refused.exit_code == 2
    assert "multiple of 6" in refused.output and "--write-swa-pattern" in refused.output
    assert "Ollama" in refused.output and not out.exists()
    ok = CliRunner().invoke(app, ["build", str(gemma_path), str(out), "-c", "6,9", "--write-swa-pattern", "-q"])
    assert ok.exit_code == 0, ok.output
    flags = list(GGUFReader(out).fields["gemma3.attention.sliding_window_pattern"].contents())
    source_flags = [il % 6 < 5 for il in range(18)]  # llama.cpp's gemma3 rule: 5 local, 1 global
    path = [*range(9), *range(6, 18)]
    assert flags == [source_flags[s] for s in path]
    assert logits(out).shape[0] > 0


def test_split_output_loads_identically(gemma_path: Path, tmp_path: Path) -> None:
    single, split = tmp_path / "one.gguf", tmp_path / "many.gguf"
    runner = CliRunner()
    assert runner.invoke(app, ["build", str(gemma_path), str(single), "-c", "6,12", "-q"]).exit_code == 0
    r = runner.invoke(app, ["build", str(gemma_path), str(split), "-c", "6,12", "--split-max-size", "100M", "-q"])
    assert r.exit_code == 0, r.output
    shards = sorted(tmp_path.glob("many-*-of-*.gguf"))
    assert len(shards) >= 3 and shards[0].name == f"many-00001-of-{len(shards):05d}.gguf"
    assert np.array_equal(logits(single), logits(shards[0]))
    # A split model is also accepted as input, and the round trip is exact.
    back = tmp_path / "back.gguf"
    assert runner.invoke(app, ["build", str(shards[0]), str(back), "-c", "0,0", "-q"]).exit_code == 0
    with GGUFModel(back) as m:
        assert "split.count" not in m.kv and m.value("gemma3.block_count") == 24
        assert list(m.value("rys.layer_path")) == [*range(12), *range(6, 18)]


def test_scan_a_few_configs(gemma_path: Path, tmp_path: Path) -> None:
    picks = tmp_path / "picks.txt"
    picks.write_text("6,12\n0,6\n")
    out = tmp_path / "sweep"
    args = [
        "scan",
        str(gemma_path),
        "--out",
        str(out),
        "--configs",
        str(picks),
        "--eq-set",
        "none",
        "--threads",
        "2",
        "-q",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    import json

    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert rows[0]["config"] == "0,0"  # the baseline always runs first
    assert sorted(row["config"] for row in rows) == ["0,0", "0,6", "6,12"]
    assert all(row["status"] == "ok" and row["math_parse_rate"] >= 0.5 for row in rows)
    assert all(row["n_layers"] == 24 for row in rows[1:]) and 0 < rows[0]["math"] <= 1
    assert (out / "report.md").exists() and (out / "heatmap_math.png").stat().st_size > 10_000
    assert "best: rys-gguf build" in r.output
