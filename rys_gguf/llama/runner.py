"""Run a GGUF model for the probes: chat-template prompts, batched greedy generation, logits.

`open_model` loads a model (or the first shard of a split one) through llama-cpp-python with the
user's runtime options and yields a `LoadedModel`: `render` turns a system/user pair into a
prompt with the GGUF's chat template (``chat``), `generate` decodes all prompts of a config
together as parallel sequences, greedy (``engine``), and `token_logits` gives per-position logits
for oracle tests. The native library loads only when a model opens.
Left out: sampling, multi-turn chats, streaming, and choosing GPUs per worker (the scan does that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LlamaError
from .chat import render_prompt
from .options import RuntimeOptions

if TYPE_CHECKING:
    import numpy as np

    from .engine import Engine


class LoadedModel:
    """A model opened by `open_model`: prompt rendering, batched greedy generation, logits."""

    def __init__(self, engine: Engine, options: RuntimeOptions) -> None:
        self._engine = engine
        self._options = options
        self.chat_template = engine.metadata("tokenizer.chat_template")
        bos, eos = engine.bos_eos
        self._bos_text = engine.token_text(bos)
        self._eos_text = engine.token_text(eos)

    @property
    def n_layers(self) -> int:
        """Number of transformer layers llama.cpp built."""
        return self._engine.n_layers

    @property
    def n_vocab(self) -> int:
        return self._engine.n_vocab

    def render(self, system: str | None, user: str) -> str:
        """The prompt for one user turn (chat template if the GGUF has one), with no_think."""
        return render_prompt(
            self.chat_template,
            system,
            user,
            bos_token=self._bos_text,
            eos_token=self._eos_text,
            adds_bos=self._engine.adds_bos,
            no_think=self._options.no_think,
        )

    def tokenize(self, text: str) -> list[int]:
        """Tokens as generation sees them: special tokens parsed, BOS as the model wants."""
        return self._engine.tokenize(text)

    def generate(
        self,
        prompts: Sequence[str],
        max_tokens: Sequence[int],
        stop: Sequence[str] = (),
        watch: Callable[[Sequence[tuple[str, bool] | None], int], bool] | None = None,
    ) -> list[str]:
        """Greedy completions, all prompts decoded together; each stops on EOG, stop or limit.

        ``watch`` sees the partial answers every few tokens and may stop the whole generation
        (it gets every prompt's (text so far, finished) and the tokens decoded per answer).
        """
        _check_lengths(prompts, max_tokens)
        return self._engine.generate([self.tokenize(p) for p in prompts], max_tokens, stop, watch)

    def generate_sequential(
        self, prompts: Sequence[str], max_tokens: Sequence[int], stop: Sequence[str] = ()
    ) -> list[str]:
        """Greedy completions one prompt at a time via `Llama.create_completion` (a baseline)."""
        _check_lengths(prompts, max_tokens)
        return self._engine.generate_sequential(prompts, max_tokens, stop)

    def token_logits(self, text: str) -> np.ndarray:
        """Float32 logits [n_tokens, n_vocab] at every position of the tokenized text."""
        return self._engine.token_logits(text)

    def loglikelihood(self, context: str, continuation: str) -> tuple[float, bool]:
        """Log-probability (nats) of ``continuation`` after ``context``, and whether greedy
        decoding would produce it, from the per-position logits of one pass.

        The continuation's tokens are those of ``context + continuation`` past the context's own
        tokens (merges across the boundary stay as the tokenizer makes them); when the context's
        tokens are not a prefix, the two are tokenized apart. An empty context is the BOS token.
        """
        import numpy as np

        engine = self._engine
        bos, eos = engine.bos_eos
        head = engine.tokenize(context) if context else [bos if bos >= 0 else eos]
        whole = engine.tokenize(context + continuation) if context else [*head, *engine.tokenize(continuation, False)]
        if whole[: len(head)] != head or len(whole) <= len(head):
            whole = [*head, *engine.tokenize(continuation, False)]
        tail = whole[len(head) :]
        if not tail:
            raise ValueError(f"the continuation {continuation!r} tokenizes to nothing")
        rows = engine.logits(whole[:-1])[len(head) - 1 :].astype(np.float64)
        rows -= rows.max(axis=1, keepdims=True)
        logp = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
        picked = logp[np.arange(len(tail)), tail]
        return float(picked.sum()), bool((rows.argmax(axis=1) == np.asarray(tail)).all())

    def rolling_loglikelihood(self, text: str, max_length: int | None = None) -> float:
        """Log-probability (nats) of all of ``text`` after the BOS token, as lm-eval's
        ``loglikelihood_rolling`` wants it: windows of at most ``max_length`` tokens (default: the
        context the model was trained on, or the runtime's ``n_ctx`` when smaller), each token
        predicted once, each later window with as much preceding text as fits. "" scores 0."""
        import numpy as np

        engine = self._engine
        tokens = engine.tokenize(text, False)
        if not tokens:
            return 0.0
        if max_length is None:
            max_length = min(n for n in (engine.n_ctx_train, self._options.n_ctx) if n > 0)
        bos, eos = engine.bos_eos
        total = 0.0
        for inputs, targets in rolling_windows(tokens, bos if bos >= 0 else eos, max(1, max_length)):
            rows = engine.logits(inputs)[len(inputs) - len(targets) :].astype(np.float64)
            rows -= rows.max(axis=1, keepdims=True)
            logp = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
            total += float(logp[np.arange(len(targets)), targets].sum())
        return total


def rolling_windows(tokens: Sequence[int], prefix: int, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(input tokens, tokens to predict) windows over ``tokens``, lm-eval's rolling windows with a
    one-token context made disjoint: the first predicts up to ``max_length`` tokens after
    ``prefix``; each next one predicts the following ``max_length`` (fewer at the end) from the
    ``max_length`` tokens before each, scoring only the last logits."""
    tokens = list(tokens)
    first = min(max_length, len(tokens))
    windows = [([prefix, *tokens[: first - 1]], tokens[:first])]
    done = first
    while done < len(tokens):
        end = min(len(tokens), done + max_length)
        windows.append((tokens[end - max_length - 1 : end - 1], tokens[done:end]))
        done = end
    return windows


def _check_lengths(prompts: Sequence[str], max_tokens: Sequence[int]) -> None:
    if len(prompts) != len(max_tokens):
        raise ValueError(f"{len(prompts)} prompts but {len(max_tokens)} max_tokens")


@contextmanager
def open_model(path: str | Path, options: RuntimeOptions, n_seq_max: int = 64) -> Iterator[LoadedModel]:
    """Load a GGUF (or the first shard of a split one) and free it on exit.

    Args:
        path: the model file; for a split model, shard 1 (the others are found by name).
        options: GPU offload and split, context size, threads, flash attention, no_think.
        n_seq_max: most prompts decoded together (at most 256); larger batches run in waves.

    Raises:
        LlamaError: the file is missing or llama.cpp cannot load it (one-line reason).
    """
    path = Path(path)
    if not path.is_file():
        raise LlamaError(f"{path}: no such model file; check the path")
    n_seq_max = min(max(n_seq_max, 1), 256)  # llama.cpp's limit; more prompts run in waves
    from .engine import Engine

    engine = Engine(path, options, n_seq_max)
    try:
        yield LoadedModel(engine, options)
    finally:
        engine.close()
