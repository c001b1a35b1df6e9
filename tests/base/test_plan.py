"""Layer plans: the grammar on worked examples, and its errors."""

import pytest

from rys_gguf.errors import PlanError
from rys_gguf.plan import block_grid, canonical_spec, expand_blocks, parse_plan, single_block


@pytest.mark.parametrize(
    ("spec", "n", "path"),
    [
        ("2,7", 9, [0, 1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 7, 8]),  # the original author's example
        ("3,6;4,6", 8, [0, 1, 2, 3, 4, 5, 3, 4, 5, 4, 5, 6, 7]),  # the grammar's multi-block example
        ("0,0", 4, [0, 1, 2, 3]),
        ("0,4", 4, [0, 1, 2, 3, 0, 1, 2, 3]),  # the whole stack twice
        ("3,4", 4, [0, 1, 2, 3, 3]),
        (" 45 , 52 ", 80, [*range(52), *range(45, 80)]),  # RYS-XLarge: 80 -> 87
        ("(1,3)", 4, [0, 1, 2, 1, 2, 3]),
        ("blocks:1,2;1,2", 3, [0, 1, 1, 1, 2]),
        ("layers:0,1,1,2", 3, [0, 1, 1, 2]),
    ],
)
def test_worked_examples(spec: str, n: int, path: list[int]) -> None:
    assert list(parse_plan(spec, n).path) == path


def test_rys_xlarge_size() -> None:
    plan = parse_plan("45,52", 80)
    assert len(plan.path) == 87 and plan.n_extra == 7 and plan.spec == "45,52"


def test_identity() -> None:
    assert parse_plan("0,0", 5).is_identity
    assert parse_plan("layers:0,1,2,3,4", 5).is_identity
    assert not parse_plan("1,2", 5).is_identity


@pytest.mark.parametrize(
    ("spec", "n", "message"),
    [
        ("6,19", 18, "j must be <= 18 (the model has 18 layers)"),
        ("7,7", 18, "i must be < j"),
        ("9,3", 18, "i must be < j"),
        ("-1,3", 18, "i must be >= 0"),
        ("3", 18, "is not a block"),
        ("a,b", 18, "is not understood"),
        ("", 18, "is empty"),
        ("layers:0,18", 18, "layer 18 does not exist"),
        ("layers:", 18, "explicit path is empty"),
        ("3,6;4,20", 8, "block 2 (4,20): j must be <= 8"),
    ],
)
def test_errors_say_what_is_valid(spec: str, n: int, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_plan(spec, n)


def test_later_block_goes_after_last_occurrence() -> None:
    # (2,4) inserts 2,3 right after the LAST 3 of 0..5,2..5, not after the first one.
    assert expand_blocks([(2, 6), (2, 4)], 6) == [0, 1, 2, 3, 4, 5, 2, 3, 2, 3, 4, 5]


def test_grid_counts() -> None:
    assert len(list(block_grid(80))) == 3240  # + the baseline = 3,241 as in the original sweep
    assert len(list(block_grid(8, min_block=2, max_block=3))) == 7 + 6
    assert all(2 <= i < 4 for i, _ in block_grid(8, starts=(2, 4)))


@pytest.mark.parametrize("n", range(1, 9))
def test_single_block_finds_every_block_from_its_path(n: int) -> None:
    for i, j in [(0, 0), *block_grid(n)]:
        assert single_block(parse_plan(f"{i},{j}", n).path, n) == (i, j)


@pytest.mark.parametrize(
    ("path", "n"),
    [
        ([0, 1, 2], 4),  # a layer dropped
        ([0, 1, 1, 1, 2], 3),  # a layer three times
        ([1, 0, 2], 3),  # reordered
        ([0, 1, 2, 3, 2, 3, 4, 5, 4, 5], 6),  # two blocks
        ([0, 1, 2, 3, 4], 4),  # a layer the model does not have
        ([1, 2, 3, 1, 2, 3], 4),  # layer 0 missing
    ],
)
def test_single_block_is_none_for_other_paths(path: list[int], n: int) -> None:
    assert single_block(path, n) is None


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("4,8", "4,8"),
        ("4, 8", "4,8"),
        (" [4,8] ", "4,8"),
        ("(4, 8)", "4,8"),
        ("blocks:4,8", "4,8"),
        ("layers:" + ",".join(map(str, [*range(8), *range(4, 10)])), "4,8"),  # block 4,8's path
        ("layers:" + ",".join(map(str, range(10))), "0,0"),  # the unchanged model
        ("blocks: 3,6 ; 4,6", "3,6;4,6"),
        ("layers:0, 1,2", "layers:0,1,2"),  # not a block: the path, normalised
    ],
)
def test_one_key_per_layer_path(spec: str, key: str) -> None:
    assert canonical_spec(spec, 10) == key
    assert parse_plan(key, 10).path == parse_plan(spec, 10).path
