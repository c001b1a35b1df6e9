"""Cost at scale: the arithmetic of ``benchmarks.scale_costs`` (the README's table of scan
durations) and the synthetic llama that ``benchmarks.bench_scale`` measures."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks import scale_costs
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.gguffile.synthetic import TOKENS, LlamaShape, write_llama


@pytest.fixture(scope="module")
def costs() -> ModuleType:
    return scale_costs


def test_configs_per_strategy(costs: ModuleType) -> None:
    assert costs.strategy_configs(80) == {
        "full triangle": 3241,  # 80 * 81 / 2 + the baseline
        "coarse, budget 200": 201,
        "adaptive, 10 % (default)": 325,
        "adaptive, 5 %": 163,
    }
    assert costs.strategy_configs(32)["full triangle"] == 529
    assert costs.strategy_configs(32)["adaptive, 10 % (default)"] == 54  # 52.8 rounds to 53
    assert costs.strategy_configs(64)["full triangle"] == 2081
    assert costs.strategy_configs(8)["coarse, budget 200"] == 37  # the budget is capped at the triangle
    tri = costs.triangle(80)
    assert sum(tri.values()) == 3240 and tri[1] == 80 and tri[80] == 1
    assert sum(k * n for k, n in tri.items()) / 3240 == pytest.approx((80 + 2) / 3)  # the mean block


def test_fit_line(costs: ModuleType) -> None:
    a, b = costs.fit_line([1e8, 5e8, 1e9], [3 + 2e-8 * x for x in (1e8, 5e8, 1e9)])
    assert a == pytest.approx(3.0) and b == pytest.approx(2e-8)
    assert costs.fit_line([7.0], [5.0]) == (5.0, 0.0)  # one point: a flat line through it


def test_models_and_memory(costs: ModuleType) -> None:
    llama8, qwen32, qwen72 = costs.MODELS
    assert llama8.n_params == pytest.approx(8.03e9, rel=0.01)
    assert qwen32.n_params == pytest.approx(32.8e9, rel=0.01)
    assert qwen72.n_params == pytest.approx(72.7e9, rel=0.01)
    assert 0.55e9 < qwen72.config_bytes(1) - qwen72.config_bytes(0) < 0.6e9  # "about 0.55 GB" a layer
    assert qwen72.config_bytes(80) == pytest.approx(qwen72.file_bytes + 80 * qwen72.layer_params * 0.652, rel=0.01)
    # Two 24 GB GPUs: an 8B config runs a worker on each, a 32B one fits one GPU up to 2 extra
    # layers, then spans both; the 72B baseline does not fit at the probes' default context.
    one = costs.RTX_24GB.seconds(llama8.config_params(5), llama8.config_bytes(5))
    assert costs.two_24gb_gpus(llama8, 5) == pytest.approx(one / 2)
    for extra, n_workers in ((2, 2), (3, 1), (64, 1)):
        seconds = costs.RTX_24GB.seconds(qwen32.config_params(extra), qwen32.config_bytes(extra))
        assert costs.two_24gb_gpus(qwen32, extra) == pytest.approx(seconds / n_workers)
    assert costs.two_24gb_gpus(qwen72, 0) is None
    assert costs.strategy_cost(qwen72, 3241, lambda k: costs.two_24gb_gpus(qwen72, k)).seconds is None


def test_strategy_cost_is_the_sum_over_the_triangle(costs: ModuleType) -> None:
    model = costs.MODELS[0]
    full = costs.strategy_cost(model, 529, lambda k: 10.0 + k)
    assert full.seconds == pytest.approx(10.0 + sum(n * (10.0 + k) for k, n in costs.triangle(32).items()))
    half = costs.strategy_cost(model, 265, lambda k: 10.0 + k)  # a budget: the same mix, half as many
    assert half.seconds - 10.0 == pytest.approx((full.seconds - 10.0) / 2)
    skip = costs.strategy_cost(model, 529, lambda k: None if k > 30 else 1.0)
    assert skip.n_skipped == 3 and skip.seconds == 526  # k = 31 (2 configs) and 32 (1)


def test_cost_table(costs: ModuleType) -> None:
    table = costs.cost_table([(1e8, 1.0), (1e9, 10.0)], ram_bytes=24e9).splitlines()
    assert len([line for line in table if line.startswith("| ")]) == 1 + 3 * 4
    row = next(line for line in table if "Llama 3.1 8B" in line and "full triangle" in line)
    # 529 configs at 1e-8 s per parameter: 8.03e9 and 32 * 0.218e9 more per duplicated layer
    hours = sum(1e-8 * costs.MODELS[0].config_params(k) * n for k, n in {0: 1, **costs.triangle(32)}.items()) / 3600
    assert f"| 529 | {hours:.1f} h |" in row
    assert "Per config on this machine: 0.0 s + 10.0 s per billion parameters (fitted to 2 measured sizes)." in table
    assert any(line.startswith("* The mean config is larger than this machine's 24 GB") for line in table)
    assert "baseline does not fit" in next(line for line in table if "Qwen2 72B" in line)


@pytest.mark.parametrize(("seconds", "text"), [(30, "1 min"), (3575, "1.0 h"), (7200, "2.0 h"), (5 * 86400, "5 days")])
def test_durations(costs: ModuleType, seconds: float, text: str) -> None:
    assert costs.duration(seconds) == text


# -- the synthetic llama ----------------------------------------------------------------------


def test_synthetic_vocabulary_knows_the_words(tmp_path: Path) -> None:
    shape = LlamaShape(2, 128, words=("Answer", "the"))
    assert shape.tokens[: len(TOKENS)] == TOKENS
    assert list(shape.tokens[len(TOKENS) :]) == ["▁A", "▁An", "▁Ans", "▁Answ", "▁Answe", "▁Answer", "▁th"]
    n = write_llama(tmp_path / "m.gguf", shape)
    with GGUFModel(tmp_path / "m.gguf") as model:
        n_vocab = len(shape.tokens)
        assert model.first.strings_at("tokenizer.ggml.tokens", range(n_vocab)) == dict(enumerate(shape.tokens))
        assert len(model.array("tokenizer.ggml.scores")) == n_vocab
        tensors = model.tensors
        assert sum(math.prod(t.shape) for t in tensors) == shape.n_params
        assert next(t for t in tensors if t.name == "token_embd.weight").shape == (128, n_vocab)
    assert n == (tmp_path / "m.gguf").stat().st_size
    assert n > 2 * shape.n_params  # F16 weights, F32 norms


def test_synthetic_parameters() -> None:
    shape = LlamaShape(4, 256)  # 256 wide, 4 heads, n_ff 512, the base vocabulary
    layer = 4 * 256 * 256 + 3 * 256 * 512 + 2 * 256
    assert shape.n_params == 4 * layer + 2 * len(TOKENS) * 256 + 256
