"""Our llama.cpp runner as an lm-evaluation-harness model: the standard tasks, no HTTP server.

`RysLM` answers lm-eval's three request types from one loaded model:

- ``loglikelihood``: one forward pass per request through ``LoadedModel.loglikelihood`` (the
  continuation's log-probability from the per-position logits, and whether greedy decoding
  would produce it);
- ``loglikelihood_rolling``: the whole text's log-probability after the BOS token, in lm-eval's
  rolling windows of the model's training context (or ``--n-ctx`` when smaller), every token
  predicted once (``LoadedModel.rolling_loglikelihood``);
- ``generate_until``: greedy completions, requests with the same stop strings and length decoded
  together as one batch (``sequential=True`` decodes one at a time, as a baseline).

lm-eval is an optional extra (``pip install 'rys-gguf[eval]'``); this module is imported only by
``rys-gguf eval``. Left out: chat templates (tasks are scored on plain prompts, as the harness
does by default) and sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lm_eval.api.model import LM

if TYPE_CHECKING:
    from lm_eval.api.instance import Instance

    from ..llama.runner import LoadedModel

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's own default for generate_until


class RysLM(LM):  # type: ignore[misc]
    """An lm-eval model backed by a model `open_model` loaded; ``progress`` gets one step per request."""

    def __init__(
        self, model: LoadedModel, *, sequential: bool = False, progress: Callable[[int], None] | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.sequential = sequential
        self.progress = progress

    def _step(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress(n)

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        out = []
        for request in requests:
            context, continuation = request.args
            out.append(self.model.loglikelihood(context, continuation))
            self._step()
        return out

    def loglikelihood_rolling(self, requests: list[Instance]) -> list[float]:
        out = []
        for request in requests:
            (text,) = request.args
            out.append(self.model.rolling_loglikelihood(text))
            self._step()
        return out

    def generate_until(self, requests: list[Instance]) -> list[str]:
        groups: dict[tuple[tuple[str, ...], int], list[int]] = {}
        for k, request in enumerate(requests):
            _, kwargs = request.args
            groups.setdefault(_stop_and_length(kwargs), []).append(k)
        texts = [""] * len(requests)
        generate = self.model.generate_sequential if self.sequential else self.model.generate
        for (stop, max_tokens), members in groups.items():
            prompts = [requests[k].args[0] for k in members]
            for k, text in zip(members, generate(prompts, [max_tokens] * len(prompts), stop), strict=True):
                texts[k] = text
            self._step(len(members))
        return texts


def _stop_and_length(kwargs: dict[str, Any]) -> tuple[tuple[str, ...], int]:
    until = kwargs.get("until") or ()
    stops = (until,) if isinstance(until, str) else tuple(until)
    return stops, int(kwargs.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS)
