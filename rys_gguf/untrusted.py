"""Text that came from a file, made safe for the place it is shown or written (pure).

A GGUF's strings (general.name, the architecture, the chat template, token texts), a sweep
folder's recorded model path and config strings, a converter's error line: all of it is written
by whoever made the file. Shown raw, it can drive a terminal (``ESC ] 52`` writes the clipboard,
``ESC ] 0`` sets the window title, U+009B is a one-byte CSI), reorder what the reader sees
(bidi overrides) or break out of its line. Each form here is for one place:

- ``safe_line``: the terminal, one line. Control characters (C0 with tab, CR and newline, DEL,
  C1), format characters (bidi overrides and isolates, zero-width characters, BOM, tag
  characters), surrogates and line/paragraph separators become visible escapes like ``\\x1b`` or
  ``\\u202e``; a very long value is shortened in its middle with a marker saying how much is cut.
- ``safe_block``: the terminal, several lines (a generated sample): the same, keeping tab and newline.
- ``safe_markdown`` / ``safe_code``: report.md text and code spans (Markdown and HTML inert).
- ``safe_csv``: a CSV cell a spreadsheet will not run as a formula.
- ``safe_json``: JSON whose invisible characters are ``\\u`` escapes (the data stays exact).

Left out: anything about meaning (a name may still lie); callers choose the form for their place.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_SHOWN = 300  # characters of one value on a terminal line
MAX_MESSAGE = 2000  # characters of a whole error message

# Cc: C0, DEL, C1; Cf: bidi controls, zero-width and tag characters, BOM; Cs: lone surrogates;
# Zl/Zp: U+2028/U+2029, which some viewers treat as line breaks.
_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_CUT = "…({} chars cut)…"
# What can start markup in CommonMark/GFM inline text: escaped with a backslash. Parentheses
# need nothing once brackets are escaped (no link can form); <, > and & become entities.
_MARKDOWN_RE = re.compile(r"([\\`*_\[\]#!|~$^])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_hidden(ch: str) -> bool:
    """Whether ``ch`` is a character a terminal or viewer would act on or not show."""
    return unicodedata.category(ch) in _HIDDEN


def escape_char(ch: str) -> str:
    """``\\x1b``, ``\\u202e``, ``\\U000e0041``: the escape Python's repr would write."""
    code = ord(ch)
    if code < 0x100:
        return {"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(ch, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(text: str, keep: str) -> str:
    if (text.isascii() and text.isprintable()) or not any(is_hidden(c) for c in text):
        return text  # the common case: nothing to do
    return "".join(escape_char(c) if is_hidden(c) and c not in keep else c for c in text)


def shorten(text: str, limit: int | None) -> str:
    """``text`` cut in its middle to about ``limit`` characters, with a marker (None: no limit)."""
    if limit is None or len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return text[:head] + _CUT.format(len(text) - head - tail) + text[len(text) - tail :]


def safe_line(value: object, limit: int | None = MAX_SHOWN) -> str:
    """One terminal line: hidden characters escaped (newlines too), long values shortened."""
    return shorten(_escape(str(value), ""), limit)


def safe_block(value: object, limit: int | None = None) -> str:
    """Terminal text of several lines: like ``safe_line`` but tab and newline stay."""
    return shorten(_escape(str(value), "\t\n"), limit)


def safe_markdown(value: object, limit: int | None = MAX_SHOWN) -> str:
    """Inline Markdown text (a heading, a table cell): one line, no markup, no HTML.

    Markdown metacharacters get a backslash (``|`` included, so a table cell stays one cell);
    ``<``, ``>`` and ``&`` become entities, which both Markdown and HTML show as text.
    """
    text = safe_line(value, limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_RE.sub(r"\\\1", text)


def safe_code(value: object, limit: int | None = MAX_SHOWN) -> str:
    """``value`` as a Markdown code span, or as escaped text when a code span could not hold it.

    Code spans show their content literally in CommonMark, but renderers differ on HTML inside
    them and GFM splits table cells at ``|`` even there; a value holding a backtick, ``|``, ``<``,
    ``>`` or ``&`` is therefore written as ``safe_markdown`` text instead.
    """
    text = safe_line(value, limit)
    if any(c in text for c in "`|<>&"):
        return safe_markdown(text, None)
    return f"`{text}`"


def safe_csv(value: Any) -> Any:
    """A CSV cell: text is one line and never starts like a formula (a leading ' stops it)."""
    if not isinstance(value, str):
        return value  # numbers stay numbers (a negative delta is not a formula)
    text = safe_line(value, None)
    return "'" + text if value.startswith(_FORMULA_START) or text.startswith(_FORMULA_START) else text


def safe_json(data: Any, **dumps_args: Any) -> str:
    """``json.dumps`` (non-ASCII kept) with every hidden character written as a ``\\u`` escape.

    JSON itself escapes C0 inside strings but not DEL, C1 or bidi controls; outside strings it
    writes only spaces and newlines, so escaping the rest keeps the JSON valid and its data exact.
    """
    import json  # the command line imports this module at start: keep that light

    text = json.dumps(data, ensure_ascii=False, **dumps_args)
    return "".join(_json_escape(c) if is_hidden(c) and c != "\n" else c for c in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def has_hidden(text: str) -> bool:
    """Whether ``text`` holds any character ``safe_line`` would escape (tab and newline aside)."""
    return any(is_hidden(c) and c not in "\t\n" for c in text)
