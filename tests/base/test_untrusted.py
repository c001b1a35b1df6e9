"""The sanitizer for text from files: each form, worked examples, and properties over all of Unicode."""

from __future__ import annotations

import csv
import io
import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rys_gguf.untrusted import (
    MAX_SHOWN,
    has_hidden,
    safe_block,
    safe_code,
    safe_csv,
    safe_json,
    safe_line,
    safe_markdown,
    shorten,
)

OSC_TITLE = "\x1b]0;pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4K\x07"
CSI = "\x1b[31m"
C1_CSI = "\x9b31m"
BIDI = "\u202eexe.txt\u202c"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Gemma 3 270m", "Gemma 3 270m"),
        ("Δ ünïcödé 模型 🙂", "Δ ünïcödé 模型 🙂"),  # printable text is left alone
        (OSC_TITLE, "\\x1b]0;pwned\\x07"),
        (OSC_CLIPBOARD, "\\x1b]52;c;cm0gLXJmIH4K\\x07"),
        (CSI + "red", "\\x1b[31mred"),
        (C1_CSI, "\\x9b31m"),
        ("a\x7fb\x85c", "a\\x7fb\\x85c"),  # DEL and NEL
        (BIDI, "\\u202eexe.txt\\u202c"),
        ("\u2066x\u2069\u200f\u061c", "\\u2066x\\u2069\\u200f\\u061c"),  # isolates and marks
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("tag\U000e0041", "tag\\U000e0041"),  # invisible tag characters
        ("x\nSYSTEM pwned\r\ty", "x\\nSYSTEM pwned\\r\\ty"),
    ],
)
def test_safe_line(text: str, shown: str) -> None:
    assert safe_line(text) == shown


def test_safe_block_keeps_newlines_and_tabs() -> None:
    assert safe_block(f"line 1\n\tline 2{OSC_TITLE}\r") == "line 1\n\tline 2\\x1b]0;pwned\\x07\\r"


def test_long_values_are_shortened_with_a_marker() -> None:
    text = "a" * 500 + "END"
    shown = safe_line(text)
    assert len(shown) < MAX_SHOWN + 30 and shown.endswith("END") and "(203 chars cut)" in shown
    assert shorten("short", 10) == "short" and safe_line(text, None) == text
    # The cut happens after escaping: an escape is never split into a raw control byte.
    assert "\x1b" not in safe_line("\x1b" * 1000)


def test_safe_markdown_neutralises_markup_and_html() -> None:
    assert safe_markdown("a|b") == "a\\|b"
    assert safe_markdown("`x`") == "\\`x\\`"
    assert safe_markdown("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert safe_markdown("[click](http://x) **b** _i_ ![i](j)") == (
        "\\[click\\](http://x) \\*\\*b\\*\\* \\_i\\_ \\!\\[i\\](j)"
    )
    assert safe_markdown("&amp; $x$ # h") == "&amp;amp; \\$x\\$ \\# h"
    assert safe_markdown("x\n# heading") == "x\\\\n\\# heading"


@pytest.mark.parametrize(
    ("text", "span"),
    [("3,6", "`3,6`"), ("a`b", "a\\`b"), ("`x``", "\\`x\\`\\`"), ("a|b<i>", "a\\|b&lt;i&gt;"), ("x\n", "`x\\n`")],
)
def test_safe_code(text: str, span: str) -> None:
    assert safe_code(text) == span


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_safe_csv_stops_formulas(cell: str) -> None:
    out = safe_csv(cell)
    assert out.startswith("'") and not has_hidden(out)


def test_safe_csv_keeps_numbers_and_plain_text() -> None:
    assert safe_csv(-0.25) == -0.25 and safe_csv(None) is None and safe_csv("0,6") == "0,6"


def test_safe_json_is_json_with_the_same_data() -> None:
    data = {"name": f"{OSC_TITLE}{C1_CSI}{BIDI}\x7f模型🙂\U000e0041", "n": [1, 2.5, None]}
    for kw in ({}, {"indent": 2}):
        text = safe_json(data, **kw)
        assert json.loads(text) == data
        assert not has_hidden(text) and "模型🙂" in text


# Every code point of the categories the terminal must never receive raw.
HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


@given(st.text(st.characters(codec=None), max_size=200))
def test_no_form_lets_a_hidden_character_through(text: str) -> None:
    for form in (safe_line, safe_markdown, safe_code):
        assert not has_hidden(form(text)) and "\n" not in form(text)
    assert not has_hidden(safe_block(text))
    assert not has_hidden(str(safe_csv(text)))
    assert json.loads(safe_json(text)) == text and not has_hidden(safe_json(text))


def test_hidden_categories_cover_the_c1_range_and_bidi() -> None:
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]:
        assert unicodedata.category(chr(code)) in HIDDEN_CATEGORIES
        assert chr(code) not in safe_line(chr(code))


def test_csv_round_trip() -> None:
    buf = io.StringIO()
    csv.writer(buf).writerow([safe_csv("=cmd|' /C calc'!A0"), safe_csv(f"a{CSI}b")])
    (row,) = list(csv.reader(io.StringIO(buf.getvalue())))
    assert row == ["'=cmd|' /C calc'!A0", "a\\x1b[31mb"]
