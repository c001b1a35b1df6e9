"""Run a GGUF model for the probes: GPU options, chat-template prompts, batched greedy generation.

`open_model` loads a model (or the first shard of a split one) through llama-cpp-python with the
user's runtime options and yields a `LoadedModel`: `render` turns a system/user pair into a
prompt with the GGUF's chat template (a plain "system\\n\\nuser\\n" when it has none), `generate`
decodes all prompts of a config together as parallel sequences, greedy, and `token_logits` gives
per-position logits for oracle tests. The native library loads only when a model opens.
Left out: sampling, multi-turn chats, streaming, and choosing GPUs per worker (the scan does that).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ScanError

if TYPE_CHECKING:
    from .engine import Engine

SPLIT_MODE_NAMES = ("none", "layer", "row")
NO_THINK_PREFIX = "/no_think "
THINK_SEED = "<think>I can answer this now, and will do so succinctly.</think>\n"
_OPEN_THINK = re.compile(r"<think>\s*\Z")


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """How llama.cpp runs a model: GPU offload and split, context size, threads, thinking."""

    n_gpu_layers: int = -1  # -1 = all
    split_mode: str = "layer"  # "none" | "layer" | "row"
    tensor_split: tuple[float, ...] | None = None
    main_gpu: int = 0
    n_ctx: int = 0  # 0 = sized automatically for the batch
    n_threads: int | None = None
    flash_attn: bool = False
    no_think: bool = False

    def __post_init__(self) -> None:
        if self.tensor_split is not None:  # accept a list (e.g. from as_dict / JSON)
            object.__setattr__(self, "tensor_split", tuple(float(x) for x in self.tensor_split))
        if self.split_mode not in SPLIT_MODE_NAMES:
            raise ScanError(f"--split-mode {self.split_mode!r} is unknown; use one of " + ", ".join(SPLIT_MODE_NAMES))
        if self.tensor_split is not None and (
            not self.tensor_split or min(self.tensor_split) < 0 or sum(self.tensor_split) <= 0
        ):
            raise ScanError(
                f"--tensor-split {self.tensor_split} needs non-negative shares, one per GPU, not all zero (e.g. 1,1)"
            )
        if self.n_ctx < 0 or (self.n_threads is not None and self.n_threads < 1):
            raise ScanError("--n-ctx must be >= 0 and --threads >= 1")

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (for results files and worker processes)."""
        return {
            "n_gpu_layers": self.n_gpu_layers,
            "split_mode": self.split_mode,
            "tensor_split": list(self.tensor_split) if self.tensor_split is not None else None,
            "main_gpu": self.main_gpu,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "flash_attn": self.flash_attn,
            "no_think": self.no_think,
        }


def render_prompt(
    template: str | None,
    system: str | None,
    user: str,
    *,
    bos_token: str = "",
    eos_token: str = "",
    no_think: bool = False,
) -> str:
    """A one-turn prompt from a chat template (or the plain fallback), ready to generate from.

    The leading BOS text the template writes is removed: tokenization adds BOS itself. A system
    message goes in its own turn, or is folded into the user turn if the template refuses one.
    `no_think` applies the RYS recipe: "/no_think " before the user text, enable_thinking=False,
    and a closed think block seeded after the generation prompt.
    """
    if no_think:
        user = NO_THINK_PREFIX + user
    if template is None:
        prompt = f"{system}\n\n{user}\n" if system else f"{user}\n"
    else:
        prompt = _apply_template(template, system, user, bos_token, eos_token, no_think)
        if bos_token and prompt.startswith(bos_token):
            prompt = prompt[len(bos_token) :]
    if no_think:
        prompt = _OPEN_THINK.sub("", prompt) + THINK_SEED
    return prompt


def _apply_template(template: str, system: str | None, user: str, bos: str, eos: str, no_think: bool) -> str:
    import jinja2
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    try:
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    except jinja2.TemplateError as exc:
        raise ScanError(f"the GGUF's tokenizer.chat_template does not parse: {exc}") from None
    extra = {"enable_thinking": False} if no_think else {}
    messages: list[dict[str, str]] = [{"role": "user", "content": user}]
    if system:
        try:
            turns = [{"role": "system", "content": system}, *messages]
            return formatter(messages=turns, **extra).prompt  # type: ignore[arg-type]
        except (ValueError, jinja2.TemplateError):  # e.g. Gemma 2: "System role not supported"
            messages = [{"role": "user", "content": f"{system}\n\n{user}"}]
    try:
        return formatter(messages=messages, **extra).prompt  # type: ignore[arg-type]
    except (ValueError, jinja2.TemplateError) as exc:
        raise ScanError(f"the GGUF's tokenizer.chat_template fails to render: {exc}") from None


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
            no_think=self._options.no_think,
        )

    def tokenize(self, text: str) -> list[int]:
        """Tokens as generation sees them: special tokens parsed, BOS as the model wants."""
        return self._engine.tokenize(text)

    def generate(self, prompts: Sequence[str], max_tokens: Sequence[int], stop: Sequence[str] = ()) -> list[str]:
        """Greedy completions, all prompts decoded together; each stops on EOG, stop or limit."""
        _check_lengths(prompts, max_tokens)
        return self._engine.generate([self.tokenize(p) for p in prompts], max_tokens, stop)

    def generate_sequential(
        self, prompts: Sequence[str], max_tokens: Sequence[int], stop: Sequence[str] = ()
    ) -> list[str]:
        """Greedy completions one prompt at a time via `Llama.create_completion` (a baseline)."""
        _check_lengths(prompts, max_tokens)
        return self._engine.generate_sequential(prompts, max_tokens, stop)

    def token_logits(self, text: str) -> np.ndarray:
        """Float32 logits [n_tokens, n_vocab] at every position of the tokenized text."""
        return self._engine.token_logits(text)


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
        ScanError: the file is missing or llama.cpp cannot load it (one-line reason).
    """
    path = Path(path)
    if not path.is_file():
        raise ScanError(f"{path}: no such model file; check the path")
    n_seq_max = min(max(n_seq_max, 1), 256)  # llama.cpp's limit; more prompts run in waves
    from .engine import Engine  # loads the native library

    engine = Engine(path, options, n_seq_max)
    try:
        yield LoadedModel(engine, options)
    finally:
        engine.close()
