"""Probe sets for the brain scan: items to send to a model and pure scoring of its answers.

``math`` generates hard arithmetic from a seed and scores it with the original partial credit,
``eq`` holds EQ-Bench v2 items and both scorers (``eqbench`` fetches and checks the EQ-Bench v2
file), ``thinking`` removes think blocks before scoring, and ``earlystop`` tells from a config's
first answers that it only produces garbage.

A `ProbeSet` holds math items (generated from a seed, see `probes.math`) and EQ items (EQ-Bench
v2 format, see `probes.eq`), the EQ scorer to use, and a hash that changes whenever the items,
the scorer or the scoring code version change, so stored results can be matched to their probes.

Per-item scores are on a 0..1 scale: math partial credit; eqbench-v2 q/10 (None when
unparseable, excluded from the mean, so q < 0 gives a score < 0); ng the original formula.
An answer counts as parsed when math finds an integer in it, eqbench-v2 reads exactly the four
reference emotions, and ng reads four scores (confidence >= 0.5). A probe with no items scores
0.0 with a parse rate of 1.0 (nothing failed to parse).

Left out on purpose: running a model (the runner does that; llama-cpp-python is never imported),
chat templates and `/no_think` prefixes, and deciding what a low parse rate means (the scan).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ProbeError
from . import eq as _eq
from . import math as _math
from .eqbench import SHA256 as EQBENCH_V2_SHA256
from .eqbench import fetch_eqbench_v2
from .thinking import strip_think

__all__ = [
    "EQ_SCORERS",
    "SCORING_VERSION",
    "ItemScore",
    "ProbeItem",
    "ProbeScores",
    "ProbeSet",
    "ProbeSpec",
    "fetch_eqbench_v2",
    "load_probe_set",
    "strip_think",
]

# Bump whenever prompts or scoring change in a way that makes old scores incomparable.
SCORING_VERSION = 1
EQ_SCORERS = ("eqbench-v2", "ng")
MATH_MAX_TOKENS = 64  # the original scanner's math budget
EQ_MAX_TOKENS = 80  # EQ-Bench v2.1 first-pass answers (lm-eval uses 80 too)
# The built-in EQ sets: "builtin" (16 items) is what scans search with; "validation" (49 other
# dialogues, written for this project in the same format) is held out for `validate` when
# EQ-Bench v2 cannot be had, so a validation never re-scores the items the search was tuned on.
BUILTIN_EQ = {"builtin": "eq_builtin.json", "validation": "eq_validation.json"}


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """Which probe sets to use: the arguments of `load_probe_set`, as a value."""

    math: str = "search"
    eq: str = "builtin"
    eq_scorer: str = "eqbench-v2"
    seed: int = 0
    n_eq: int | None = None
    n_math: int | None = None


@dataclass(frozen=True, slots=True)
class ProbeItem:
    """One prompt to send to the model, with what is needed to score its answer."""

    probe: str  # "math" or "eq"
    id: str  # stable, e.g. "math-s03", "eq-builtin-07", "eq-v2-12"
    system: str | None
    user: str
    max_tokens: int
    expected: int | None = None  # math answer
    reference: Mapping[str, Any] | None = None  # EQ: the item's full EQ-Bench record


@dataclass(frozen=True, slots=True)
class ItemScore:
    """The score of one answer; None means unparseable (eqbench-v2 leaves it out of the mean)."""

    score: float | None
    parsed: bool


@dataclass(frozen=True, slots=True)
class ProbeScores:
    """Aggregated scores of one model run over a probe set."""

    math: float
    eq: float
    math_parse_rate: float
    eq_parse_rate: float
    items: dict[str, list[float | None]]


def _item_json(item: ProbeItem) -> dict[str, Any]:
    return {
        "probe": item.probe,
        "id": item.id,
        "system": item.system,
        "user": item.user,
        "max_tokens": item.max_tokens,
        "expected": item.expected,
        "reference": dict(item.reference) if item.reference is not None else None,
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True, slots=True)
class ProbeSet:
    """Math and EQ items in the order they are sent, plus how EQ answers are scored."""

    items: tuple[ProbeItem, ...]
    eq_scorer: str
    description: dict[str, Any]

    @property
    def hash(self) -> str:
        """Return a sha256 of the items, the EQ scorer and the scoring version."""
        canonical = {
            "scoring_version": SCORING_VERSION,
            "eq_scorer": self.eq_scorer,
            "items": [_item_json(item) for item in self.items],
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    def score_item(self, item: ProbeItem, answer: str) -> ItemScore:
        """Score one answer text for one item."""
        if item.probe == "math" and item.expected is not None:
            parsed = bool(_math.find_integers(answer))
            return ItemScore(_math.partial_credit(answer, item.expected), parsed)
        if item.probe == "eq" and item.reference is not None:
            fullscale = item.reference["reference_answer_fullscale"]
            if self.eq_scorer == "eqbench-v2":
                q = _eq.score_v2(answer, fullscale)
                return ItemScore(None, False) if q is None else ItemScore(q / 10, True)
            # The original scanner scores against the sum-to-10 answer when there is one.
            reference = item.reference.get("reference_answer", fullscale)
            score, confidence = _eq.score_ng(answer, reference)
            return ItemScore(score, confidence >= 0.5)
        raise ProbeError(f"probe item {item.id!r} cannot be scored (probe {item.probe!r})")

    def score(self, answers: Sequence[str]) -> ProbeScores:
        """Score answers given in item order."""
        if len(answers) != len(self.items):
            raise ProbeError(f"got {len(answers)} answers for a probe set of {len(self.items)} items")
        results: dict[str, list[ItemScore]] = {"math": [], "eq": []}
        for item, answer in zip(self.items, answers, strict=True):
            scored = self.score_item(item, answer)
            results[item.probe].append(scored)

        def summary(probe: str) -> tuple[float, float]:
            scored = results[probe]
            values = [r.score for r in scored if r.score is not None]
            rate = sum(r.parsed for r in scored) / len(scored) if scored else 1.0
            return _mean(values), rate

        math_score, math_rate = summary("math")
        eq_score, eq_rate = summary("eq")
        return ProbeScores(
            math=math_score,
            eq=eq_score,
            math_parse_rate=math_rate,
            eq_parse_rate=eq_rate,
            items={probe: [r.score for r in scored] for probe, scored in results.items()},
        )


def _math_items(kind: str, seed: int, n_math: int | None) -> list[ProbeItem]:
    questions = _math.generate_math_items(kind, seed)
    if n_math is not None:
        if not 1 <= n_math <= len(questions):
            raise ProbeError(f"n_math={n_math} is out of range: the math set {kind} has {len(questions)} items")
        # Evenly spaced, not the first n: the sets list their kinds of question in blocks.
        questions = tuple(questions[k * len(questions) // n_math] for k in range(n_math))
    return [
        ProbeItem("math", q.id, _math.SYSTEM_PROMPT, q.user, MATH_MAX_TOKENS, expected=q.expected) for q in questions
    ]


def _eq_source(eq: str, cache_dir: Path | None) -> tuple[list[tuple[str, dict[str, Any]]], str, str]:
    """Return (records, id tag, description) for an EQ set name or path."""
    if eq in BUILTIN_EQ:
        source = resources.files("rys_gguf.probes").joinpath(f"data/{BUILTIN_EQ[eq]}")
        data = json.loads(source.read_text(encoding="utf-8"))
        records = _eq.parse_eq_items(data, f"built-in EQ set {eq}")
        return [(f"{int(key):02d}", rec) for key, rec in records], eq, eq
    if eq == "eqbench-v2":
        return _eq.read_eq_items(fetch_eqbench_v2(cache_dir)), "v2", "eqbench-v2"
    path = Path(eq).expanduser()
    if not path.is_file():
        raise ProbeError(f"EQ set {eq!r} is not 'builtin', 'validation', 'eqbench-v2', 'none' or an existing JSON file")
    records = _eq.read_eq_items(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest == EQBENCH_V2_SHA256:
        return records, "v2", "eqbench-v2"
    return records, "file", f"file:{path.name}"


def _eq_items(eq: str, eq_scorer: str, n_eq: int | None, cache_dir: Path | None) -> tuple[list[ProbeItem], str]:
    records, tag, label = _eq_source(eq, cache_dir)
    if n_eq is not None:
        if not 1 <= n_eq <= len(records):
            raise ProbeError(f"n_eq={n_eq} is out of range: the EQ set {label} has {len(records)} items")
        records = records[:n_eq]
    keep_heading = eq_scorer == "ng"  # the original scanner's parser looks for this heading
    items = [
        ProbeItem(
            "eq",
            f"eq-{tag}-{key}",
            None,
            _eq.first_pass_prompt(record["prompt"], keep_heading=keep_heading),
            EQ_MAX_TOKENS,
            reference=record,
        )
        for key, record in records
    ]
    if tag in BUILTIN_EQ:
        label = f"{label}{len(items)}"
    elif tag == "v2":
        label = f"{label}-{len(items)}"
    return items, label


def load_probe_set(
    math: str = "search",
    eq: str = "builtin",
    eq_scorer: str = "eqbench-v2",
    seed: int = 0,
    n_eq: int | None = None,
    cache_dir: Path | None = None,
    n_math: int | None = None,
) -> ProbeSet:
    """Build a probe set.

    Args:
        math: "search" (16 items), "validation" (120 items) or "none".
        eq: "builtin" (16 items), "validation" (49 held-out items), "eqbench-v2" (downloaded once,
            cached), a path to an EQ-Bench-format JSON file, or "none".
        eq_scorer: "eqbench-v2" (official v2 formula) or "ng" (the original scanner's).
        seed: seed of the generated math questions.
        n_eq: keep only the first n EQ items.
        n_math: keep n math items, evenly spaced over the set (a smaller sample of each kind).
        cache_dir: where the EQ-Bench v2 file is cached (default: ``files.cache_dir()``).

    Raises:
        ProbeError: unknown set names, unreadable or malformed EQ files, a failed download.
    """
    if eq_scorer not in EQ_SCORERS:
        raise ProbeError(f"unknown EQ scorer {eq_scorer!r}; use one of: {', '.join(EQ_SCORERS)}")
    if math == "none" and eq == "none":
        raise ProbeError("math='none' and eq='none' leave nothing to probe; enable one of them")
    math_items = [] if math == "none" else _math_items(math, seed, n_math)
    eq_items, eq_label = ([], "none") if eq == "none" else _eq_items(eq, eq_scorer, n_eq, cache_dir)
    description: dict[str, Any] = {
        "math": "none" if math == "none" else f"{math}{len(math_items)}",
        "eq": eq_label,
        "eq_scorer": eq_scorer,
        "n_math": len(math_items),
        "n_eq": len(eq_items),
        "seed": seed,
    }
    return ProbeSet(tuple(math_items + eq_items), eq_scorer, description)
