"""The math probe: hard arithmetic "guess the integer" questions with partial credit.

Questions are generated from a seed, so no question file is shipped. Recipe, for
`generate_math_items(kind, seed)` with `rng = random.Random(f"rys-math:{kind}:{seed}")`
(Python's string seeding is stable across versions) and `d = rng.randint(lo, hi)` drawing a
digit count before each operand `rng.randrange(10**(d-1), 10**d)`:

search (16 items, ids math-s00..s15, answers truncated toward zero like the original set):
  s00-s03  square root of a 17-18-digit number
  s04-s07  cube root of a 17-19-digit number
  s08-s11  a times b, both 14-digit numbers
  s12, s14 square root of a 10-12-digit number, divided by k (k in 11..49)
  s13, s15 cube root of a 12-13-digit number, multiplied by k (k in 11..49)

validation (120 items, ids math-v000..v119, answers rounded to nearest):
  v000-v059 square root of a 9-10-digit number
  v060-v089 a times b, both 6-7-digit numbers
  v090-v119 cube root of a 12-13-digit number

All roots are exact integer arithmetic (math.isqrt, Newton's method for cube roots); no float
ever touches a big number. Scoring (`partial_credit`) is the original scanner's: strip thinking,
take every run of digits as a candidate, keep the best `digit_score`. The prompt wording is this
project's own. Left out: chain-of-thought prompts, tool use, negative or fractional answers.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from ..errors import ProbeError
from .thinking import strip_think

SYSTEM_PROMPT = (
    "You are an expert at mental arithmetic with an excellent feel for numbers. "
    "You always give your best estimate, even when you are not sure."
)
ANSWER_INSTRUCTION = (
    " Reply with your best guess as a single integer, digits only: no words, no commas, "
    "no scientific notation and no working."
)
MATH_KINDS = ("search", "validation")
# CPython refuses int() on longer digit strings by default; the original scored those 0.
_MAX_DIGITS = 4300
_NON_DIGITS = re.compile(r"\D+")


@dataclass(frozen=True, slots=True)
class MathQuestion:
    """One generated question: its id, the user message and the integer answer."""

    id: str
    user: str
    expected: int


def icbrt(n: int) -> int:
    """Return floor(cbrt(n)) for an integer n >= 0, exactly."""
    if n < 0:
        raise ValueError("icbrt needs n >= 0")
    if n < 2:
        return n
    # Start above the root; integer Newton steps then decrease monotonically to the floor.
    x = 1 << ((n.bit_length() + 2) // 3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x
        x = y


def round_sqrt(n: int) -> int:
    """Return sqrt(n) rounded to the nearest integer (never a tie for integers)."""
    r = math.isqrt(n)
    return r + 1 if 4 * n > (2 * r + 1) ** 2 else r


def round_cbrt(n: int) -> int:
    """Return cbrt(n) rounded to the nearest integer (never a tie for integers)."""
    r = icbrt(n)
    return r + 1 if 8 * n > (2 * r + 1) ** 3 else r


def _operand(rng: random.Random, lo_digits: int, hi_digits: int) -> int:
    d = rng.randint(lo_digits, hi_digits)
    return rng.randrange(10 ** (d - 1), 10**d)


def _numbered(prefix: str, pairs: list[tuple[str, int]]) -> tuple[MathQuestion, ...]:
    width = len(str(len(pairs) - 1))
    return tuple(
        MathQuestion(f"math-{prefix}{i:0{width}d}", text + ANSWER_INSTRUCTION, expected)
        for i, (text, expected) in enumerate(pairs)
    )


def _search_items(rng: random.Random) -> tuple[MathQuestion, ...]:
    items: list[tuple[str, int]] = []
    for _ in range(4):
        n = _operand(rng, 17, 18)
        items.append((f"What is the square root of {n}?", math.isqrt(n)))
    for _ in range(4):
        n = _operand(rng, 17, 19)
        items.append((f"What is the cube root of {n}?", icbrt(n)))
    for _ in range(4):
        a, b = _operand(rng, 14, 14), _operand(rng, 14, 14)
        items.append((f"What is {a} multiplied by {b}?", a * b))
    for i in range(4):
        k = rng.randint(11, 49)
        if i % 2 == 0:
            n = _operand(rng, 10, 12)
            # floor(floor(sqrt n) / k) == floor(sqrt(n) / k) for a positive integer k.
            text = f"What is the square root of {n}, divided by {k}?"
            items.append((text, math.isqrt(n) // k))
        else:
            n = _operand(rng, 12, 13)
            # floor(cbrt(n) * k) == floor(cbrt(n * k**3)).
            text = f"What is the cube root of {n}, multiplied by {k}?"
            items.append((text, icbrt(n * k**3)))
    return _numbered("s", items)


def _validation_items(rng: random.Random) -> tuple[MathQuestion, ...]:
    items: list[tuple[str, int]] = []
    for _ in range(60):
        n = _operand(rng, 9, 10)
        items.append((f"What is the square root of {n}?", round_sqrt(n)))
    for _ in range(30):
        a, b = _operand(rng, 6, 7), _operand(rng, 6, 7)
        items.append((f"What is {a} multiplied by {b}?", a * b))
    for _ in range(30):
        n = _operand(rng, 12, 13)
        items.append((f"What is the cube root of {n}?", round_cbrt(n)))
    return _numbered("v", items)


def generate_math_items(kind: str, seed: int) -> tuple[MathQuestion, ...]:
    """Generate the 16-item search set or the 120-item validation set for a seed."""
    rng = random.Random(f"rys-math:{kind}:{seed}")
    if kind == "search":
        return _search_items(rng)
    if kind == "validation":
        return _validation_items(rng)
    raise ProbeError(f"unknown math set {kind!r}; use one of: search, validation, none")


def digit_score(actual: str, estimate: str) -> float:
    """Score digit strings like the original: left-aligned relative error times a length penalty."""
    if len(actual) > _MAX_DIGITS or len(estimate) > _MAX_DIGITS:
        return 0.0
    try:
        a, e = str(int(actual)), str(int(estimate))
    except ValueError:
        return 0.0
    n_long = max(len(a), len(e))
    n_padded = n_long - min(len(a), len(e))
    big_a, big_e = int(a.ljust(n_long, "0")), int(e.ljust(n_long, "0"))
    top = max(big_a, big_e)
    if top == 0:
        return 0.0
    score = (1 - abs(big_a - big_e) / top) * (1 - n_padded / n_long)
    return min(max(score, 0.0), 1.0)


def find_integers(answer: str) -> list[str]:
    """Return the digit runs of an answer after thinking is stripped (raw text as a fallback)."""
    for text in (strip_think(answer), answer):
        found = [part for part in _NON_DIGITS.split(text) if part]
        if found:
            return found
    return []


def partial_credit(answer: str, expected: int) -> float:
    """Score one answer text against the expected integer (best candidate, 0 if none)."""
    actual = str(expected)
    return max((digit_score(actual, c) for c in find_integers(answer)), default=0.0)
