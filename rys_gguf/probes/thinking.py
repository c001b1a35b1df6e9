"""Remove a reasoning model's thinking from an answer before the probes parse it.

Handles `<think>...</think>` blocks, a trailing unterminated `<think>...` (generation budget
ran out mid-thought) and an orphan `</think>` whose opening tag was part of the prompt. Other
reasoning markups (`<reasoning>`, harmony channels) are left alone.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_UNTERMINATED = re.compile(r"<think>.*\Z", re.DOTALL)
_CLOSE = "</think>"


def strip_think(text: str) -> str:
    """Return `text` without complete or unterminated think blocks."""
    text = _BLOCK.sub("", text)
    # Chat templates that open the think block themselves leave only the closing tag.
    if _CLOSE in text:
        text = text[text.rindex(_CLOSE) + len(_CLOSE) :]
    return _UNTERMINATED.sub("", text)
