"""The EQ probe: EQ-Bench v2 items (predict four emotion intensities, 0-10) and two scorers.

Items use the EQ-Bench v2 format: a JSON object of id -> {"prompt", "reference_answer",
"reference_answer_fullscale"}, the prompt stored with revision instructions. Prompts are sent
first-pass only, as EQ-Bench v2.1 does by default (`first_pass_prompt`).

Scorers (both strip thinking first):
- eqbench-v2 (`score_v2`): the official v2 parse rule and fullscale formula; an answer whose
  parsed names are not exactly the four reference emotions is unparseable (None).
- ng (`score_ng`): the original brain scanner's order-only parse with a confidence weight;
  unparseable answers score 0.5.

Left out: EQ-Bench's revision pass, retries at raised temperature, iterations, the legacy v1
(normalised) formula and the German/Polish parsers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ProbeError
from ..files import read_text
from .thinking import strip_think

N_EMOTIONS = 4
_EMOTION_NAME = re.compile(r"\w+")

# --- prompts ---------------------------------------------------------------------------------

_REVISION_SENTENCE = (
    " Then critique your answer by thinking it through step by step. Finally, give your revised scores."
)
_FIRST_PASS_HEADING = "First pass scores:\n"
_CRITIQUE = "Critique: <your critique here>"
_END = "[End of answer]"


def first_pass_prompt(prompt: str, keep_heading: bool = False) -> str:
    """Remove the revision instructions from a stored v2 prompt, as EQ-Bench v2.1 does."""
    if _CRITIQUE not in prompt or _END not in prompt:
        return prompt  # already a first-pass prompt
    prompt = prompt.replace(_REVISION_SENTENCE, "")
    if not keep_heading:
        prompt = prompt.replace(_FIRST_PASS_HEADING, "")
    prompt = prompt[: prompt.find(_CRITIQUE)] + "\n" + prompt[prompt.find(_END) :]
    return prompt + "\nYour answer:\n"


# --- eqbench-v2 scorer -----------------------------------------------------------------------

_V2_PAIR = re.compile(r"(\w+):\s+(\d+)")
_V2_ADJUST = 0.7477


def parse_v2(answer: str) -> dict[str, int]:
    """Parse `Name: <int>` pairs from the whole answer (later duplicates overwrite earlier)."""
    return {name: int(value) for name, value in _V2_PAIR.findall(strip_think(answer))}


def scale_difference(d: float) -> float:
    """EQ-Bench v2's penalty for one emotion off by d: 0, then an S-curve up to 5, then d."""
    if d == 0:
        return 0.0
    if d <= 5:
        return 6.5 / (1 + math.exp(-1.2 * (d - 4)))
    return float(d)


def _emotions(reference: Mapping[str, Any]) -> list[tuple[str, float]]:
    return [(str(reference[f"emotion{i}"]), float(reference[f"emotion{i}_score"])) for i in range(1, N_EMOTIONS + 1)]


def score_v2(answer: str, reference: Mapping[str, Any]) -> float | None:
    """Score an answer against `reference_answer_fullscale`: 10 best, ~0 random, None unparsed."""
    user = parse_v2(answer)
    ref = dict(_emotions(reference))
    if len(user) != N_EMOTIONS or any(name not in ref for name in user):
        return None
    tally = sum(scale_difference(abs(value - ref[name])) for name, value in user.items())
    return 10 - _V2_ADJUST * tally


# --- ng scorer (the original scanner's) ------------------------------------------------------

_NG_PAIR = re.compile(r"(?:\d\.\s*)?[A-Za-z]+:\s*(\d+(?:\.\d+)?)")
_NG_NUMBER = re.compile(r"\b(\d+(?:\.\d+)?)\b")
_NG_DEFAULT = 5.0


def _ng_section(text: str, heading: str, stop: str) -> list[float] | None:
    start = text.find(heading)
    if start < 0:
        return None
    body = text[start + len(heading) :]
    if stop in body:
        body = body[: body.index(stop)]
    values = [float(v) for v in _NG_PAIR.findall(body)[:N_EMOTIONS]]
    values = [v for v in values if 0 <= v <= 10]
    if len(values) < 3:
        return None
    return values + [_NG_DEFAULT] * (N_EMOTIONS - len(values))


def parse_ng(answer: str) -> tuple[list[float], float]:
    """Return four predicted intensities (in prompt order) and a confidence in [0, 1]."""
    text = strip_think(answer)
    first = _ng_section(text, "First pass scores:", "Critique:")
    revised = _ng_section(text, "Revised scores:", _END)
    if first is not None and revised is not None:
        return [(f + r) / 2 for f, r in zip(first, revised, strict=True)], 1.0
    if revised is not None:
        return revised, 0.9
    if first is not None:
        return first, 0.8
    numbers = [float(v) for v in _NG_NUMBER.findall(text)]
    numbers = [v for v in numbers if 0 <= v <= 10][:N_EMOTIONS]
    if len(numbers) == N_EMOTIONS:
        return numbers, 0.5
    padded = numbers + [_NG_DEFAULT] * (N_EMOTIONS - len(numbers))
    return padded, len(numbers) / 8


def score_ng(answer: str, reference: Mapping[str, Any]) -> tuple[float, float]:
    """Return (score in [0, 1], confidence); low confidence pulls the score toward 0.5."""
    predicted, confidence = parse_ng(answer)
    ref = [score for _, score in _emotions(reference)]
    raw = max(0.0, 1 - sum(abs(p - r) for p, r in zip(predicted, ref, strict=True)) / 40)
    return confidence * raw + (1 - confidence) * 0.5, confidence


# --- item files ------------------------------------------------------------------------------


def _check_answer(record: Mapping[str, Any], key: str, where: str) -> None:
    answer = record.get(key)
    if not isinstance(answer, dict):
        raise ProbeError(f"{where}: '{key}' is missing or not an object; see the EQ-Bench v2 format")
    names = []
    for i in range(1, N_EMOTIONS + 1):
        name = answer.get(f"emotion{i}")
        if not isinstance(name, str) or not _EMOTION_NAME.fullmatch(name):
            raise ProbeError(f"{where}: {key}.emotion{i} must be a single word, got {name!r}")
        names.append(name)
        raw = answer.get(f"emotion{i}_score")
        try:
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError
            value = float(raw)
        except ValueError:
            raise ProbeError(f"{where}: {key}.emotion{i}_score must be a number 0-10, got {raw!r}") from None
        if not 0 <= value <= 10:
            raise ProbeError(f"{where}: {key}.emotion{i}_score={raw!r} is outside 0-10")
    if len(set(names)) != N_EMOTIONS:
        raise ProbeError(f"{where}: {key} repeats an emotion name ({', '.join(names)})")


def parse_eq_items(data: Any, source: str) -> list[tuple[str, dict[str, Any]]]:
    """Validate decoded EQ-Bench JSON and return (item id, record) pairs in file order."""
    if not isinstance(data, dict) or not data:
        raise ProbeError(f"{source}: expected a non-empty JSON object of id -> item (EQ-Bench v2)")
    items: list[tuple[str, dict[str, Any]]] = []
    for key, record in data.items():
        where = f"{source}: item {key!r}"
        if not isinstance(record, dict):
            raise ProbeError(f"{where} is not an object")
        prompt = record.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ProbeError(f"{where}: 'prompt' is missing or empty")
        _check_answer(record, "reference_answer_fullscale", where)
        if "reference_answer" in record:
            _check_answer(record, "reference_answer", where)
        items.append((str(key), record))
    return items


def read_eq_items(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Read and validate an EQ-Bench-format JSON file."""
    text = read_text(path, "EQ set")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProbeError(f"EQ set {path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    return parse_eq_items(data, f"EQ set {path}")
