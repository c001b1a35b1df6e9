"""Tiny random GGUF models that llama.cpp loads and runs: oracles for the layer rewriter.

`write_tiny_model` writes a small model with gguf-py's `GGUFWriter` (deliberately not rys_gguf's
own writer, so the oracle is independent of the code under test). With a layer path it writes the
model whose layer k holds the weights and per-layer metadata of source layer path[k]; each source
layer's weights come from its own seeded generator, so they equal the plain model's weights.
`tiny_logits` runs llama-cpp-python on the CPU with one thread and returns every position's logits;
`tiny_load_error` returns llama.cpp's error message for a model that fails to load.

Architectures (`TinySpec.arch`):
- "llama": GQA (4 heads, 2 KV heads), hidden 64, feed-forward 128, separate `output` tensor.
- "qwen2": like llama plus q/k/v biases, tied embeddings (no `output` tensor).
- "gemma3": q/k norms, post-attention/post-ffw norms, head size 32, tied embeddings, sliding
  window of 4 tokens. llama.cpp hard-codes the SWA period (5 local layers, then 1 global) unless
  `gemma3.attention.sliding_window_pattern` says otherwise; it honours the per-layer array form
  (bool, u32 or i32 elements). Local and global layers also differ in RoPE base (10k vs 1M), so
  a wrong SWA flag changes the logits even on short prompts. The plain model has no pattern key
  (like the real Gemma 3 files); a layer path that breaks the period gets the per-layer bool array.
- "arrays": llama.cpp's "deci" (Nemotron-NAS) loader, the simplest one that reads per-layer
  `head_count_kv` and `feed_forward_length` and sizes each layer's tensors from them. The arrays
  differ per layer (KV heads 1/2/4, feed-forward 64..160) and are read with an exact-length check,
  so a stale array fails to load ("wrong array length") and a wrongly re-indexed one fails with a
  tensor-shape error.

Tokenizer: SentencePiece-style ("llama") with <unk>/<s>/</s>, the 256 byte tokens and a few
letter pieces and merges (294 tokens); text outside the pieces falls back to bytes.

Left out: K-quants, MoE, MTP layers, fused QKV, realistic tokenizers and weights.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf import GGMLQuantizationType, GGUFValue, GGUFValueType

ARCHS = ("llama", "qwen2", "gemma3", "arrays")
QUANTS = {
    "f32": GGMLQuantizationType.F32,
    "f16": GGMLQuantizationType.F16,
    "q8_0": GGMLQuantizationType.Q8_0,
    "q4_0": GGMLQuantizationType.Q4_0,
}
DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog; then the dog sleeps in the sun."

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_CTX_TRAIN = 256
GEMMA3_HEAD_SIZE = 32
GEMMA3_SWA_PERIOD = 6
GEMMA3_SLIDING_WINDOW = 4
SWA_PATTERN_KEY = "gemma3.attention.sliding_window_pattern"
ARRAYS_HEAD_KV = (1, 2, 4)
ARRAYS_FF = (64, 96, 128, 160)

_GGUF_ARCH = {"llama": "llama", "qwen2": "qwen2", "gemma3": "gemma3", "arrays": "deci"}
_PIECES = [*"abcdefghijklmnopqrstuvwxyz", "▁", "▁t", "th", "he", "▁the", "in", "er", "an", "on"]
_MAX_LAYERS = 512  # LLAMA_MAX_LAYERS


@dataclass(frozen=True, slots=True)
class TinySpec:
    """Which tiny model to build: architecture, layer count, weight seed, weight type."""

    arch: str
    n_layers: int = 6
    seed: int = 0
    quant: str = "f32"


@dataclass(frozen=True, slots=True)
class PerLayer:
    """A per-layer metadata array for `extra_kv`, re-indexed by the layer path when written."""

    values: tuple[Any, ...]
    vtype: GGUFValueType


def gemma3_swa_flags(n_layers: int) -> list[bool]:
    """Per-layer SWA flags llama.cpp derives for gemma3 when no pattern key is present."""
    return [il % GEMMA3_SWA_PERIOD < GEMMA3_SWA_PERIOD - 1 for il in range(n_layers)]


def arrays_layer_shape(il: int) -> tuple[int, int]:
    """(head_count_kv, feed_forward_length) of source layer il of the "arrays" model."""
    return ARRAYS_HEAD_KV[il % len(ARRAYS_HEAD_KV)], ARRAYS_FF[il % len(ARRAYS_FF)]


def write_tiny_model(
    path: Path,
    spec: TinySpec,
    layer_path: Sequence[int] | None = None,
    *,
    extra_kv: dict[str, Any] | None = None,
    split_max_tensors: int = 0,
) -> Path:
    """Write the tiny model (optionally with layers `layer_path`); return its (first) file.

    `extra_kv` values are written after the standard keys and replace same-named ones: None
    deletes a key, a `GGUFValue` is written with its exact type, a `PerLayer` is re-indexed by
    the layer path, and plain values get the type llama.cpp usually expects (int -> u32,
    float -> f32, bool -> bool, str -> string, list -> array typed by gguf-py).
    """
    _check_spec(spec)
    path = Path(path)
    src = list(range(spec.n_layers)) if layer_path is None else [int(p) for p in layer_path]
    if not src or len(src) > _MAX_LAYERS or any(not 0 <= p < spec.n_layers for p in src):
        raise ValueError(f"layer_path must be 1..512 indices in [0, {spec.n_layers}): {src}")

    kv = _metadata(spec, src)
    for key, value in (extra_kv or {}).items():
        if value is None:
            kv.pop(key, None)
        elif isinstance(value, PerLayer):
            if len(value.values) != spec.n_layers:
                raise ValueError(f"PerLayer {key} needs {spec.n_layers} values")
            kv[key] = GGUFValue([value.values[p] for p in src], GGUFValueType.ARRAY, value.vtype)
        elif isinstance(value, GGUFValue):
            kv[key] = value
        else:
            kv[key] = _typed(value)

    writer = gguf.GGUFWriter(path, _GGUF_ARCH[spec.arch], split_max_tensors=split_max_tensors)
    for key, value in kv.items():
        writer.add_key_value(key, value.value, value.type, value.sub_type)
    for name, data in _global_tensors(spec):
        writer.add_tensor(name, data)
    qtype = QUANTS[spec.quant]
    for k, il in enumerate(src):
        for name, data in _layer_tensors(spec, il):
            if data.ndim == 2 and qtype != GGMLQuantizationType.F32:
                writer.add_tensor(f"blk.{k}.{name}", gguf.quants.quantize(data, qtype), raw_dtype=qtype)
            else:
                writer.add_tensor(f"blk.{k}.{name}", data)
    first = writer.format_shard_names(path)[0]
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return first


def tiny_logits(path: Path, text: str = DEFAULT_TEXT) -> np.ndarray:
    """llama.cpp logits of every position of `text` (with BOS): float32 [n_tokens, n_vocab]."""
    from rys_gguf.llama import cpu_repack
    from rys_gguf.llama.engine import load_llama

    llm = load_llama(
        path,
        use_extra_bufts=cpu_repack.resolve().enabled,  # off where repacked weights crash (AMX)
        n_ctx=N_CTX_TRAIN,
        n_batch=N_CTX_TRAIN,
        n_ubatch=N_CTX_TRAIN,
        n_threads=1,
        n_threads_batch=1,
        n_gpu_layers=0,
        logits_all=True,
        verbose=False,
    )
    try:
        tokens = llm.tokenize(text.encode(), add_bos=True)
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32, copy=True)
    finally:
        llm.close()


def tiny_load_error(path: Path) -> str | None:
    """llama.cpp's error lines when loading `path` fails (e.g. "wrong array length"), else None."""
    import ctypes

    import llama_cpp
    from llama_cpp import _logger

    from rys_gguf.llama import cpu_repack
    from rys_gguf.llama.engine import load_llama

    # rys_gguf's runner routes llama.cpp's process-wide log elsewhere; take it back for this load.
    llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    log = io.StringIO()
    with contextlib.redirect_stderr(log):  # llama-cpp-python's log callback prints to sys.stderr
        try:
            use_extra_bufts = cpu_repack.resolve().enabled
            load_llama(path, use_extra_bufts=use_extra_bufts, n_ctx=N_CTX_TRAIN, n_gpu_layers=0, verbose=True).close()
        except ValueError:
            lines = log.getvalue().splitlines()
            return "\n".join(line for line in lines if "error" in line or "failed" in line)
    return None


def _check_spec(spec: TinySpec) -> None:
    if spec.arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {spec.arch!r}")
    if spec.quant not in QUANTS:
        raise ValueError(f"quant must be one of {tuple(QUANTS)}, got {spec.quant!r}")
    if not 1 <= spec.n_layers <= _MAX_LAYERS:
        raise ValueError(f"n_layers must be in 1..{_MAX_LAYERS}, got {spec.n_layers}")


def _typed(value: Any) -> GGUFValue:
    if isinstance(value, bool):
        return GGUFValue(value, GGUFValueType.BOOL)
    if isinstance(value, int):
        return GGUFValue(value, GGUFValueType.UINT32)
    if isinstance(value, float):
        return GGUFValue(value, GGUFValueType.FLOAT32)
    if isinstance(value, str):
        return GGUFValue(value, GGUFValueType.STRING)
    if isinstance(value, (list, tuple)):
        return GGUFValue(list(value), GGUFValueType.ARRAY)
    raise TypeError(f"cannot infer a GGUF type for {value!r}")


def _u32(value: int) -> GGUFValue:
    return GGUFValue(value, GGUFValueType.UINT32)


def _f32(value: float) -> GGUFValue:
    return GGUFValue(value, GGUFValueType.FLOAT32)


def _i32_array(values: list[int]) -> GGUFValue:
    # INT32 elements, as gguf-py's add_feed_forward_length/add_head_count_kv write lists.
    return GGUFValue(values, GGUFValueType.ARRAY, GGUFValueType.INT32)


def _metadata(spec: TinySpec, src: list[int]) -> dict[str, GGUFValue]:
    a = _GGUF_ARCH[spec.arch]
    kv: dict[str, GGUFValue] = {
        "general.name": GGUFValue(f"tiny-{spec.arch}", GGUFValueType.STRING),
        f"{a}.context_length": _u32(N_CTX_TRAIN),
        f"{a}.embedding_length": _u32(N_EMBD),
        f"{a}.block_count": _u32(len(src)),
        f"{a}.feed_forward_length": _u32(N_FF),
        f"{a}.attention.head_count": _u32(N_HEAD),
        f"{a}.attention.head_count_kv": _u32(N_HEAD_KV),
        f"{a}.attention.layer_norm_rms_epsilon": _f32(1e-6),
        f"{a}.rope.freq_base": _f32(10000.0 if spec.arch in ("llama", "arrays") else 1e6),
    }
    if spec.arch == "gemma3":
        kv[f"{a}.attention.key_length"] = _u32(GEMMA3_HEAD_SIZE)
        kv[f"{a}.attention.value_length"] = _u32(GEMMA3_HEAD_SIZE)
        kv[f"{a}.attention.sliding_window"] = _u32(GEMMA3_SLIDING_WINDOW)
        flags = gemma3_swa_flags(spec.n_layers)
        wanted = [flags[il] for il in src]
        if wanted != gemma3_swa_flags(len(src)):
            # Only the array form can give layer k the SWA flag of its source layer here.
            kv[SWA_PATTERN_KEY] = GGUFValue(wanted, GGUFValueType.ARRAY, GGUFValueType.BOOL)
    if spec.arch == "arrays":
        shapes = [arrays_layer_shape(il) for il in src]
        kv[f"{a}.attention.head_count"] = _i32_array([N_HEAD] * len(src))
        kv[f"{a}.attention.head_count_kv"] = _i32_array([kv_heads for kv_heads, _ in shapes])
        kv[f"{a}.feed_forward_length"] = _i32_array([n_ff for _, n_ff in shapes])
    kv.update(_tokenizer_kv())
    return kv


def _vocab() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *_PIECES]
    token_types = [2, 3, 3, *[6] * 256, *[1] * len(_PIECES)]  # unknown, control, byte, normal
    # SentencePiece merges the pair whose result scores highest: longer pieces score higher.
    scores = [0.0] * 259 + [float(len(p)) - i / 100 for i, p in enumerate(_PIECES)]
    return tokens, scores, token_types


def _tokenizer_kv() -> dict[str, GGUFValue]:
    tokens, scores, token_types = _vocab()
    arr = GGUFValueType.ARRAY
    return {
        "tokenizer.ggml.model": GGUFValue("llama", GGUFValueType.STRING),
        "tokenizer.ggml.tokens": GGUFValue(tokens, arr, GGUFValueType.STRING),
        "tokenizer.ggml.scores": GGUFValue(scores, arr, GGUFValueType.FLOAT32),
        "tokenizer.ggml.token_type": GGUFValue(token_types, arr, GGUFValueType.INT32),
        "tokenizer.ggml.unknown_token_id": _u32(0),
        "tokenizer.ggml.bos_token_id": _u32(1),
        "tokenizer.ggml.eos_token_id": _u32(2),
        "tokenizer.ggml.add_bos_token": GGUFValue(True, GGUFValueType.BOOL),
        "tokenizer.ggml.add_eos_token": GGUFValue(False, GGUFValueType.BOOL),
    }


def _matrix(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    # numpy (rows, cols) is ggml ne = {cols, rows}; 1/sqrt(fan-in) keeps activations O(1).
    weights: np.ndarray = rng.standard_normal((rows, cols)) / np.sqrt(np.float64(cols))
    return weights.astype(np.float32)


def _norm(rng: np.random.Generator, n: int) -> np.ndarray:
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def _global_tensors(spec: TinySpec) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng([spec.seed, 0])
    n_vocab = len(_vocab()[0])
    out = [
        ("token_embd.weight", rng.standard_normal((n_vocab, N_EMBD)).astype(np.float32)),
        ("output_norm.weight", _norm(rng, N_EMBD)),
    ]
    if spec.arch in ("llama", "arrays"):
        out.append(("output.weight", _matrix(rng, n_vocab, N_EMBD)))
    return out


def _layer_tensors(spec: TinySpec, il: int) -> list[tuple[str, np.ndarray]]:
    """Tensors of source layer il (names without the blk.N. prefix), from its own generator."""
    rng = np.random.default_rng([spec.seed, 1 + il])
    head = GEMMA3_HEAD_SIZE if spec.arch == "gemma3" else N_EMBD // N_HEAD
    n_head_kv, n_ff = arrays_layer_shape(il) if spec.arch == "arrays" else (N_HEAD_KV, N_FF)
    n_q, n_kv = head * N_HEAD, head * n_head_kv
    out = [
        ("attn_norm.weight", _norm(rng, N_EMBD)),
        ("attn_q.weight", _matrix(rng, n_q, N_EMBD)),
        ("attn_k.weight", _matrix(rng, n_kv, N_EMBD)),
        ("attn_v.weight", _matrix(rng, n_kv, N_EMBD)),
        ("attn_output.weight", _matrix(rng, N_EMBD, n_q)),
        ("ffn_norm.weight", _norm(rng, N_EMBD)),
        ("ffn_gate.weight", _matrix(rng, n_ff, N_EMBD)),
        ("ffn_up.weight", _matrix(rng, n_ff, N_EMBD)),
        ("ffn_down.weight", _matrix(rng, N_EMBD, n_ff)),
    ]
    if spec.arch == "qwen2":
        out += [
            ("attn_q.bias", (0.5 * rng.standard_normal(n_q)).astype(np.float32)),
            ("attn_k.bias", (0.5 * rng.standard_normal(n_kv)).astype(np.float32)),
            ("attn_v.bias", (0.5 * rng.standard_normal(n_kv)).astype(np.float32)),
        ]
    if spec.arch == "gemma3":
        out += [
            ("attn_q_norm.weight", _norm(rng, head)),
            ("attn_k_norm.weight", _norm(rng, head)),
            ("post_attention_norm.weight", _norm(rng, N_EMBD)),
            ("post_ffw_norm.weight", _norm(rng, N_EMBD)),
        ]
    return out
