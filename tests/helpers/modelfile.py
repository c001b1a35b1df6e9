"""A reader of Ollama's Modelfile syntax, written from its grammar, to check what we write.

The grammar (Ollama's docs/modelfile.md, "Format": ``# comment`` and ``INSTRUCTION arguments``;
instructions are not case sensitive; values may be ``"quoted"`` or ``\"\"\"multi-line\"\"\"``),
as Ollama's parser (parser/parser.go, ``ParseFile``) applies it character by character:

- Between directives, spaces, tabs and line breaks (CR or LF) are skipped; ``#`` starts a comment
  that ends at the next CR or LF.
- A directive name is ASCII letters and must be one Ollama knows; a space or tab ends it.
  PARAMETER then reads a parameter name (letters, digits, ``_``) up to a space or tab, MESSAGE
  a role (letters); anything else there is an error.
- The value collects characters up to a line break. At each line break the collected text, with
  surrounding whitespace trimmed, is checked: if it starts with three quotes it is complete when it
  is at least six characters and ends with three quotes; if it starts with one quote, when it is at
  least two and ends with a quote; bare text is always complete. A complete value ends the
  directive (the quotes are removed); an incomplete one keeps the line break and goes on. At the
  end of the file an incomplete value is an error.
- Characters that are not printable (Go's ``strconv.IsPrint``) are dropped, except that spaces,
  tabs and line breaks reached inside a value are kept.

This is deliberately a separate implementation from ``rys_gguf.ship.modelfile`` (which writes):
a test reads every Modelfile we write with it and compares the directives with what was meant.
"""

from __future__ import annotations

from dataclasses import dataclass

INSTRUCTIONS = (
    "from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter", "message",
    "requires",
)  # fmt: skip
ROLES = ("system", "user", "assistant")


class ModelfileSyntaxError(ValueError):
    """The text is not a Modelfile Ollama would accept."""


@dataclass(frozen=True)
class Directive:
    """One instruction as Ollama records it: FROM is named "model", PARAMETER by its parameter."""

    name: str
    value: str


def _complete(text: str) -> str | None:
    """The value without its quotes when ``text`` (trimmed) is complete, else None."""
    t = text.strip()
    if t.startswith('"""'):
        return t[3:-3] if len(t) >= 6 and t.endswith('"""') else None
    if t.startswith('"'):
        return t[1:-1] if len(t) >= 2 and t.endswith('"') else None
    return t


def _printable(ch: str) -> bool:
    return ch.isprintable()  # the same classes as Go's strconv.IsPrint


def parse_modelfile(text: str) -> list[Directive]:
    """The directives of a Modelfile, in order; ModelfileSyntaxError where Ollama would refuse it."""
    if text.startswith("\ufeff"):
        text = text[1:]
    out: list[Directive] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "#":
            while i < n and text[i] not in "\r\n":
                i += 1
            continue
        start = i
        while i < n and text[i].isascii() and text[i].isalpha():
            i += 1
        word = text[start:i].lower()
        if i >= n or text[i] not in " \t" or word not in INSTRUCTIONS:
            raise ModelfileSyntaxError(f"offset {start}: not a directive: {text[start : i + 1]!r}")
        i += 1
        name = "model" if word == "from" else word
        role = ""
        if word in ("parameter", "message"):
            start = i
            while i < n and (text[i].isascii() and (text[i].isalnum() or text[i] == "_")):
                i += 1
            if i >= n or text[i] not in " \t":
                raise ModelfileSyntaxError(f"offset {start}: bad {word} name {text[start:i]!r}")
            if word == "parameter":
                name = text[start:i]
            else:
                role = text[start:i]
                if role not in ROLES:
                    raise ModelfileSyntaxError(f"offset {start}: bad message role {role!r}")
            i += 1
        value: list[str] = []
        while True:
            if i >= n:
                done = _complete("".join(value))
                if done is None:
                    raise ModelfileSyntaxError(f"{word}: a quoted value is never closed")
                break
            ch = text[i]
            i += 1
            if ch in "\r\n":
                done = _complete("".join(value))
                if done is not None:
                    break
                value.append(ch)
            elif ch == "\t" or _printable(ch):
                value.append(ch)
        out.append(Directive(name, f"{role}: {done}" if role else done))
    if not any(d.name == "model" for d in out):
        raise ModelfileSyntaxError("no FROM line")
    return out


def comments(text: str) -> list[str]:
    """The comment lines (what follows ``#``), for checks that they stayed comments."""
    return [line.lstrip()[1:] for line in text.split("\n") if line.lstrip().startswith("#")]
