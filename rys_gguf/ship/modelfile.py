"""Ollama's Modelfile syntax, written so that Ollama reads back exactly the values we mean.

How Ollama's parser (parser/parser.go) reads a Modelfile, the rules every value here obeys:

- A line whose first non-blank character is ``#`` is a comment up to the next ``\\r`` or ``\\n``:
  a newline or carriage return inside a comment would start a directive.
- An instruction is letters (FROM, PARAMETER, TEMPLATE, SYSTEM, ADAPTER, ...; any case), a space,
  then its value; PARAMETER takes a name of letters, digits and ``_`` first.
- A value runs to a newline, at which its text (trimmed) must be complete: ``"..."`` when it starts
  and ends with ``"`` (only the two ends are looked at, so a ``"`` inside is fine), ``\"\"\"...\"\"\"``
  when it starts with three quotes, else the bare text. An incomplete quoted value takes the newline
  in and goes on, which is how multi-line values work, and also how a value ends early: a line of
  a triple-quoted value that ends in ``\"\"\"`` closes it, and whatever follows is read as directives.
- Characters that are not printable (Go's ``strconv.IsPrint``: control and format characters,
  separators other than the space) are dropped from values, except tab, CR and newline.

So a value is written only when it survives these rules unchanged; otherwise the export is refused
with `ModelfileError` naming the value and why. Comments are escaped onto one line instead.
"""

from __future__ import annotations

from ..errors import ExportError
from ..untrusted import safe_line

TRIPLE = '"""'


class ModelfileError(ExportError):
    """A value from the model cannot be written in a Modelfile without changing its meaning."""


def _printable(text: str, allowed: str) -> bool:
    # Python's isprintable() and Go's IsPrint agree: letters, marks, numbers, punctuation,
    # symbols and the ASCII space; Ollama drops everything else from a value.
    return all(c.isprintable() or c in allowed for c in text)


def comment(text: str) -> str:
    """A comment line: the text escaped onto one line (no CR or newline can end it early)."""
    return "# " + safe_line(text, 500)


def quoted(value: str, what: str) -> str:
    """``value`` as one Modelfile line's value, in quotes; ModelfileError if no quoting holds it."""
    if not value:
        raise ModelfileError(f"{what} is empty")
    if not _printable(value, "\t"):
        bad = next(c for c in value if not c.isprintable() and c != "\t")
        raise ModelfileError(
            f"{what} '{safe_line(value)}' holds {safe_line(bad)}, which Ollama's Modelfile parser "
            "drops or reads as a line break, so the value would change"
        )
    if TRIPLE in value:
        raise ModelfileError(f'{what} \'{safe_line(value)}\' holds """, which a Modelfile value cannot hold safely')
    single = f'"{value}"'  # only the two ends are read: quotes inside stay
    # A value starting with "" (or a lone ") would open a triple-quoted value in single quotes.
    return f"{TRIPLE}{value}{TRIPLE}" if single.startswith(TRIPLE) else single


def multiline(value: str, what: str) -> str:
    """``value`` (newlines allowed) in triple quotes; ModelfileError where it would end early."""
    if not _printable(value, "\t\n"):
        bad = next(c for c in value if not c.isprintable() and c not in "\t\n")
        raise ModelfileError(
            f"{what} holds {safe_line(bad)}, which Ollama's Modelfile parser drops or reads as a line break"
        )
    if TRIPLE in value:
        raise ModelfileError(f'{what} holds """, which would end the Modelfile value early')
    return f"{TRIPLE}{value}{TRIPLE}"


def bare_or_quoted(value: str, what: str) -> str:
    """A FROM-style value: bare when plain, quoted when it holds spaces or quotes."""
    if value and _printable(value, "") and not any(c in value for c in ' "#') and value == value.strip():
        return value
    return quoted(value, what)
