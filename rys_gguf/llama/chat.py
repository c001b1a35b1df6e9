"""One-turn prompts from a GGUF's chat template, rendered exactly as llama-cpp-python renders them.

A system message goes in its own turn, or is folded into the user turn when the template refuses
one; a model without a template gets a plain ``system\n\nuser\n``. ``no_think`` applies the RYS
recipe for thinking models. The template engine (jinja2 through llama-cpp-python's formatter)
is imported on first use.
"""

from __future__ import annotations

import re

from ..errors import LlamaError

NO_THINK_PREFIX = "/no_think "
THINK_SEED = "<think>I can answer this now, and will do so succinctly.</think>\n"
_OPEN_THINK = re.compile(r"<think>\s*\Z")


def render_prompt(
    template: str | None,
    system: str | None,
    user: str,
    *,
    bos_token: str = "",
    eos_token: str = "",
    no_think: bool = False,
    adds_bos: bool = True,
) -> str:
    """A one-turn prompt from a chat template (or the plain fallback), ready to generate from.

    When tokenization adds BOS itself (``adds_bos``), the leading BOS text the template writes
    is removed, or the model would see it twice. Otherwise it stays: in ChatML vocabularies such
    as SmolLM2's, the BOS token is ``<|im_start|>``, the start of the first turn. A system
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
        if adds_bos and bos_token and prompt.startswith(bos_token):
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
        raise LlamaError(f"the GGUF's tokenizer.chat_template does not parse: {exc}") from None
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
        raise LlamaError(f"the GGUF's tokenizer.chat_template fails to render: {exc}") from None
