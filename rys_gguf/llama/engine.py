"""llama.cpp through llama-cpp-python: load a model, decode many prompts at once, read logits.

`Engine` owns a `Llama` (the weights, plus the single-sequence context that `create_completion`
uses) and builds its own contexts on the same weights with the low-level API: one holding a
batch of parallel sequences for greedy generation (one seq_id and one KV stream per prompt) and
a short-lived one that returns logits at every position.
Importing this module loads the native library; ``llama.runner`` imports it only when a model opens.
Left out: sampling other than greedy, KV-prefix sharing between prompts, embeddings, LoRA.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import llama_cpp
import numpy as np

from ..errors import LlamaError
from . import cpu_repack, logs
from .batching import N_BATCH, SEQUENTIAL_N_CTX, cut_at_stop, group_waves, hits_stop, pad_cells
from .memory import SWA_FULL
from .options import RuntimeOptions

WATCH_EVERY = 8  # decode rounds between two looks of a generation watch at the partial answers
# A generation watch: every prompt's (text so far, finished), None before its wave starts, and the
# tokens decoded per answer; True stops the generation (see Engine.generate).
Watch = Callable[[Sequence[tuple[str, bool] | None], int], bool]
SPLIT_MODES = {
    "none": llama_cpp.LLAMA_SPLIT_MODE_NONE,
    "layer": llama_cpp.LLAMA_SPLIT_MODE_LAYER,
    "row": llama_cpp.LLAMA_SPLIT_MODE_ROW,
}


def load_llama(path: str | Path, *, use_extra_bufts: bool | None = None, **kwargs: Any) -> llama_cpp.Llama:
    """``llama_cpp.Llama(path, **kwargs)`` with or without llama.cpp's repacked CPU buffers
    (None: as ``cpu_repack`` decides). Every `Llama` rys-gguf and its tests create comes from here.

    `Llama` takes no such argument: it fills its model parameters from
    ``llama_model_default_params`` while it loads, so that function answers with the flag set,
    for this one call.
    """
    if use_extra_bufts is None:
        use_extra_bufts = cpu_repack.resolve().enabled
    low_level = llama_cpp.llama_cpp
    default = low_level.llama_model_default_params

    def params() -> Any:
        p = default()
        p.use_extra_bufts = use_extra_bufts
        return p

    low_level.llama_model_default_params = params
    try:
        return llama_cpp.Llama(model_path=str(path), **kwargs)
    finally:
        low_level.llama_model_default_params = default


def _n_threads(options: RuntimeOptions) -> int:
    if options.n_threads:
        return options.n_threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Engine:
    """A loaded model with a single-sequence `Llama` and batch contexts built on its weights."""

    def __init__(self, path: Path, options: RuntimeOptions, n_seq_max: int) -> None:
        self._threads = _n_threads(options)
        self._flash_attn = options.flash_attn
        self._n_ctx = options.n_ctx
        self._n_seq_max = n_seq_max
        with logs.capture() as log:
            try:
                self.llm = load_llama(
                    path,
                    use_extra_bufts=cpu_repack.resolve(options.cpu_repack).enabled,
                    n_gpu_layers=options.n_gpu_layers,
                    split_mode=SPLIT_MODES[options.split_mode],
                    main_gpu=options.main_gpu,
                    tensor_split=list(options.tensor_split) if options.tensor_split else None,
                    n_ctx=options.n_ctx or SEQUENTIAL_N_CTX,
                    n_batch=N_BATCH,
                    n_threads=self._threads,
                    n_threads_batch=self._threads,
                    flash_attn=options.flash_attn,
                    swa_full=SWA_FULL,
                    verbose=logs.debug_logging(),
                )
            except (ValueError, RuntimeError) as exc:
                why = log.first_error() or str(exc)
                raise LlamaError(
                    f"{path}: llama.cpp cannot load this model ({why}); check that it is a complete "
                    "GGUF (with every split shard beside it) and that the GPU options fit"
                ) from None
        self.model = self.llm.model
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.n_layers = int(llama_cpp.llama_model_n_layer(self.model))
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self.model))
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self._batch_ctx: _Context | None = None
        self._logits_ctx: _Context | None = None
        self._pieces: dict[int, bytes] = {}

    def close(self) -> None:
        """Free the batch context, then the `Llama` (its context before its model)."""
        for ctx in (self._batch_ctx, self._logits_ctx):
            if ctx is not None:
                ctx.close()
        self._batch_ctx = self._logits_ctx = None
        self.llm.close()

    def metadata(self, key: str) -> str | None:
        """A GGUF metadata value as llama.cpp reports it, or None."""
        return self.llm.metadata.get(key)

    def token_text(self, token: int) -> str:
        """The vocabulary text of a token ("" for -1)."""
        if token < 0:
            return ""
        return bytes(llama_cpp.llama_vocab_get_text(self.vocab, token)).decode("utf-8", "replace")

    @property
    def bos_eos(self) -> tuple[int, int]:
        return int(llama_cpp.llama_vocab_bos(self.vocab)), int(llama_cpp.llama_vocab_eos(self.vocab))

    @property
    def adds_bos(self) -> bool:
        """Whether tokenizing a prompt puts the BOS token in front of it."""
        return self._add_bos

    def tokenize(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Tokens of `text`, special tokens parsed, BOS added when the model wants it (or as told)."""
        bos = self._add_bos if add_bos is None else add_bos
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:  # piece longer than the buffer: llama.cpp returns -needed
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            piece = self._pieces[token] = buf.raw[:n]
        return piece

    def _context(self, n_ctx_seq: int, n_seq: int, n_batch: int = N_BATCH) -> _Context:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = pad_cells(n_ctx_seq) * n_seq
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, N_BATCH)
        params.n_seq_max = n_seq
        params.n_outputs_max_per_seq = 0  # 0 = as many outputs per sequence as the batch has
        params.n_threads = params.n_threads_batch = self._threads
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if self._flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        # One KV stream per sequence: each token attends over its own prompt only. A unified
        # cache makes every sequence attend over all cells (masked), n_seq times the work.
        params.kv_unified = False
        params.swa_full = SWA_FULL  # the memory planner sizes sliding-window caches the same way
        params.no_perf = True
        return _Context(self.model, params)

    def _batch_context(self, n_ctx_seq: int, n_seq: int) -> _Context:
        """The batch context, rebuilt only when a larger one is needed."""
        ctx = self._batch_ctx
        if ctx is None or ctx.n_ctx_seq < n_ctx_seq or ctx.n_seq_max < n_seq:
            if ctx is not None:
                ctx.close()
            self._batch_ctx = None
            ctx = self._batch_ctx = self._context(n_ctx_seq, n_seq)
        return ctx

    def generate(
        self, prompts: Sequence[list[int]], max_tokens: Sequence[int], stop: Sequence[str], watch: Watch | None = None
    ) -> list[str]:
        """Greedy completions of tokenized prompts, decoded together as parallel sequences.

        ``watch``, when given, is shown every prompt's (text so far, finished) every WATCH_EVERY
        decode rounds (None for prompts of a later wave) with the tokens decoded per answer; when
        it returns True generation stops there and the texts so far are returned.
        """
        stops = [s.encode("utf-8") for s in stop if s]
        needs = [len(p) + m for p, m in zip(prompts, max_tokens, strict=True)]
        texts = [""] * len(prompts)
        seen: list[tuple[str, bool] | None] = [None] * len(prompts)
        for wave in group_waves(needs, self._n_seq_max, self._n_ctx):
            ctx = self._batch_context(max(needs[k] for k in wave), len(wave))
            waved = [prompts[k] for k in wave]

            def look(partials: list[tuple[str, bool]], n_tokens: int, wave: list[int] = wave) -> bool:
                for k, partial in zip(wave, partials, strict=True):
                    seen[k] = partial
                return watch is not None and watch(seen, n_tokens)

            outs, stopped = self._decode_wave(ctx, waved, [max_tokens[k] for k in wave], stops, look if watch else None)
            for k, tokens in zip(wave, outs, strict=True):
                texts[k] = cut_at_stop(b"".join(self._piece(t) for t in tokens), stops)
                seen[k] = (texts[k], True)
            if stopped:
                break
        return texts

    def _decode_wave(
        self,
        ctx: _Context,
        prompts: Sequence[list[int]],
        max_tokens: Sequence[int],
        stops: list[bytes],
        look: Callable[[list[tuple[str, bool]], int], bool] | None = None,
    ) -> tuple[list[list[int]], bool]:
        """Greedy tokens per sequence: prefill all, then one token per live sequence a round.

        Returns the tokens and whether ``look`` (shown the texts so far) stopped the wave early.
        """
        ctx.clear()
        n_seq = len(prompts)
        nexts = [-1] * n_seq
        # Prefill: every prompt in seq_id k, chunked to n_batch tokens; logits on last tokens.
        waiting: list[tuple[int, int]] = []
        for seq, tokens in enumerate(prompts):
            if not tokens:
                raise ValueError(f"prompt {seq} tokenizes to nothing")
            for pos, token in enumerate(tokens):
                if ctx.n_queued == ctx.n_batch:
                    ctx.decode()
                    for i, s in waiting:
                        nexts[s] = ctx.argmax(i, self.n_vocab)
                    waiting = []
                last = pos == len(tokens) - 1
                i = ctx.add(token, pos, seq, last)
                if last:
                    waiting.append((i, seq))
        ctx.decode()
        for i, s in waiting:
            nexts[s] = ctx.argmax(i, self.n_vocab)
        outs: list[list[int]] = [[] for _ in range(n_seq)]
        active = [s for s in range(n_seq) if max_tokens[s] > 0]
        buffers = [b""] * n_seq
        rounds = 0
        while active:
            rounds += 1
            if look is not None and rounds % WATCH_EVERY == 0:
                live = set(active)
                if look([(cut_at_stop(buffers[s], stops), s not in live) for s in range(n_seq)], rounds - 1):
                    return outs, True
            still: list[tuple[int, int]] = []
            for s in active:
                token = nexts[s]
                if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                    continue
                outs[s].append(token)
                piece = self._piece(token)
                buffers[s] += piece
                if len(outs[s]) >= max_tokens[s] or hits_stop(buffers[s], len(piece), stops):
                    continue
                still.append((ctx.add(token, len(prompts[s]) + len(outs[s]) - 1, s, True), s))
            if still:
                ctx.decode()
                for i, s in still:
                    nexts[s] = ctx.argmax(i, self.n_vocab)
            active = [s for _, s in still]
        return outs, False

    def generate_sequential(self, prompts: Sequence[str], max_tokens: Sequence[int], stop: Sequence[str]) -> list[str]:
        """One prompt at a time through `Llama.create_completion` at temperature 0."""
        texts = []
        for k, (prompt, limit) in enumerate(zip(prompts, max_tokens, strict=True)):
            if limit <= 0:  # create_completion reads 0 as "until the context is full"
                texts.append("")
                continue
            # No KV reuse from the previous prompt: each result depends on its prompt alone.
            self.llm.reset()  # type: ignore[no-untyped-call]
            try:
                done = self.llm.create_completion(prompt, max_tokens=limit, temperature=0.0, stop=list(stop) or None)
            except ValueError as exc:
                raise LlamaError(f"prompt {k}: {exc}; raise --n-ctx") from None
            texts.append(cast(dict[str, Any], done)["choices"][0]["text"])
        return texts

    def token_logits(self, text: str) -> np.ndarray:
        """Float32 logits [n_tokens, n_vocab] at every position of the tokenized text."""
        return self.logits(self.tokenize(text))

    def logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Float32 logits [n_tokens, n_vocab] at every position of a token sequence."""
        if not tokens:
            raise ValueError("no tokens to evaluate")
        rows = np.empty((len(tokens), self.n_vocab), dtype=np.float32)
        ctx = self._logits_ctx
        if ctx is None or ctx.n_ctx_seq < len(tokens):  # kept for the next call, grown when needed
            if ctx is not None:
                ctx.close()
            self._logits_ctx = None
            ctx = self._logits_ctx = self._context(len(tokens), 1)
        ctx.clear()
        for start in range(0, len(tokens), ctx.n_batch):
            chunk = tokens[start : start + ctx.n_batch]
            for pos, token in enumerate(chunk, start):
                ctx.add(token, pos, 0, True)
            ctx.decode()
            ptr = llama_cpp.llama_get_logits(ctx.ctx)
            rows[start : start + len(chunk)] = np.ctypeslib.as_array(ptr, shape=(len(chunk), self.n_vocab))
        return rows


class _Context:
    """A llama_context and a token batch of n_batch slots, freed by close()."""

    def __init__(self, model: Any, params: Any) -> None:
        ctx = llama_cpp.llama_init_from_model(model, params)
        if ctx is None:
            raise LlamaError(
                f"llama.cpp cannot create a context of {params.n_ctx} tokens for "
                f"{params.n_seq_max} sequences; lower --n-ctx or free GPU memory"
            )
        self.ctx = ctx
        self.n_ctx_seq = int(llama_cpp.llama_n_ctx_seq(ctx))
        self.n_seq_max = int(llama_cpp.llama_n_seq_max(ctx))
        self.n_batch = int(llama_cpp.llama_n_batch(ctx))
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.n_queued = 0

    def close(self) -> None:
        """Free the batch and the context (idempotent)."""
        if self.ctx is not None:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    def clear(self) -> None:
        """Forget every sequence in the KV cache."""
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
        self.n_queued = 0

    def add(self, token: int, pos: int, seq: int, output: bool) -> int:
        """Queue one token of sequence `seq` at position `pos`; returns its batch index."""
        i = self.n_queued
        batch = self.batch
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = output
        self.n_queued = i + 1
        return i

    def decode(self) -> None:
        """Run the queued tokens through the model."""
        self.batch.n_tokens = self.n_queued
        status = llama_cpp.llama_decode(self.ctx, self.batch)
        self.n_queued = 0
        if status != 0:
            raise LlamaError(
                f"llama_decode failed (status {status}); {self.n_ctx_seq} KV cells per sequence "
                "may be too few: raise --n-ctx, or see RYS_DEBUG=1"
            )

    def argmax(self, i: int, n_vocab: int) -> int:
        """Greedy token from batch row i's logits (ties go to the lowest id)."""
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, i), shape=(n_vocab,))
        return int(np.argmax(row))
