"""Math probe: partial-credit scoring on worked examples, exact roots, the seeded recipe."""

from __future__ import annotations

import math
import random
import re
from fractions import Fraction

import pytest

from rys_gguf.errors import ProbeError
from rys_gguf.probes import load_probe_set, strip_think
from rys_gguf.probes.math import (
    MathQuestion,
    digit_score,
    find_integers,
    generate_math_items,
    icbrt,
    partial_credit,
    round_cbrt,
    round_sqrt,
)

PRODUCT_28 = 84066123456789 * 84065987654321  # 7067101696665049102112635269

# Worked values of the original scanner's partial-credit score, computed by hand to 3 digits.
WORKED = [
    ("430245", 4302459, 0.857),
    ("4302459", 430245, 0.857),
    ("123356789", 123456789, 0.9992),
    ("9515480", 951548, 0.857),
    ("151548", 951548, 0.159),
    ("7" + "0" * 27, PRODUCT_28, 0.9905),
]


@pytest.mark.parametrize(("answer", "expected", "score"), WORKED)
def test_notes_worked_values(answer: str, expected: int, score: float) -> None:
    digits = len(str(score).split(".")[1])
    assert round(partial_credit(answer, expected), digits) == score


# (answer text, expected, exact score as a fraction of the formula's terms)
EXACT = [
    ("596252164", 596252164, Fraction(1)),
    ("430245", 4302459, (1 - Fraction(9, 4302459)) * Fraction(6, 7)),
    # Commas split the number: the best fragment is "596" -> 596000000, 6 padded digits of 9.
    ("596,252,164", 596252164, (1 - Fraction(252164, 596252164)) * Fraction(3, 9)),
    ("The answer is 596252165.", 596252164, 1 - Fraction(1, 596252165)),
    ("-596252164", 596252164, Fraction(1)),
    ("000596252164", 596252164, Fraction(1)),
    # "5.96e8" -> 5, 96, 8; "96" (960000000, 2 of 9 digits real) scores best.
    ("5.96e8", 596252164, (1 - Fraction(363747836, 960000000)) * Fraction(2, 9)),
    ("0", 5, Fraction(0)),
    ("0", 0, Fraction(0)),
    ("", 596252164, Fraction(0)),
    ("no idea, sorry", 596252164, Fraction(0)),
    ("Roughly 2000000 or 29105", 29105, Fraction(1)),
    ("<think>596252164</think>12", 596252164, (1 - Fraction(476252164, 596252164)) / 9 * 2),
    # Nothing left after stripping: the raw text is searched, like the original.
    ("<think>596252164</think>", 596252164, Fraction(1)),
    ("<think>still thinking about 596252164", 596252164, Fraction(1)),
]


@pytest.mark.parametrize(("answer", "expected", "score"), EXACT)
def test_partial_credit_table(answer: str, expected: int, score: Fraction) -> None:
    assert partial_credit(answer, expected) == pytest.approx(float(score), abs=1e-12)


def test_best_candidate_wins_and_order_does_not_matter() -> None:
    a = partial_credit("12 then 596252100", 596252164)
    b = partial_credit("596252100 then 12", 596252164)
    assert a == b == pytest.approx(1 - 64 / 596252164)


def test_digit_score_is_symmetric_and_bounded() -> None:
    rng = random.Random(7)
    for _ in range(500):
        a = str(rng.randrange(0, 10 ** rng.randint(1, 30)))
        e = str(rng.randrange(0, 10 ** rng.randint(1, 30)))
        s = digit_score(a, e)
        assert 0.0 <= s <= 1.0
        assert s == digit_score(e, a)


def test_huge_digit_runs_score_zero_without_crashing() -> None:
    assert partial_credit("9" * 5000, 999) == 0.0
    assert partial_credit("9" * 5000 + " 999", 999) == 1.0


def test_find_integers_reports_parse() -> None:
    assert find_integers("It is 12,5 maybe") == ["12", "5"]
    assert find_integers("<think>7</think>") == ["7"]
    assert find_integers("<think>7</think>eight") == ["7"]
    assert find_integers("nothing here") == []


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("<think>a</think>b", "b"),
        ("x<think>a</think>y<think>b</think>z", "xyz"),
        ("answer<think>unfinished", "answer"),
        ("prefilled thought</think>42", "42"),
        ("<think>\nmulti\nline\n</think>\n42", "\n42"),
        ("no tags", "no tags"),
    ],
)
def test_strip_think(text: str, stripped: str) -> None:
    assert strip_think(text) == stripped


def test_icbrt_small_exhaustive() -> None:
    r = 0
    for n in range(0, 30000):
        while (r + 1) ** 3 <= n:
            r += 1
        assert icbrt(n) == r


def test_icbrt_and_rounding_on_big_numbers() -> None:
    rng = random.Random(3)
    for _ in range(300):
        root = rng.randrange(1, 10**12)
        for n in (root**3 - 1, root**3, root**3 + 1, rng.randrange(10**30, 10**40)):
            r = icbrt(n)
            assert r**3 <= n < (r + 1) ** 3
    assert icbrt(10**57 - 1) == 10**19 - 1
    with pytest.raises(ValueError):
        icbrt(-1)


R = 10**9


@pytest.mark.parametrize(
    ("n", "rounded"),
    [
        (12, 3),  # 3.46
        (13, 4),  # 3.61
        (R**2 + R, R),  # R + 0.4999999998...
        (R**2 + R + 1, R + 1),  # R + 0.5000000003...
    ],
)
def test_round_sqrt(n: int, rounded: int) -> None:
    assert round_sqrt(n) == rounded


@pytest.mark.parametrize(
    ("n", "rounded"),
    [
        (42, 3),  # 3.476
        (43, 4),  # 3.503
        ((2 * R + 1) ** 3 // 8, R),  # just below R + 0.5
        ((2 * R + 1) ** 3 // 8 + 1, R + 1),  # just above R + 0.5
    ],
)
def test_round_cbrt(n: int, rounded: int) -> None:
    assert round_cbrt(n) == rounded


def _numbers(question: MathQuestion) -> list[int]:
    text = question.user.split("?")[0]
    return [int(x) for x in re.findall(r"\d+", text)]


def test_search_set_recipe() -> None:
    items = generate_math_items("search", 0)
    assert [q.id for q in items] == [f"math-s{i:02d}" for i in range(16)]
    for q in items[0:4]:
        (n,) = _numbers(q)
        assert "square root" in q.user and 17 <= len(str(n)) <= 18
        assert q.expected == math.isqrt(n) and len(str(q.expected)) == 9
    for q in items[4:8]:
        (n,) = _numbers(q)
        assert "cube root" in q.user and 17 <= len(str(n)) <= 19
        assert q.expected**3 <= n < (q.expected + 1) ** 3
    for q in items[8:12]:
        a, b = _numbers(q)
        assert "multiplied by" in q.user and len(str(a)) == len(str(b)) == 14
        assert q.expected == a * b
    for i, q in enumerate(items[12:16]):
        n, k = _numbers(q)
        assert 11 <= k <= 49
        if i % 2 == 0:
            assert "square root" in q.user and "divided by" in q.user
            assert 10 <= len(str(n)) <= 12
            # floor(sqrt(n) / k) checked with exact integers: (e*k)^2 <= n < ((e+1)*k)^2
            assert (q.expected * k) ** 2 <= n < ((q.expected + 1) * k) ** 2
        else:
            assert "cube root" in q.user and "multiplied by" in q.user
            assert 12 <= len(str(n)) <= 13
            # floor(cbrt(n) * k): e^3 <= n k^3 < (e+1)^3
            assert q.expected**3 <= n * k**3 < (q.expected + 1) ** 3


def test_validation_set_recipe() -> None:
    items = generate_math_items("validation", 0)
    assert len(items) == 120
    assert [q.id for q in items[:2]] == ["math-v000", "math-v001"]
    for q in items[:60]:
        (n,) = _numbers(q)
        assert "square root" in q.user and 9 <= len(str(n)) <= 10
        assert (2 * q.expected - 1) ** 2 < 4 * n < (2 * q.expected + 1) ** 2
    for q in items[60:90]:
        a, b = _numbers(q)
        assert 6 <= len(str(a)) <= 7 and 6 <= len(str(b)) <= 7 and q.expected == a * b
    for q in items[90:]:
        (n,) = _numbers(q)
        assert "cube root" in q.user and 12 <= len(str(n)) <= 13
        assert (2 * q.expected - 1) ** 3 < 8 * n < (2 * q.expected + 1) ** 3


def test_recipe_is_pinned_for_seed_zero() -> None:
    # Changing the generator changes every stored scan; this test makes that deliberate.
    search, validation = generate_math_items("search", 0), generate_math_items("validation", 0)
    assert search[0].user.startswith("What is the square root of 350771595376942526?")
    assert search[0].expected == 592259736
    assert search[8].expected == 7325508787751951819668716048
    assert validation[0].user.startswith("What is the square root of 847128249?")
    assert validation[0].expected == 29105
    assert validation[90].expected == 15466


def test_generation_is_deterministic_per_seed() -> None:
    assert generate_math_items("search", 5) == generate_math_items("search", 5)
    assert generate_math_items("search", 5) != generate_math_items("search", 6)
    assert generate_math_items("validation", 1) != generate_math_items("validation", 2)


def test_prompt_asks_for_a_bare_integer() -> None:
    for q in generate_math_items("search", 0):
        assert q.user.endswith("no scientific notation and no working.")
        assert not re.search(r"\d[,. _]\d", q.user)  # numbers without separators


def test_unknown_kind() -> None:
    with pytest.raises(ProbeError, match="unknown math set 'hard'"):
        generate_math_items("hard", 0)


def test_a_math_sample_is_spread_over_the_kinds() -> None:
    full = load_probe_set(math="validation", eq="none")
    sample = load_probe_set(math="validation", eq="none", n_math=12)
    ids = [item.id for item in sample.items]
    assert ids == [f"math-v{k:03d}" for k in range(0, 120, 10)]  # square roots, products and cube roots
    assert sample.description["math"] == "validation12" and sample.hash != full.hash
    assert load_probe_set(math="search", eq="none", n_math=16).hash == load_probe_set(math="search", eq="none").hash
    with pytest.raises(ProbeError, match="n_math=121 is out of range"):
        load_probe_set(math="validation", eq="none", n_math=121)
