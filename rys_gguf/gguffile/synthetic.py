"""Synthetic llama models written with our own writer: loadable by llama.cpp, any size, offline.

For benchmarks and machine checks where no model can be downloaded: `write_llama` writes a llama
GGUF with a small SentencePiece-style vocabulary (the 256 byte tokens, a few pieces, and every
prefix of the ``words`` given, so text made of them takes about as many tokens as with a real
tokenizer rather than one per byte) and random F16 weights, one random matrix per shape reused
by every layer, so a 2 GB model takes seconds to write and memory stays at one layer's worth.
The weights are scaled by 1/sqrt(fan-in), so activations stay finite and logits are comparable
between backends.

Left out: realistic weights (the text is nonsense), quantized types, other architectures.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import staged
from .reader import TensorInfo
from .spec import GGML_TYPES, ValueType, pad
from .writer import GGUFLayout, OutTensor, encode_kv

if TYPE_CHECKING:
    import numpy as np

F32, F16 = 0, 1
PIECES = (*"abcdefghijklmnopqrstuvwxyz", "▁", "▁t", "th", "he", "▁the", "in", "er", "an", "on")
TOKENS = ("<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *PIECES)
ALIGNMENT = 32


@dataclass(frozen=True, slots=True)
class LlamaShape:
    """The dimensions of a synthetic llama: layers, width, heads, feed-forward, context."""

    n_layers: int
    n_embd: int
    n_head: int = 0  # 0 = n_embd / 64
    n_head_kv: int = 0  # 0 = n_head (no GQA)
    n_ff: int = 0  # 0 = 2 * n_embd
    n_ctx_train: int = 4096
    seed: int = 0
    words: tuple[str, ...] = ()  # whole words the tokenizer should know (prefixes are added)

    @property
    def heads(self) -> tuple[int, int]:
        n_head = self.n_head or max(1, self.n_embd // 64)
        return n_head, self.n_head_kv or n_head

    @property
    def ff(self) -> int:
        return self.n_ff or 2 * self.n_embd

    @property
    def tokens(self) -> tuple[str, ...]:
        """The vocabulary: specials, bytes, letters, then each word's prefixes ("▁W", "▁Wh"...)."""
        seen = dict.fromkeys(TOKENS)
        for word in self.words:
            piece = "▁" + word
            for k in range(2, len(piece) + 1):
                seen.setdefault(piece[:k])
        return tuple(seen)

    @property
    def n_params(self) -> int:
        """Weights in the model: every tensor's elements, norms included."""
        return sum(math.prod(ne) for _, ne, _, _ in _tensors(self))


def _kv(shape: LlamaShape) -> list[bytes]:
    n_head, n_head_kv = shape.heads
    u32, f32, arr = ValueType.UINT32, ValueType.FLOAT32, ValueType.ARRAY
    pieces = shape.tokens[259:]
    # SentencePiece merges the pair whose result scores highest: longer pieces score higher.
    scores = [0.0] * 259 + [float(len(p)) - i / 1e6 for i, p in enumerate(pieces)]
    token_types = [2, 3, 3, *[6] * 256, *[1] * len(pieces)]  # unknown, control, byte, normal
    entries: list[tuple[str, ValueType, object, ValueType | None]] = [
        ("general.architecture", ValueType.STRING, "llama", None),
        ("general.name", ValueType.STRING, f"synthetic llama {shape.n_layers}x{shape.n_embd}", None),
        ("llama.context_length", u32, shape.n_ctx_train, None),
        ("llama.embedding_length", u32, shape.n_embd, None),
        ("llama.block_count", u32, shape.n_layers, None),
        ("llama.feed_forward_length", u32, shape.ff, None),
        ("llama.attention.head_count", u32, n_head, None),
        ("llama.attention.head_count_kv", u32, n_head_kv, None),
        ("llama.attention.layer_norm_rms_epsilon", f32, 1e-6, None),
        ("llama.rope.freq_base", f32, 10000.0, None),
        ("tokenizer.ggml.model", ValueType.STRING, "llama", None),
        ("tokenizer.ggml.tokens", arr, shape.tokens, ValueType.STRING),
        ("tokenizer.ggml.scores", arr, scores, f32),
        ("tokenizer.ggml.token_type", arr, token_types, ValueType.INT32),
        ("tokenizer.ggml.unknown_token_id", u32, 0, None),
        ("tokenizer.ggml.bos_token_id", u32, 1, None),
        ("tokenizer.ggml.eos_token_id", u32, 2, None),
        ("tokenizer.ggml.add_bos_token", ValueType.BOOL, True, None),
    ]
    return [encode_kv(key, vtype, value, elem) for key, vtype, value, elem in entries]


def _tensors(shape: LlamaShape) -> list[tuple[str, tuple[int, ...], int, str]]:
    """(name, ggml shape ne0 first, type, which random block) of every tensor, in file order."""
    n_head, n_head_kv = shape.heads
    e, ff, kv = shape.n_embd, shape.ff, shape.n_embd // n_head * n_head_kv
    n_vocab = len(shape.tokens)
    out = [("token_embd.weight", (e, n_vocab), F16, "embd"), ("output_norm.weight", (e,), F32, "norm")]
    out.append(("output.weight", (e, n_vocab), F16, "embd"))
    for k in range(shape.n_layers):
        out += [
            (f"blk.{k}.attn_norm.weight", (e,), F32, "norm"),
            (f"blk.{k}.attn_q.weight", (e, e), F16, "q"),
            (f"blk.{k}.attn_k.weight", (e, kv), F16, "kv"),
            (f"blk.{k}.attn_v.weight", (e, kv), F16, "kv"),
            (f"blk.{k}.attn_output.weight", (e, e), F16, "q"),
            (f"blk.{k}.ffn_norm.weight", (e,), F32, "norm"),
            (f"blk.{k}.ffn_gate.weight", (e, ff), F16, "up"),
            (f"blk.{k}.ffn_up.weight", (e, ff), F16, "up"),
            (f"blk.{k}.ffn_down.weight", (ff, e), F16, "down"),
        ]
    return out


def _n_bytes(ne: tuple[int, ...], ggml_type: int) -> int:
    return math.prod(ne) * GGML_TYPES[ggml_type][2]


def _block(ne: tuple[int, ...], ggml_type: int, rng: np.random.Generator) -> bytes:
    import numpy as np

    if ggml_type == F32:  # norms: ones
        return np.ones(ne, dtype=np.float32).tobytes()
    rows, cols = ne[1], ne[0]  # numpy (rows, cols) is ggml ne = {cols, rows}
    weights = (rng.random((rows, cols), dtype=np.float32) - 0.5) * np.float32(np.sqrt(12.0 / cols))
    return weights.astype(np.float16).tobytes()


def write_llama(path: str | Path, shape: LlamaShape) -> int:
    """Write a loadable llama GGUF of ``shape`` to ``path``; returns its size in bytes."""
    import numpy as np

    path = Path(path)
    specs = _tensors(shape)
    tensors = [OutTensor(name, TensorInfo(name, ne, t, path, 0, _n_bytes(ne, t))) for name, ne, t, _ in specs]
    layout = GGUFLayout(3, "<", ALIGNMENT, _kv(shape), tensors)
    rng = np.random.default_rng(shape.seed)
    blocks: dict[str, bytes] = {}
    with staged([path]) as (tmp,), open(tmp, "wb") as fh:
        fh.write(layout.header())
        for _, ne, ggml_type, block in specs:
            if block not in blocks:
                blocks[block] = _block(ne, ggml_type, rng)
            data = blocks[block]
            fh.write(data + bytes(pad(len(data), ALIGNMENT) - len(data)))
        fh.flush()
        os.fsync(fh.fileno())
    return path.stat().st_size
