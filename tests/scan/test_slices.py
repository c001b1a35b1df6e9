"""Grid slices: every config runs on exactly one machine, the load is balanced, and bad
``--slice`` values get a one-line error."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable

import pytest

from rys_gguf.errors import ScanError
from rys_gguf.plan import block_grid, parse_plan
from rys_gguf.scan.slices import assign_slices, grid_slice, parse_slice


def grid(n_layers: int) -> list[str]:
    return ["0,0"] + [f"{i},{j}" for i, j in block_grid(n_layers)]


def path_length(n_layers: int) -> Callable[[str], int]:
    return functools.cache(lambda config: len(parse_plan(config, n_layers).path))


@pytest.mark.parametrize(("n_layers", "n"), [(8, 1), (8, 3), (18, 4), (32, 7), (80, 16)])
def test_slices_cover_the_grid_exactly_once_and_balance(n_layers: int, n: int) -> None:
    configs = grid(n_layers)
    cost = path_length(n_layers)
    slices = [grid_slice(configs, cost, k, n) for k in range(1, n + 1)]
    seen = Counter(c for s in slices for c in s)
    assert set(seen) == set(configs) and set(seen.values()) == {1}
    for s in slices:  # each slice keeps the grid order
        assert s == sorted(s, key=configs.index)
    loads = [sum(cost(c) for c in s) for s in slices]
    mean = sum(loads) / n
    # LPT's guarantee: the busiest machine exceeds the mean by less than one config's cost.
    assert max(loads) < mean + max(cost(c) for c in configs)
    assert max(loads) / mean < (1.01 if len(configs) >= 100 * n else 1.05)


def test_longer_paths_count_more() -> None:
    # Costs 10, 1, 1, ..., 1 (ten ones) over two slices: the long one is balanced by ones.
    configs = ["big"] + [f"s{k}" for k in range(10)]
    owner = assign_slices(configs, lambda c: 10 if c == "big" else 1, 2)
    big_shard = owner[0]
    assert owner.count(big_shard) == 1  # the 10 alone on one machine, the ten 1s on the other


def test_assignment_is_deterministic() -> None:
    configs = grid(24)
    cost = path_length(24)
    first = [grid_slice(configs, cost, k, 5) for k in range(1, 6)]
    again = [grid_slice(list(configs), cost, k, 5) for k in range(1, 6)]
    assert first == again


def test_more_slices_than_configs() -> None:
    slices = [grid_slice(["0,0", "1,2"], lambda c: 3, k, 4) for k in range(1, 5)]
    assert sorted(len(s) for s in slices) == [0, 0, 1, 1]


@pytest.mark.parametrize(("text", "expected"), [("1/4", (1, 4)), (" 4/4 ", (4, 4)), ("2 / 3", (2, 3)), ("1/1", (1, 1))])
def test_parse_slice(text: str, expected: tuple[int, int]) -> None:
    assert parse_slice(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "2", "a/b", "1/2/3", "-1/4", ""])
def test_parse_slice_rejects(text: str) -> None:
    with pytest.raises(ScanError, match=r"expected k/n with 1 <= k <= n") as err:
        parse_slice(text)
    assert "\n" not in str(err.value)


def test_grid_slice_rejects_bad_k() -> None:
    with pytest.raises(ScanError):
        grid_slice(["0,0"], lambda c: 1, 3, 2)
