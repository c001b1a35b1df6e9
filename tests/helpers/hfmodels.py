"""Tiny random HuggingFace models (Llama, Qwen2, Gemma 3) built offline, and their oracle.

`write_hf_model` saves a small model (hidden 64, 4 heads of 16, 2 KV heads, feed-forward 128;
4 layers, or 6 for Gemma 3: five sliding-window layers with a window of 8 tokens, then one
global layer) with safetensors weights and a SentencePiece tokenizer trained on a few sentences
(BPE with byte fallback, vocab 300). The converter takes a `tokenizer.model` for all three
families without the BPE pre-tokenizer hash check that a home-made `tokenizer.json` would fail.
Gemma 3 sets `query_pre_attn_scalar` to the head size, as the real models do and as llama.cpp
assumes.

Weights: transformers' random init with `initializer_range` 0.05, plus random norm weights and
(Qwen2) random q/k/v biases, which transformers would otherwise initialise to exactly 1 and 0,
so a dropped norm or bias changes the logits. Qwen2 also ties its embeddings.

`hf_logits` runs the model with its decoder layer list replaced by the layers of a path (the
RYS model as transformers sees it); `gguf_logits` runs llama.cpp on one thread with an F32 KV
cache (the default F16 cache alone adds ~1e-3 of error). Both return every position's logits.

Left out: real tokenizers, MoE, sliding windows, anything above a few hundred KB.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

N_LAYERS = {"llama": 4, "qwen2": 4, "gemma3": 6}
VOCAB = 300
INIT_RANGE = 0.05
TOKENS = [1, *range(3, VOCAB, 7)][:40]  # BOS, then ids spread over bytes and merged pieces
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A tiny model repeats a block of its layers.",
    "Hello world, this is a test of the converter.",
    "Numbers like 12345 and 678 appear here too.",
]


def write_tokenizer(folder: Path) -> None:
    """Train a SentencePiece BPE tokenizer (byte fallback) and save it as a Llama tokenizer."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 20),
        model_writer=buf,
        vocab_size=VOCAB,
        model_type="bpe",
        byte_fallback=True,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
    )
    (folder / "tokenizer.model").write_bytes(buf.getvalue())
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def write_hf_model(folder: Path, arch: str = "llama", seed: int = 0) -> Any:
    """Save a tiny random ``arch`` (a key of N_LAYERS) model in ``folder``; return it."""
    import torch
    from transformers import (
        Gemma3ForCausalLM,
        Gemma3TextConfig,
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    shapes: dict[str, Any] = {
        "vocab_size": VOCAB,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": N_LAYERS[arch],
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
        "initializer_range": INIT_RANGE,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    torch.manual_seed(seed)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**shapes, tie_word_embeddings=False))
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**shapes, tie_word_embeddings=True))
    elif arch == "gemma3":
        config = Gemma3TextConfig(**shapes, head_dim=16, query_pre_attn_scalar=16, sliding_window=8)
        model = Gemma3ForCausalLM(config)
    else:
        raise ValueError(f"arch must be one of {list(N_LAYERS)}, got {arch!r}")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.5)
            elif "norm" in name:  # Gemma scales by (1 + weight), the others by weight
                p.copy_((0.0 if arch == "gemma3" else 1.0) + 0.2 * torch.randn_like(p))
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    write_tokenizer(folder)
    return model


def copy_model_dir(src: Path, dst: Path) -> Path:
    """A copy of a model folder that a test may damage."""
    shutil.copytree(src, dst)
    return dst


def hf_logits(model: Any, path: Sequence[int] | None = None, tokens: Sequence[int] = TOKENS) -> np.ndarray:
    """transformers logits [n_tokens, vocab] with the decoder layers replaced by ``path``."""
    import torch

    m = copy.deepcopy(model)
    if path is not None:
        layers = model.model.layers
        m.model.layers = torch.nn.ModuleList(copy.deepcopy(layers[k]) for k in path)
        for k, layer in enumerate(m.model.layers):
            layer.self_attn.layer_idx = k  # its slot in a KV cache (none is used here)
        m.config.num_hidden_layers = len(path)
        if getattr(m.config, "layer_types", None):  # Qwen2: per-layer attention kinds
            m.config.layer_types = [model.config.layer_types[k] for k in path]
    with torch.no_grad():
        out = m(torch.tensor([list(tokens)]), use_cache=False)
    return np.asarray(out.logits[0].float().numpy(), dtype=np.float32)


def permute_rope_rows(model: Any) -> Any:
    """A copy with q/k rows in llama.cpp's interleaved RoPE order: a missing permutation."""
    import torch

    m = copy.deepcopy(model)
    n_head, n_kv = m.config.num_attention_heads, m.config.num_key_value_heads
    with torch.no_grad():
        for layer in m.model.layers:
            for proj, heads in ((layer.self_attn.q_proj, n_head), (layer.self_attn.k_proj, n_kv)):
                w = proj.weight
                w.copy_(w.reshape(heads, 2, w.shape[0] // heads // 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape))
    return m


def gguf_logits(path: Path, tokens: Sequence[int] = TOKENS) -> np.ndarray:
    """llama.cpp logits [n_tokens, vocab] of a GGUF (one thread, F32 KV cache)."""
    from llama_cpp import GGML_TYPE_F32

    from rys_gguf.llama.engine import load_llama

    llm = load_llama(
        path,
        n_ctx=128,
        n_batch=128,
        n_ubatch=128,
        n_threads=1,
        n_threads_batch=1,
        n_gpu_layers=0,
        logits_all=True,
        type_k=GGML_TYPE_F32,
        type_v=GGML_TYPE_F32,
        verbose=False,
    )
    try:
        llm.eval(list(tokens))
        return np.array(llm.scores[: len(tokens)], dtype=np.float32, copy=True)
    finally:
        llm.close()


def write_header_only_model(folder: Path, config: dict[str, Any], shapes: dict[str, list[int]]) -> Path:
    """A model folder whose safetensors hold tensors of ``shapes`` (F32, zeros) under ``config``:
    enough for the checks made before converting (they read headers only), without torch."""
    import struct

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in shapes.items():
        n_bytes = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n_bytes]}
        offset += n_bytes
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return folder


def llama_shapes(n_layers: int = 2, hidden: int = 8, vocab: int = 16) -> dict[str, list[int]]:
    """Tensor shapes of a small Llama as HuggingFace names them (norms and embeddings only)."""
    shapes = {"model.embed_tokens.weight": [vocab, hidden], "model.norm.weight": [hidden]}
    for k in range(n_layers):
        shapes[f"model.layers.{k}.input_layernorm.weight"] = [hidden]
    return shapes
