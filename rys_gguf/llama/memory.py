"""What a model needs in memory when llama.cpp runs it as the engine does: a pure estimate.

Three parts, each from what llama.cpp itself allocates (build 0c1e57098):

- weights: the tensor bytes of the layer path, every duplicated layer counted again (GGUF cannot
  alias tensor data, so each is a real copy). With GPU offload the input embeddings stay in host
  memory and a tied output matrix is copied to the GPU; ``n_gpu_layers`` = k puts the last k
  of the layers-plus-output on the GPU (llama.cpp counts the output layer as one), each layer's
  KV cache where the layer runs. On the CPU, x86 with AVX2 repacks Q4_0/Q4_K/IQ4_NL/MXFP4
  matrices into a second buffer (``CPU_REPACK``), counted too.
- KV cache, per context: for each layer with attention, K and V of ``n_ctx_seq`` cells per
  sequence and one stream per sequence (the engine's contexts are not unified), f16 unless told.
  K is ``key_length x head_count_kv(layer)`` wide; V is as wide as the widest layer's V when V is
  stored transposed (no flash attention). Sliding-window layers hold min(n_ctx_seq, window +
  n_ubatch) cells, padded to 256, only when ``swa_full`` is off; llama.cpp's default (which the
  engine keeps) sizes them like the others. Layers without attention (recurrent), MTP layers and
  the shared-KV tail hold none.
- compute buffer, per context: the peak of ggml's graph allocator for one ubatch of
  T = min(n_ctx, n_ubatch) tokens with T_out = min(T, n_outputs_max) logit rows, the largest of
  three stages (4-byte floats; n_kv = cells per stream, h = query heads, m = KQ masks: 2 with
  sliding-window layers, else 1):

      attention  4 T (n_kv (h + m) + n_embd + 4 q_width + 2 kv_width)   (no flash attention)
                 2 T n_kv m + 4 T (n_embd + 4 q_width + 2 kv_width)      (flash attention)
      feed-fwd   4 T (3 n_ff + 5 n_embd)
      output     4 (T_out n_vocab + 2 T n_embd)

  The KQ matrix (n_kv x T x h floats) and its mask are what llama.cpp allocates; the per-token
  factors were fitted on llama.cpp's reported compute buffers of synthetic llamas (width 256 to
  2048, GQA and not, n_ff 1024 to 5632, 256 to 2048 cells, 1 to 64 sequences), where they land
  within 12 % (most within 3 %); on Gemma 3 270M and SmolLM2 the output stage dominates (a
  262k and a 49k vocabulary) and is exact to 0.5 %. Plus the output buffer, host memory:
  n_vocab floats per output row (one per sequence at creation; the engine's logits context
  asks for a row per token).

Left out: recurrent state (Mamba/RWKV/delta-net layers: a few MB per sequence), LoRA, the CPU
backend's per-thread work buffer (a few MB), and fragmentation of the GPU allocator.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..arch import Constraints, swa_flags
from ..errors import LlamaError
from ..files import format_bytes
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import GGML_TYPES, TOKENS_KEY, group_by_layer
from .batching import N_BATCH, SEQUENTIAL_N_CTX, group_waves, pad_cells

SWA_FULL = True  # llama_context_default_params: sliding-window layers get full-size caches
F16 = 1
REPACKED_TYPES = frozenset({2, 12, 20, 39})  # Q4_0, Q4_K, IQ4_NL, MXFP4: ggml-cpu repack on AVX2
INPUT_TENSOR = "token_embd.weight"
OUTPUT_TENSOR = "output.weight"


@dataclass(frozen=True, slots=True)
class ContextShape:
    """One llama_context as the engine creates it."""

    n_ctx_seq: int  # cells per sequence, a multiple of 256
    n_seq: int = 1  # sequences (= KV streams, the cache not being unified)
    n_batch: int = N_BATCH
    n_ubatch: int = N_BATCH
    n_outputs: int = 0  # most logit rows one decode asks for; 0 = one per sequence

    @property
    def n_ctx(self) -> int:
        return self.n_ctx_seq * self.n_seq


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Bytes a loaded model needs, split as llama.cpp allocates them."""

    weights: int  # on the device that runs the layers (all weights on the CPU)
    host: int  # in host memory besides, when offloading: input embeddings, layers (and KV) not offloaded
    kv: int
    compute: int
    output: int  # host memory: the logits buffers
    on_gpu: bool

    @property
    def device(self) -> int:
        """What must fit the budget: GPU memory when offloaded, else everything."""
        if self.on_gpu:
            return self.weights + self.kv + self.compute
        return self.total

    @property
    def total(self) -> int:
        return self.weights + self.host + self.kv + self.compute + self.output

    def describe(self) -> str:
        """'weights 45.1 GB, KV cache 3.2 GB, compute 0.9 GB' (what the device holds)."""
        weights = self.weights if self.on_gpu else self.weights + self.host
        parts = [f"weights {_size(weights)}", f"KV cache {_size(self.kv)}", f"compute {_size(self.compute)}"]
        if not self.on_gpu:
            parts.append(f"logits {_size(self.output)}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Layer:
    n_bytes: int
    repacked: int  # bytes of matrices the CPU backend repacks
    k_width: int  # K cache floats per cell (0: no KV)
    v_width: int
    swa: bool


@dataclass(frozen=True, slots=True)
class ModelMemory:
    """What the estimate needs from one model file, read once: sizes per source layer, widths."""

    layers: tuple[_Layer, ...]  # per source layer, MTP tail included
    n_trunk: int
    n_tail_kv_free: int  # trailing output layers without a KV cache of their own (shared KV)
    input_bytes: int
    output_bytes: int  # the output matrix; 0 when tied to the input embeddings
    other_bytes: int
    other_repacked: int
    n_embd: int
    n_vocab: int
    n_head: int
    q_width: int
    n_ff: int
    n_swa: int

    @classmethod
    def read(cls, model: GGUFModel, c: Constraints) -> ModelMemory:
        """Sizes and widths of ``model`` (constraints from ``builder.source.model_constraints``)."""
        arch = model.architecture
        n_all = c.n_layers + c.n_tail
        grouped = group_by_layer(model.tensors)
        others = {t.name: t for t in grouped.others}
        head = _per_layer(model, f"{arch}.attention.head_count", n_all, 0)
        n_embd = _int(model, f"{arch}.embedding_length", 0)
        if n_embd <= 0 or max(head, default=0) <= 0:
            raise LlamaError(f"{model.path}: no {arch}.embedding_length or head_count; cannot estimate its memory")
        head_kv = _per_layer(model, f"{arch}.attention.head_count_kv", n_all, -1)
        head_kv = [h if k < 0 else k for h, k in zip(head, head_kv, strict=True)]
        n_rot = _int(model, f"{arch}.rope.dimension_count", 0)
        kv_lora = _int(model, f"{arch}.attention.kv_lora_rank", 0)
        pattern = model.get(f"{arch}.attention.sliding_window_pattern")
        n_swa = _int(model, f"{arch}.attention.sliding_window", 0)
        if hasattr(pattern, "__len__") and len(pattern) == n_all:
            flags = [bool(x) for x in pattern]
        else:
            flags = swa_flags(c, n_all) if c.swa and c.period > 1 and n_swa else [False] * n_all
        key_length = _int(model, f"{arch}.attention.key_length", 0)
        value_length = _int(model, f"{arch}.attention.value_length", 0)
        layers = []
        for il in range(n_all):
            h = head[il] or max(head)
            k_len, v_len = key_length or n_embd // h, value_length or n_embd // h
            has_kv = head_kv[il] > 0 and il < c.n_layers  # MTP layers are filtered out of the cache
            if kv_lora:  # MLA: K holds the compressed KV and the RoPE part, no V
                k_width, v_width = (kv_lora + n_rot, 0) if has_kv else (0, 0)
            else:
                k_width, v_width = (k_len * head_kv[il], v_len * head_kv[il]) if has_kv else (0, 0)
            tensors = [t for _, t in grouped.layers.get(il, [])]
            layers.append(
                _Layer(
                    sum(t.n_bytes for t in tensors),
                    sum(t.n_bytes for t in tensors if _repacked(t.ggml_type, t.shape)),
                    k_width,
                    v_width,
                    flags[il],
                )
            )
        n_head = max(head)
        input_t, output_t = others.get(INPUT_TENSOR), others.get(OUTPUT_TENSOR)
        input_bytes = input_t.n_bytes if input_t else 0
        rest = [t for name, t in others.items() if name not in (INPUT_TENSOR, OUTPUT_TENSOR)]
        n_ff = max(_per_layer(model, f"{arch}.feed_forward_length", n_all, 0), default=0)
        n_ff_exp = max(_per_layer(model, f"{arch}.expert_feed_forward_length", n_all, 0), default=0)
        n_ff = max(n_ff, n_ff_exp * _int(model, f"{arch}.expert_used_count", 1))
        vocab = model.kv.get(TOKENS_KEY)
        return cls(
            layers=tuple(layers),
            n_trunk=c.n_layers,
            n_tail_kv_free=c.shared_kv_tail,
            input_bytes=input_bytes,
            output_bytes=output_t.n_bytes if output_t else 0,
            other_bytes=sum(t.n_bytes for t in rest),
            other_repacked=(output_t.n_bytes if output_t and _repacked(output_t.ggml_type, output_t.shape) else 0),
            n_embd=n_embd,
            n_vocab=vocab.count if vocab is not None else 0,
            n_head=n_head,
            q_width=(key_length or n_embd // n_head) * n_head,
            n_ff=n_ff,
            n_swa=n_swa,
        )

    def output_layers(self, path: Sequence[int] | None) -> list[_Layer]:
        """The layers a config runs, in order: the path over the trunk, then the MTP tail."""
        trunk = list(range(self.n_trunk)) if path is None else list(path)
        layers = [self.layers[src] for src in [*trunk, *range(self.n_trunk, len(self.layers))]]
        if self.n_tail_kv_free:  # gemma4's last layers reuse earlier caches
            cut = len(trunk) - self.n_tail_kv_free
            layers = [*layers[:cut], *(_no_kv(x) for x in layers[cut : len(trunk)]), *layers[len(trunk) :]]
        return layers

    def estimate(
        self,
        path: Sequence[int] | None,
        contexts: Sequence[ContextShape],
        *,
        gpu: bool = False,
        n_gpu_layers: int = -1,
        flash_attn: bool = False,
        type_k: int = F16,
        type_v: int = F16,
        swa_full: bool = SWA_FULL,
        cpu_repack: bool = True,
    ) -> MemoryEstimate:
        """Bytes for running the layer ``path`` (None: the model as it is) with these contexts.

        With ``gpu``, the last ``n_gpu_layers`` layers (-1: all) and, when all are offloaded,
        the output matrix go to the GPU with their KV cache and the compute buffers.
        ``cpu_repack``: whether llama.cpp may repack CPU weights (``llama.cpu_repack``).
        """
        repacks = cpu_repack and _repacks()
        layers = self.output_layers(path)
        n = len(layers)
        n_off = 0 if not gpu else n + 1 if n_gpu_layers < 0 else min(n_gpu_layers, n + 1)
        first_off = n + 1 - n_off  # llama.cpp offloads the last layers; index n is the output
        dev_layers, host_layers = layers[first_off:], layers[:first_off]
        head = self.other_bytes + (self.output_bytes or self.input_bytes)  # a tied matrix: its own copy
        if not gpu:  # one mapping of the file: a tied output matrix is the input one
            weights = self.input_bytes + self.output_bytes + self.other_bytes + sum(x.n_bytes for x in layers)
            repack = sum(x.repacked for x in layers) + self.other_repacked if repacks else 0
            dev, host = weights + repack, 0
        else:
            dev = sum(x.n_bytes for x in dev_layers) + (head if n >= first_off else 0)
            host = self.input_bytes + sum(x.n_bytes for x in host_layers)
            host += self.other_bytes + self.output_bytes if n < first_off else 0
            host += sum(x.repacked for x in host_layers) if repacks else 0
            # A layer's KV cache lives where the layer runs; widths stay those of all layers.
            host += sum(self._kv(layers, s, flash_attn, type_k, type_v, swa_full, host_layers) for s in contexts)
        kv_layers = dev_layers if gpu else layers
        kv = sum(self._kv(layers, s, flash_attn, type_k, type_v, swa_full, kv_layers) for s in contexts)
        compute = sum(self._compute(layers, s, flash_attn) for s in contexts)
        output = sum(4 * self.n_vocab * max(s.n_outputs or s.n_seq, s.n_seq) for s in contexts)
        return MemoryEstimate(dev, host, kv, compute, output, gpu)

    def _kv(
        self,
        layers: Sequence[_Layer],
        s: ContextShape,
        flash_attn: bool,
        type_k: int,
        type_v: int,
        swa_full: bool,
        counted: Sequence[_Layer],
    ) -> int:
        """KV bytes of the ``counted`` layers (V as wide as the widest of all ``layers``)."""
        v_max = max((x.v_width for x in layers), default=0)
        swa_cells = s.n_ctx_seq if swa_full else pad_cells(min(s.n_ctx_seq, self.n_swa + s.n_ubatch))
        total = 0.0
        for x in counted:
            if not x.k_width:
                continue
            cells = swa_cells if x.swa else s.n_ctx_seq
            v_width = x.v_width if flash_attn or not x.v_width else v_max
            total += (x.k_width * _type_bytes(type_k) + v_width * _type_bytes(type_v)) * cells * s.n_seq
        return int(total)

    def _compute(self, layers: Sequence[_Layer], s: ContextShape, flash_attn: bool) -> int:
        t = min(s.n_ctx, s.n_ubatch, s.n_batch)
        t_out = min(t, s.n_batch)
        kv_width = max((x.k_width for x in layers), default=0)
        n_masks = 2 if any(x.swa and x.k_width for x in layers) else 1
        per_token = self.n_embd + 4 * self.q_width + 2 * kv_width
        n_kv = s.n_ctx_seq
        if flash_attn:
            attention = 2 * t * n_kv * n_masks + 4 * t * per_token
        else:
            attention = 4 * t * (n_kv * (self.n_head + n_masks) + per_token)
        ffn = 4 * t * (3 * self.n_ff + 5 * self.n_embd)
        output = 4 * (t_out * self.n_vocab + 2 * t * self.n_embd)
        return max(attention, ffn, output)


def _no_kv(x: _Layer) -> _Layer:
    return _Layer(x.n_bytes, x.repacked, 0, 0, x.swa)


def _type_bytes(ggml_type: int) -> float:
    _, block, size = GGML_TYPES[ggml_type]
    return size / block


def _repacked(ggml_type: int, shape: tuple[int, ...]) -> bool:
    return ggml_type in REPACKED_TYPES and len(shape) == 2 and shape[1] % 8 == 0


def _repacks() -> bool:
    # ggml-cpu repacks these types on x86 with AVX2 (and more on ARM, not modelled); every x86-64
    # machine llama.cpp's default build targets has AVX2, so assume it there.
    return platform.machine().lower() in ("x86_64", "amd64")


def _int(model: GGUFModel, key: str, default: int) -> int:
    value: Any = model.get(key)
    if value is None or hasattr(value, "__len__"):
        return default
    return int(value)


def _per_layer(model: GGUFModel, key: str, n: int, default: int) -> list[int]:
    """A scalar-or-array per-layer key as n integers (missing: ``default``)."""
    value: Any = model.get(key)
    if value is None:
        return [default] * n
    if hasattr(value, "__len__"):
        values = [int(v) for v in value]
        return values if len(values) == n else [max(values, default=default)] * n
    return [int(value)] * n


def _size(n: float) -> str:
    return format_bytes(n, digits=1)


# -- the engine's contexts ----------------------------------------------------------------


def worker_contexts(needs: Sequence[int], n_seq_max: int, n_ctx: int = 0) -> list[ContextShape]:
    """The contexts a scan worker creates: the Llama object's own one, and the batch context
    sized for the largest wave of prompts (``needs[k]``: prompt k's tokens plus its answer)."""
    waves = group_waves(needs, min(max(n_seq_max, 1), 256), n_ctx)
    longest = max(needs, default=1)
    widest = max((len(w) for w in waves), default=1)
    return [ContextShape(pad_cells(n_ctx or SEQUENTIAL_N_CTX)), ContextShape(pad_cells(longest), widest)]


def logits_contexts(n_tokens: int, n_sample: int, n_ctx: int = 0) -> list[ContextShape]:
    """The contexts ``verify`` creates on each model: the Llama object's, the per-position
    logits one (a logit row per token) and the one greedy sample's."""
    return [
        ContextShape(pad_cells(n_ctx or SEQUENTIAL_N_CTX)),
        ContextShape(pad_cells(n_tokens), 1, n_outputs=min(n_tokens, N_BATCH)),
        ContextShape(pad_cells(n_tokens + n_sample)),
    ]


# -- budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """Bytes available per device, and where the numbers come from."""

    per_device: tuple[int, ...]
    source: str  # "--memory" or what llama.cpp reported
    gpu: bool  # GPU memory (weights offloaded); False: host memory

    def available(
        self, gpus: Sequence[int], split_mode: str, main_gpu: int, tensor_split: Sequence[float] | None
    ) -> int:
        """What one model may use: one GPU per worker with ``gpus``, one GPU with split mode
        none, else every GPU in proportion to ``tensor_split`` (default: all of each)."""
        per = self.per_device
        if not self.gpu:
            return sum(per)
        if gpus:
            return min(per[g] if g < len(per) else per[-1] for g in gpus)
        if split_mode == "none" or len(per) == 1:
            return per[main_gpu] if main_gpu < len(per) else per[0]
        if not tensor_split:
            return sum(per)
        shares = [*tensor_split, *[0.0] * len(per)][: len(per)]
        total = sum(shares)
        return int(min(b / (s / total) for b, s in zip(per, shares, strict=True) if s > 0))


def shortfall(need: MemoryEstimate, available: int) -> str | None:
    """'needs 49.2 GB, 48.0 GB available (weights ..., KV cache ..., compute ...)', or None."""
    if need.device <= available:
        return None
    return f"needs {_size(need.device)}, {_size(available)} available ({need.describe()})"
