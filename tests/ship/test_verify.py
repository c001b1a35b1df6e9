"""`verify`: tensor bytes against the recorded layer path, llama.cpp load, next-token agreement."""

from __future__ import annotations

import hashlib
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import CliRunner
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.builder.job import build
from rys_gguf.cli import app
from rys_gguf.errors import RysError
from rys_gguf.gguffile.reader import GGUFFile, GGUFModel
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.ship import verify
from rys_gguf.ship.verify import (
    MAX_MEAN_KL,
    MIN_TOP1,
    VerifyOptions,
    compare_distributions,
    judge_distributions,
    verify_model,
)

pytestmark = pytest.mark.llama  # verify loads both models

CPU = RuntimeOptions(n_gpu_layers=0, n_threads=1)
SHORT = "The quick brown fox jumps over the lazy dog."


def patch_u32(path: Path, key: str, values: list[int]) -> None:
    """Overwrite the u32 value(s) of a key in place (same count, so the layout stays valid)."""
    with GGUFFile(path) as f:
        entry = f.kv[key]
    assert entry.count == len(values)
    with open(path, "r+b") as fh:
        fh.seek(entry.value_start)
        fh.write(struct.pack(f"<{len(values)}I", *values))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("llama"))
    rys = tmp_path / "rys.gguf"
    build(src, rys, "2,4")
    return src, rys


def run_verify(src: Path, rys: Path) -> tuple[int, str]:
    args = ["verify", str(src), str(rys), "-ngl", "0", "--threads", "1", "--max-tokens", "4", "-q"]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_verify_passes_on_a_correct_build(pair: tuple[Path, Path]) -> None:
    src, rys = pair
    report = verify_model(src, rys, VerifyOptions(SHORT, 4, CPU))
    assert report.passed, report.checks
    names = [c.name for c in report.checks]
    assert names == ["loads in llama.cpp", "layer count", "tensor data", "next-token distributions"]
    assert "6 -> 8 layers, source layers 0-3, 2-5" in report.checks[1].detail
    assert report.top1_agreement is not None and MIN_TOP1 <= report.top1_agreement < 1
    assert report.mean_kl is not None and 0 < report.mean_kl <= MAX_MEAN_KL
    assert set(report.samples) == {"source", "rys"}
    code, output = run_verify(src, rys)
    assert code == 0, output
    assert "✓ tensor data" in output and "verify: passed" in output and "RYS sample" in output


def test_verify_fails_when_the_layer_path_lies(pair: tuple[Path, Path]) -> None:
    src, rys = pair
    patch_u32(rys, "rys.layer_path", [0, 1, 2, 1, 2, 3, 4, 5])  # the path of "1,3", not "2,4"
    report = verify_model(src, rys, VerifyOptions(SHORT, 1, CPU))
    failed = [c for c in report.checks if not c.passed]
    assert [c.name for c in failed] == ["tensor data"]
    assert "differs from source blk.1." in failed[0].detail
    code, output = run_verify(src, rys)
    assert code == 1 and "✗ tensor data" in output and "verify: FAILED" in output


def test_verify_fails_on_swapped_layer_data(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "src.gguf", TinySpec("llama"))
    rys = tmp_path / "rys.gguf"
    build(src, rys, "layers:0,1,3,2,2,3,4,5")
    patch_u32(rys, "rys.layer_path", [0, 1, 2, 3, 2, 3, 4, 5])  # claims "2,4"
    code, output = run_verify(src, rys)
    assert code == 1 and "blk.2." in output and "blk.3." in output


def test_verify_fails_on_a_wrong_source_count(pair: tuple[Path, Path]) -> None:
    src, rys = pair
    patch_u32(rys, "rys.source_block_count", [7])
    report = verify_model(src, rys, VerifyOptions(SHORT, 1, CPU))
    by_name = {c.name: c for c in report.checks}
    assert not by_name["layer count"].passed and "SRC has 6" in by_name["layer count"].detail
    assert not by_name["tensor data"].passed and "not compared" in by_name["tensor data"].detail


def test_verify_reports_a_model_llama_cpp_cannot_load(pair: tuple[Path, Path]) -> None:
    src, rys = pair
    patch_u32(rys, "llama.embedding_length", [32])  # tensors are 64 wide: shape check fails
    report = verify_model(src, rys, VerifyOptions(SHORT, 1, CPU))
    by_name = {c.name: c for c in report.checks}
    assert not by_name["loads in llama.cpp"].passed
    assert by_name["tensor data"].passed  # the bytes are still right
    assert report.mean_kl is None and "rys" not in report.samples
    assert run_verify(src, rys)[0] == 1


def test_verify_rejects_inputs_it_cannot_compare(pair: tuple[Path, Path]) -> None:
    src, rys = pair
    code, output = run_verify(src, src)
    assert code == 2 and "no rys.layer_path" in output
    code, output = run_verify(rys, rys)
    assert code == 2 and "is itself an RYS model" in output
    code, output = run_verify(src, src.with_name("missing.gguf"))
    assert code == 2 and "no such file" in output


def test_tensor_hashing_streams_in_chunks(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, rys = pair
    monkeypatch.setattr(verify, "HASH_CHUNK", 7)
    seen: list[int] = []
    digests = verify._Digests(seen.append)
    with GGUFModel(rys) as model:
        tensor = next(t for t in model.tensors if t.name == "blk.3.attn_q.weight")
        data = Path(rys).read_bytes()[tensor.data_offset : tensor.data_offset + tensor.n_bytes]
        assert digests(tensor) == hashlib.sha256(data).digest()
    digests.close()
    assert sum(seen) == tensor.n_bytes and max(seen) == 7


def test_compare_distributions_by_hand() -> None:
    src = np.array([[0.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    rys = np.array([[0.0, math.log(3.0)], [1.0, 0.0]], dtype=np.float32)
    top1, kl = compare_distributions(src, rys)
    p2 = np.exp([2.0, 0.0]) / np.exp([2.0, 0.0]).sum()
    q2 = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    row1 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    row2 = float((p2 * np.log(p2 / q2)).sum())
    assert top1 == 0.5  # row 1: argmax 0 vs 1; row 2: 0 and 0
    assert kl == pytest.approx((row1 + row2) / 2, rel=1e-6)
    assert compare_distributions(src, src) == (1.0, 0.0)
    with pytest.raises(RysError, match="tokenizer"):
        compare_distributions(src, rys[:, :1])


def test_judge_distributions_bounds() -> None:
    assert judge_distributions(0.52, 0.78, False, False, 67).passed
    assert judge_distributions(0.10, 6.1, False, False, 67).passed  # a bad but real config
    assert not judge_distributions(0.015, 18.4, False, False, 67).passed  # garbage
    assert not judge_distributions(0.5, MAX_MEAN_KL + 0.1, False, False, 67).passed
    same = judge_distributions(1.0, 0.0, True, False, 67)
    assert not same.passed and "nothing was duplicated" in same.detail
    assert judge_distributions(1.0, 0.0, True, True, 67).passed  # identity path: identical is right


@pytest.mark.slow
def test_verify_gemma(gemma_path: Path, tmp_path: Path) -> None:
    good = tmp_path / "gemma-6-12.gguf"
    build(gemma_path, good, "6,12")
    report = verify_model(gemma_path, good, VerifyOptions(n_sample_tokens=8))
    assert report.passed, report.checks
    # Measured: 0.52 / 0.78 (the module docstring); loose margins for other CPUs and builds.
    assert report.top1_agreement is not None and 0.3 <= report.top1_agreement <= 0.8
    assert report.mean_kl is not None and 0.3 <= report.mean_kl <= 2.0
    shuffled = tmp_path / "gemma-shuffled.gguf"  # whole 6-layer blocks moved: loads, but garbage
    order = [*range(12, 18), *range(6, 12), *range(0, 6)]
    build(gemma_path, shuffled, "layers:" + ",".join(map(str, order)))
    report = verify_model(gemma_path, shuffled, VerifyOptions(n_sample_tokens=1))
    by_name = {c.name: c for c in report.checks}
    assert by_name["tensor data"].passed and by_name["loads in llama.cpp"].passed
    assert not by_name["next-token distributions"].passed
    assert report.top1_agreement is not None and report.top1_agreement < MIN_TOP1
