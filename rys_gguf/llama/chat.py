"""One-turn prompts from a GGUF's chat template, rendered exactly as llama-cpp-python renders them.

A system message goes in its own turn, or is folded into the user turn when the template refuses
one; a model without a template gets a plain ``system\n\nuser\n``. ``no_think`` applies the RYS
recipe for thinking models.

`render_chat` is llama-cpp-python's ``Jinja2ChatFormatter`` in pure jinja2 (the same sandboxed
environment, block trimming, extensions and globals; a test keeps the two equal), so prompts
render without loading the native library: the Ollama export renders them too. jinja2 is
imported on first use.
"""

from __future__ import annotations

import re
from typing import Any

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


def compile_template(template: str) -> Any:
    """A jinja chat template compiled in llama-cpp-python's environment (a sandbox that trims
    blocks, knows HuggingFace's generation tag and loop controls); raises jinja2.TemplateError."""
    import json

    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class IgnoreGenerationTags(jinja2.ext.Extension):  # HuggingFace's {% generation %} tag
        tags = {"generation"}  # noqa: RUF012 (jinja2's own declaration)

        def parse(self, parser: Any) -> Any:
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    def tojson(x: object, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:  # fmt: skip
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[IgnoreGenerationTags, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = tojson
    return env.from_string(template)


def render_chat(
    template: Any, messages: list[dict[str, str]], *, bos_token: str = "", eos_token: str = "", **extra: object
) -> str:
    """A chat rendered by a compiled template with the generation prompt, as llama-cpp-python
    does it; ``extra`` become template variables (e.g. enable_thinking). Raises ValueError (the
    template's raise_exception) or jinja2.TemplateError."""
    from datetime import datetime

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    return str(
        template.render(
            messages=messages,
            eos_token=eos_token,
            bos_token=bos_token,
            raise_exception=raise_exception,
            add_generation_prompt=True,
            functions=None,
            function_call=None,
            tools=None,
            tool_choice=None,
            strftime_now=lambda f: datetime.now().strftime(f),
            **extra,
        )
    )


def _apply_template(template: str, system: str | None, user: str, bos: str, eos: str, no_think: bool) -> str:
    import jinja2

    try:
        compiled = compile_template(template)
    except jinja2.TemplateError as exc:
        raise LlamaError(f"the GGUF's tokenizer.chat_template does not parse: {exc}") from None
    extra = {"enable_thinking": False} if no_think else {}
    messages: list[dict[str, str]] = [{"role": "user", "content": user}]
    if system:
        try:
            turns = [{"role": "system", "content": system}, *messages]
            return render_chat(compiled, turns, bos_token=bos, eos_token=eos, **extra)
        except (ValueError, jinja2.TemplateError):  # e.g. Gemma 2: "System role not supported"
            messages = [{"role": "user", "content": f"{system}\n\n{user}"}]
    try:
        return render_chat(compiled, messages, bos_token=bos, eos_token=eos, **extra)
    except (ValueError, jinja2.TemplateError) as exc:
        raise LlamaError(f"the GGUF's tokenizer.chat_template fails to render: {exc}") from None
