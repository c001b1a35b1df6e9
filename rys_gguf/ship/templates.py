"""Chat templates for Ollama: the Go templates of the families written here, and the check that
one of them renders exactly what the GGUF's own jinja template renders.

Three turn formats are fixed enough to be written as Go: ChatML, Llama 3 and Gemma. For each,
`render_family` is the Go template's exact output as Python (the Go tests run the real Go
renderer against it), given the messages Ollama hands a template: when a chat has no system
message, Ollama puts the Modelfile's SYSTEM in front. `match_template` renders a few chats (a
user turn alone, with a system turn, a multi-turn chat) through the GGUF's jinja as the runner
does, finds the system prompt the template writes by itself when a chat has none (SmolLM2's "You
are a helpful AI assistant named SmolLM..."), and keeps the family only when the Go side, with
that default as SYSTEM, renders every chat the same.

Left out: tools, images and thinking blocks (chats here are text turns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

Messages = Sequence[tuple[str, str]]  # (role, content)

_CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end -}}\n"
    '<|im_start|>assistant{{ "\\n" }}'
)
_LLAMA3 = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>\n{{- end }}"
    '<|start_header_id|>assistant<|end_header_id|>{{ "\\n\\n" }}'
)
# Gemma has no system role: the system text opens the first user turn, as its jinja does.
_GEMMA = (
    "{{- $system := .System }}{{- $first := true }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" }}<start_of_turn>user\n'
    "{{ if and $first $system }}{{ $system }}\n\n{{ end }}{{ .Content }}<end_of_turn>\n"
    "{{ $first = false }}\n"
    '{{- else if eq .Role "assistant" }}<start_of_turn>model\n{{ .Content }}<end_of_turn>\n'
    "{{ end }}\n"
    '{{- end }}<start_of_turn>model{{ "\\n" }}'
)


def _chatml(system: str, messages: Messages) -> str:
    return "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in messages) + "<|im_start|>assistant\n"


def _llama3(system: str, messages: Messages) -> str:
    turns = "".join(f"<|start_header_id|>{r}<|end_header_id|>\n\n{c}<|eot_id|>" for r, c in messages)
    return turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _gemma(system: str, messages: Messages) -> str:
    out, first = [], True
    for role, content in messages:
        if role == "user":
            out.append(
                f"<start_of_turn>user\n{system + chr(10) * 2 if first and system else ''}{content}<end_of_turn>\n"
            )
            first = False
        elif role == "assistant":
            out.append(f"<start_of_turn>model\n{content}<end_of_turn>\n")
    return "".join(out) + "<start_of_turn>model\n"


class Family(NamedTuple):
    """A turn format written as a Go TEMPLATE: how to spot it, its stop strings, its Go template,
    and that template's output as Python."""

    markers: tuple[str, ...]
    stops: tuple[str, ...]
    go: str
    render: Callable[[str, Messages], str]


FAMILIES: dict[str, Family] = {
    "chatml": Family(("<|im_start|>", "<|im_end|>"), ("<|im_start|>", "<|im_end|>"), _CHATML, _chatml),
    "llama3": Family(
        ("<|start_header_id|>", "<|eot_id|>"),
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        _LLAMA3,
        _llama3,
    ),
    "gemma": Family(("<start_of_turn>", "<end_of_turn>"), ("<end_of_turn>", "<start_of_turn>"), _GEMMA, _gemma),
}
# The chats a family must render like the jinja: a user turn alone, one with a system turn, and
# a multi-turn chat (markers chosen so no template could merge them with its own text).
CHECK_CHATS: tuple[Messages, ...] = (
    (("user", "Q1?"),),
    (("system", "S1."), ("user", "Q1?")),
    (("system", "S1."), ("user", "Q1?"), ("assistant", "A1."), ("user", "Q2?")),
    (("user", "Q1?"), ("assistant", "A1."), ("user", "Q2?")),
)
_SENTINEL = "\x01SYSTEM\x01"


def chat_family(template: str | None) -> str | None:
    """The family a jinja chat template looks like (by its turn markers), if one is written as Go."""
    if not template:
        return None
    return next((name for name, f in FAMILIES.items() if all(m in template for m in f.markers)), None)


def ollama_messages(messages: Messages, system: str | None) -> tuple[str, list[tuple[str, str]]]:
    """What Ollama hands a template: the Modelfile's SYSTEM first when the chat has no system
    turn, and ``.System``, the chat's system texts joined."""
    msgs = list(messages)
    if system and not any(r == "system" for r, _ in msgs):
        msgs.insert(0, ("system", system))
    return "\n\n".join(c for r, c in msgs if r == "system"), msgs


def render_family(family: str, messages: Messages, system: str | None = None) -> str:
    """The family's Go template's output for a chat, with ``system`` as the Modelfile's SYSTEM."""
    joined, msgs = ollama_messages(messages, system)
    return FAMILIES[family].render(joined, msgs)


def render_jinja(template: str, messages: Messages, eos: str = "") -> str:
    """The chat through the GGUF's jinja as the runner renders it (BOS left to tokenization; a
    system turn the template refuses is folded into the first user turn)."""
    from ..llama.chat import compile_template, render_chat

    compiled = compile_template(template)
    turns = [{"role": r, "content": c} for r, c in messages]
    try:
        return render_chat(compiled, turns, eos_token=eos)
    except ValueError:
        if not turns or turns[0]["role"] != "system" or len(turns) < 2:
            raise
        folded = [{"role": "user", "content": f"{turns[0]['content']}\n\n{turns[1]['content']}"}, *turns[2:]]
        return render_chat(compiled, folded, eos_token=eos)


def default_system(template: str, eos: str = "") -> str | None:
    """The system prompt the template writes by itself when a chat has none, or None."""
    user = (("user", "Q1?"),)
    with_system = render_jinja(template, (("system", _SENTINEL), *user), eos)
    without = render_jinja(template, user, eos)
    at = with_system.find(_SENTINEL)
    if at < 0:
        return None
    head, tail = with_system[:at], with_system[at + len(_SENTINEL) :]
    if len(without) > len(head) + len(tail) and without.startswith(head) and without.endswith(tail):
        return without[len(head) : len(without) - len(tail)]
    return None


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    """How a GGUF's chat template reaches Ollama: the family written as Go (or None), the
    SYSTEM to write with it, and why a family that looked right was not kept."""

    family: str | None
    system: str | None
    mismatch: str | None = None


def match_template(template: str | None, eos: str = "") -> TemplateMatch:
    """The family to write for this jinja template, kept only when it renders every check chat alike."""
    import jinja2

    family = chat_family(template)
    if family is None or template is None:
        return TemplateMatch(None, None)
    try:
        system = default_system(template, eos)
        for chat in CHECK_CHATS:
            want, got = render_jinja(template, chat, eos), render_family(family, chat, system)
            if want != got:
                roles = "+".join(r for r, _ in chat)
                return TemplateMatch(None, None, f"it looks like {family} but renders a {roles} chat differently")
    except (ValueError, jinja2.TemplateError) as e:
        return TemplateMatch(None, None, f"it fails to render a check chat ({e})")
    return TemplateMatch(family, system)
