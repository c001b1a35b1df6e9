"""A tiny random glm-dsa model (GLM-5 / GLM-5.2: MLA, MoE with a shared expert, DeepSeek
sparse attention) that llama.cpp loads and runs on the CPU: the oracle for the glm-dsa rule.

Every layer has a "lightning indexer" that picks the `TOP_K` keys each query may attend to. In
GLM-5.2 only "full" layers run their indexer; a "shared" layer reuses the selection of the last
full layer before it, by layer index (llama.cpp `models/glm-dsa.cpp`). Which layers are full comes
from `glm-dsa.attention.indexer.types` (one bool per trunk layer) or, without that key, from a
table of 78 entries (full: 0, 1, then every 4th from 2; shared past the table) when the context
length is at least 1048576 (GLM-5.2), else every layer is full (GLM-5, GLM-5.1). `TOP_K` is far
below the prompt length, so a different selection changes the logits.

`write_glm_dsa` writes the model, or with a layer path the model whose layer k holds source layer
path[k]'s weights (each source layer's weights come from its own seeded generator). The first
`n_lead` layers are dense (`leading_dense_block_count`), the rest MoE; `n_mtp` NextN layers follow
the trunk (llama.cpp loads them only for MTP drafting; the trunk graph never runs them). A
`silent` layer has zero attention output and FFN down projections: it adds nothing to the
residual stream, but its indexer still runs, so its selection matters only to shared layers.

Left out: quantized weights, YaRN, the MTP draft graph, a realistic tokenizer (it is tinymodels').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from gguf import GGUFValue, GGUFValueType

from helpers.tinymodels import _tokenizer_kv, _vocab

ARCH = "glm-dsa"
TYPES_KEY = f"{ARCH}.attention.indexer.types"
GLM_5_2_CONTEXT = 1048576  # models/glm-dsa.cpp: n_ctx_train below this means GLM-5/5.1 (all full)
GLM_5_CONTEXT = 202752
N_EMBD = 64
N_HEAD = 4
Q_LORA = 32
KV_LORA = 32
ROPE = 8  # qk_rope_head_dim (n_rot)
NOPE = 16  # qk_nope_head_dim
V_HEAD = 16
N_FF = 96  # the dense layer
N_EXPERT = 4
N_EXPERT_USED = 2
N_FF_EXP = 32
INDEXER_HEADS = 2
INDEXER_HEAD_SIZE = 64  # >= ROPE ([rope | nope]); a multiple of 64: the Hadamard rotation is 64 x 64 at least
TOP_K = 3


@dataclass(frozen=True, slots=True)
class GlmSpec:
    """Which tiny glm-dsa model: layers, GLM-5.2 or older, its indexer types, special layers."""

    n_layers: int = 10  # trunk layers
    n_mtp: int = 0
    n_lead: int = 1
    glm52: bool = True  # context length 1048576: llama.cpp's GLM-5.2 default indexer types
    indexer_types: tuple[bool, ...] | None = None  # the types array (True: full); None: no array
    shared_indexer_weights: bool = True  # indexer tensors on shared layers too (unused there)
    silent: frozenset[int] = frozenset()  # source layers that add nothing to the residual stream
    redrawn: frozenset[int] = frozenset()  # source layers whose indexer weights are drawn anew
    seed: int = 0


def default_indexer_full(n_layers: int, glm52: bool = True) -> list[bool]:
    """The indexer types llama.cpp uses by layer index when the file has no types array."""
    if not glm52:
        return [True] * n_layers
    table = [True, True] + [k % 4 == 0 for k in range(76)]  # GLM_5_2_DEFAULT_INDEXER_TYPES
    return [il < len(table) and table[il] for il in range(n_layers)]


def source_indexer_full(spec: GlmSpec) -> list[bool]:
    """Each source trunk layer's indexer type as llama.cpp loads the plain model."""
    if spec.indexer_types is not None:
        return list(spec.indexer_types)
    return default_indexer_full(spec.n_layers, spec.glm52)


def write_glm_dsa(
    path: Path,
    spec: GlmSpec,
    layer_path: Sequence[int] | None = None,
    *,
    indexer_full: Sequence[bool] | None = None,
) -> Path:
    """Write the tiny model (trunk layers `layer_path`, then the MTP layers); return its path.

    `indexer_full` (one flag per trunk position; any length is written) is the types array;
    without it the array holds `spec.indexer_types` along the path, or is absent when that is None.
    """
    src = list(range(spec.n_layers)) if layer_path is None else [int(p) for p in layer_path]
    if not src or any(not 0 <= p < spec.n_layers for p in src):
        raise ValueError(f"layer_path must index the {spec.n_layers} trunk layers: {src}")
    n_lead = next((k for k, p in enumerate(src) if p >= spec.n_lead), len(src))
    if any(p < spec.n_lead for p in src[n_lead:]):
        raise ValueError(f"the dense layers 0..{spec.n_lead - 1} must come first (leading_dense_block_count)")
    source_types = source_indexer_full(spec)
    if len(source_types) != spec.n_layers:
        raise ValueError(f"indexer_types needs {spec.n_layers} flags")
    if indexer_full is None and spec.indexer_types is not None:
        indexer_full = [source_types[p] for p in src]

    writer = gguf.GGUFWriter(path, ARCH)
    for key, value in _metadata(spec, len(src), n_lead, indexer_full).items():
        writer.add_key_value(key, value.value, value.type, value.sub_type)
    for name, data in _global_tensors(spec):
        writer.add_tensor(name, data)
    all_layers = src + list(range(spec.n_layers, spec.n_layers + spec.n_mtp))
    for k, il in enumerate(all_layers):
        with_indexer = spec.shared_indexer_weights or il >= spec.n_layers or source_types[il]
        for name, data in _layer_tensors(spec, il, with_indexer):
            writer.add_tensor(f"blk.{k}.{name}", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _u32(value: int) -> GGUFValue:
    return GGUFValue(value, GGUFValueType.UINT32)


def _f32(value: float) -> GGUFValue:
    return GGUFValue(value, GGUFValueType.FLOAT32)


def _metadata(spec: GlmSpec, n_trunk: int, n_lead: int, indexer_full: Sequence[bool] | None) -> dict[str, GGUFValue]:
    a = ARCH
    kv = {
        "general.name": GGUFValue("tiny-glm-dsa", GGUFValueType.STRING),
        f"{a}.context_length": _u32(GLM_5_2_CONTEXT if spec.glm52 else GLM_5_CONTEXT),
        f"{a}.embedding_length": _u32(N_EMBD),
        f"{a}.block_count": _u32(n_trunk + spec.n_mtp),
        f"{a}.feed_forward_length": _u32(N_FF),
        f"{a}.attention.head_count": _u32(N_HEAD),
        f"{a}.attention.head_count_kv": _u32(1),  # MLA runs as MQA over the compressed KV
        f"{a}.attention.key_length": _u32(KV_LORA + ROPE),
        f"{a}.attention.value_length": _u32(KV_LORA),
        f"{a}.attention.key_length_mla": _u32(NOPE + ROPE),
        f"{a}.attention.value_length_mla": _u32(V_HEAD),
        f"{a}.attention.q_lora_rank": _u32(Q_LORA),
        f"{a}.attention.kv_lora_rank": _u32(KV_LORA),
        f"{a}.attention.layer_norm_rms_epsilon": _f32(1e-6),
        f"{a}.rope.dimension_count": _u32(ROPE),
        f"{a}.rope.freq_base": _f32(10000.0),
        f"{a}.leading_dense_block_count": _u32(n_lead),
        f"{a}.expert_count": _u32(N_EXPERT),
        f"{a}.expert_used_count": _u32(N_EXPERT_USED),
        f"{a}.expert_shared_count": _u32(1),
        f"{a}.expert_feed_forward_length": _u32(N_FF_EXP),
        f"{a}.expert_weights_scale": _f32(1.5),
        f"{a}.expert_weights_norm": GGUFValue(True, GGUFValueType.BOOL),
        f"{a}.expert_gating_func": _u32(2),  # sigmoid
        f"{a}.attention.indexer.head_count": _u32(INDEXER_HEADS),
        f"{a}.attention.indexer.key_length": _u32(INDEXER_HEAD_SIZE),
        f"{a}.attention.indexer.top_k": _u32(TOP_K),
    }
    if spec.n_mtp:
        kv[f"{a}.nextn_predict_layers"] = _u32(spec.n_mtp)
    if indexer_full is not None:
        kv[TYPES_KEY] = GGUFValue([bool(f) for f in indexer_full], GGUFValueType.ARRAY, GGUFValueType.BOOL)
    return kv | _tokenizer_kv()


def _matrix(rng: np.random.Generator, *shape: int) -> np.ndarray:
    # numpy shapes are ggml's ne reversed; 1/sqrt(fan-in) keeps activations O(1).
    weights: np.ndarray = rng.standard_normal(shape) / np.sqrt(np.float64(shape[-1]))
    return weights.astype(np.float32)


def _norm(rng: np.random.Generator, n: int) -> np.ndarray:
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def _global_tensors(spec: GlmSpec) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng([spec.seed, 0])
    n_vocab = len(_vocab()[0])
    return [
        ("token_embd.weight", rng.standard_normal((n_vocab, N_EMBD)).astype(np.float32)),
        ("output_norm.weight", _norm(rng, N_EMBD)),
        ("output.weight", _matrix(rng, n_vocab, N_EMBD)),
    ]


def _layer_tensors(spec: GlmSpec, il: int, with_indexer: bool) -> list[tuple[str, np.ndarray]]:
    """Tensors of source layer il (names without the blk.N. prefix), from its own generators."""
    rng = np.random.default_rng([spec.seed, 1 + il])
    out = [
        ("attn_norm.weight", _norm(rng, N_EMBD)),
        ("attn_q_a_norm.weight", _norm(rng, Q_LORA)),
        ("attn_kv_a_norm.weight", _norm(rng, KV_LORA)),
        ("attn_q_a.weight", _matrix(rng, Q_LORA, N_EMBD)),
        ("attn_q_b.weight", _matrix(rng, N_HEAD * (NOPE + ROPE), Q_LORA)),
        ("attn_kv_a_mqa.weight", _matrix(rng, KV_LORA + ROPE, N_EMBD)),
        ("attn_k_b.weight", _matrix(rng, N_HEAD, KV_LORA, NOPE)),
        ("attn_v_b.weight", _matrix(rng, N_HEAD, V_HEAD, KV_LORA)),
        ("attn_output.weight", _matrix(rng, N_EMBD, N_HEAD * V_HEAD)),
        ("ffn_norm.weight", _norm(rng, N_EMBD)),
    ]
    irng = np.random.default_rng([spec.seed, 1 + il, int(il in spec.redrawn)])
    indexer = [
        ("indexer.k_norm.weight", _norm(irng, INDEXER_HEAD_SIZE)),
        ("indexer.k_norm.bias", (0.1 * irng.standard_normal(INDEXER_HEAD_SIZE)).astype(np.float32)),
        ("indexer.proj.weight", _matrix(irng, INDEXER_HEADS, N_EMBD)),
        ("indexer.attn_k.weight", 4 * _matrix(irng, INDEXER_HEAD_SIZE, N_EMBD)),
        ("indexer.attn_q_b.weight", 4 * _matrix(irng, INDEXER_HEADS * INDEXER_HEAD_SIZE, Q_LORA)),
    ]
    out += indexer if with_indexer else []
    if il < spec.n_lead:
        out += [
            ("ffn_gate.weight", _matrix(rng, N_FF, N_EMBD)),
            ("ffn_up.weight", _matrix(rng, N_FF, N_EMBD)),
            ("ffn_down.weight", _matrix(rng, N_EMBD, N_FF)),
        ]
    else:
        out += [
            ("ffn_gate_inp.weight", _matrix(rng, N_EXPERT, N_EMBD)),
            ("exp_probs_b.bias", (0.1 * rng.standard_normal(N_EXPERT)).astype(np.float32)),
            ("ffn_gate_exps.weight", _matrix(rng, N_EXPERT, N_FF_EXP, N_EMBD)),
            ("ffn_up_exps.weight", _matrix(rng, N_EXPERT, N_FF_EXP, N_EMBD)),
            ("ffn_down_exps.weight", _matrix(rng, N_EXPERT, N_EMBD, N_FF_EXP)),
            ("ffn_gate_shexp.weight", _matrix(rng, N_FF_EXP, N_EMBD)),
            ("ffn_up_shexp.weight", _matrix(rng, N_FF_EXP, N_EMBD)),
            ("ffn_down_shexp.weight", _matrix(rng, N_EMBD, N_FF_EXP)),
        ]
    if il >= spec.n_layers:  # a NextN/MTP layer
        out += [
            ("nextn.eh_proj.weight", _matrix(rng, N_EMBD, 2 * N_EMBD)),
            ("nextn.enorm.weight", _norm(rng, N_EMBD)),
            ("nextn.hnorm.weight", _norm(rng, N_EMBD)),
        ]
    if il in spec.silent:  # adds nothing to the residual stream; the indexer still runs
        zero = ("attn_output.weight", "ffn_down.weight", "ffn_down_exps.weight", "ffn_down_shexp.weight")
        out = [(name, np.zeros_like(data) if name in zero else data) for name, data in out]
    return out
