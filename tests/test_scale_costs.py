"""The synthetic llama that ``bench_scale.py`` measures: its vocabulary and parameter count."""

from __future__ import annotations

import math
from pathlib import Path

from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.gguffile.synthetic import TOKENS, LlamaShape, write_llama

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
