"""Search strategies on synthetic landscapes: they find the peak, are deterministic, resume, and the
replay benchmark answers only what a strategy asks for."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.landscapes import make_landscape, partial, recorded_sweeps, synthetic_sweep, write_sweep
from rys_gguf.errors import OptionError, ScanError
from rys_gguf.report.replay import ReplayOptions, format_replay, load_recorded, plan_runs, replay, replay_one
from rys_gguf.search.strategies import (
    REPLAY_STRATEGIES,
    RoundState,
    Search,
    SearchParams,
    _likeliest_top,
    budget_count,
    parse_budget,
    top_count,
)
from rys_gguf.search.surrogate import Surrogate, spearman
from rys_gguf.sweepfolder.metric import metric_values


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three landscapes with one clear peak and a little noise, as complete sweep folders."""
    root = tmp_path_factory.mktemp("landscapes")
    return [write_sweep(root / f"s{seed}", make_landscape(20, seed, noise=0.01, n_bumps=1)) for seed in (1, 2, 3)]


@pytest.mark.parametrize(("strategy", "share"), [("grid", 1.0), ("random", 0.5), ("coarse", 0.25), ("adaptive", 0.2)])
def test_each_strategy_finds_the_peak_within_its_budget(sweeps: list[Path], strategy: str, share: float) -> None:
    for folder in sweeps:
        sweep = load_recorded(folder)
        n = len(sweep.universe)
        for seed in range(3):
            pick, asked = replay_one(sweep, strategy, budget_count(share, n), seed)
            assert len(asked) <= budget_count(share, n)
            assert sweep.ranks[pick] <= max(3, round(0.03 * n)), (folder.name, strategy, seed, sweep.ranks[pick])


def test_same_seed_same_sequence(sweeps: list[Path]) -> None:
    sweep = load_recorded(sweeps[0])
    for strategy in REPLAY_STRATEGIES:
        first = replay_one(sweep, strategy, 30, seed=5)
        assert replay_one(sweep, strategy, 30, seed=5) == first
        if strategy in ("random", "adaptive", "coarse"):
            assert replay_one(sweep, strategy, 30, seed=6)[1] != first[1]


@pytest.mark.parametrize("strategy", ["adaptive", "coarse"])
def test_resume_mid_search_reaches_the_same_final_set(sweeps: list[Path], strategy: str) -> None:
    """A fresh Search fed what a killed scan had recorded (part of a round included) asks for the rest
    and ends with the same configs and the same picks as the run that was never interrupted."""
    sweep = load_recorded(sweeps[1])
    budget = 40
    pick, asked = replay_one(sweep, strategy, budget, seed=3)
    for cut in (1, 9, 17, 26, 39):
        known = {c: sweep.outcomes[c] for c in asked[:cut]}  # the rows that reached results.jsonl
        search = Search(strategy, sweep.universe, sweep.n_layers, budget, seed=3)
        while batch := search.next_batch(known):
            assert not set(batch) & set(known)
            known.update({c: sweep.outcomes[c] for c in batch})
        assert sorted(known) == sorted(asked)
        assert search.ranking(known)[0][0] == pick


def test_replay_never_answers_an_unrequested_config(sweeps: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = load_recorded(sweeps[2])
    requested: list[tuple[int, int]] = []
    next_batch = Search.next_batch

    def spy(self: Search, known: dict[tuple[int, int], object]) -> list[tuple[int, int]]:
        batch = next_batch(self, known)  # type: ignore[arg-type]
        requested.extend(batch)
        return batch

    monkeypatch.setattr(Search, "next_batch", spy)
    for strategy in REPLAY_STRATEGIES:
        requested.clear()
        answered: list[tuple[int, int]] = []

        def answer(cell: tuple[int, int], answered: list[tuple[int, int]] = answered) -> object:
            assert cell in requested and cell not in answered  # asked for, and only once
            answered.append(cell)
            return sweep.outcomes[cell]

        _, asked = replay_one(sweep, strategy, 25, 1, answer=answer)  # type: ignore[arg-type]
        assert answered == requested == asked and len(asked) == 25


def test_replay_table_and_json_schema(sweeps: list[Path]) -> None:
    table = replay(sweeps[0], ReplayOptions(budgets=(0.05, 0.1), seeds=2))
    data = json.loads(json.dumps(table.as_json()))
    assert set(data) == {"n_layers", "n_configs", "n_missing", "n_top", "metric", "top_fraction", "results"}
    assert data["n_configs"] == 210 and data["metric"] == "z" and data["top_fraction"] == 0.02
    assert data["n_layers"] == 20 and data["n_missing"] == 0 and data["n_top"] == 5
    runs = [(r["strategy"], r["budget"]) for r in data["results"]]
    assert runs == plan_runs(REPLAY_STRATEGIES, (0.05, 0.1))
    assert ("random", 0.2) in runs and ("adaptive", 0.2) not in runs  # random also at twice each budget
    for r in data["results"]:
        assert set(r) == {
            "strategy", "budget", "n_evaluations", "seeds", "top_hit_rate", "recall", "recall_10", "mean_percentile"
        }  # fmt: skip
        assert r["seeds"] == 2 and 0 <= r["top_hit_rate"] <= 1 and 0 <= r["mean_percentile"] <= 100
        assert 0 <= r["recall"] <= r["recall_10"] <= 1  # the best 10 hold at least what the best 5 (top 2 %) hold
        assert r["n_evaluations"] == budget_count(r["budget"], 210)


def _rewrite(folder: Path, keep: int | None = None, edit: dict[str, object] | None = None, extra: str = "") -> None:
    lines = (folder / "results.jsonl").read_text().splitlines()
    if keep is not None:
        lines = lines[:keep]
    if edit:
        row = json.loads(lines[5])
        row.update(edit)
        lines[5] = json.dumps(row)
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n" + extra)


def test_replay_refuses_mixed_folders(tmp_path: Path) -> None:
    land = make_landscape(8, 0)
    cases = [
        ({"edit": {"probe_set_hash": "b" * 64}}, "mixed folder"),
        ({"extra": json.dumps({"config": "1,3;2,3", "status": "ok", "math": 0.5, "eq": 0.5}) + "\n"}, "mixed folder"),
        ({"keep": 2}, "incomplete: 1 config"),  # the baseline and one config: no sweep to replay
    ]
    for k, (change, message) in enumerate(cases):
        folder = write_sweep(tmp_path / f"c{k}", land)
        _rewrite(folder, **change)  # type: ignore[arg-type]
        with pytest.raises(ScanError, match=message):
            load_recorded(folder)


def test_replay_of_a_recording_with_holes(tmp_path: Path) -> None:
    """Configs never measured are not in the universe (and counted missing); failed and
    early-stopped ones are, without a score, as a scan meets them; no search asks for a hole."""
    land = make_landscape(12, 0, noise=0.01, n_bumps=1)
    hole = {c for c in land.measured if c[0] >= 8}  # a region never scanned
    folder = write_sweep(tmp_path / "holes", land, sorted(set(land.measured) - hole))
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    for row in rows:
        if row["config"] in ("4,5", "5,6"):
            row.update(status="failed" if row["config"] == "4,5" else "early-stopped", math=None, eq=None)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sweep = load_recorded(folder)
    assert set(sweep.universe) == set(land.measured) - hole and sweep.n_missing == len(hole) == 10
    assert sweep.outcomes[(4, 5)] is None and sweep.outcomes[(5, 6)] is None and (4, 5) not in sweep.ranks
    assert len(sweep.ranks) == len(sweep.universe) - 2
    for strategy in REPLAY_STRATEGIES:
        pick, asked = replay_one(sweep, strategy, len(sweep.universe), seed=1)
        assert set(asked) == set(sweep.universe) and pick in sweep.ranks
    table = replay(folder, ReplayOptions(budgets=(0.2,), seeds=2))
    assert (table.n_layers, table.n_configs, table.n_missing, table.n_top) == (12, 68, 10, 2)
    text = format_replay(table)
    assert "12 layers, 68 configs, 10 of its triangle not recorded" in text and "recall@10" in text


def test_partial_landscapes_cut_the_region() -> None:
    full = synthetic_sweep(make_landscape(16, 2), "s16")
    cut = partial(full, lambda c: c[1] - c[0] > 8)
    assert cut.n_missing == sum(1 for i, j in full.universe if j - i > 8) and full.n_missing == 0
    assert all(j - i <= 8 for i, j in cut.universe) and sorted(cut.ranks.values())[0] == 1
    assert set(cut.ranks) == set(cut.universe)


def test_budgets_and_top_counts() -> None:
    assert parse_budget("10%") == 0.1 and parse_budget("40") == 40
    for bad in ("0", "-3", "0%", "150%", "ten"):
        with pytest.raises(OptionError, match="--budget"):
            parse_budget(bad)
    assert budget_count(0.05, 171) == 9 and budget_count(0.1, 171) == 17 and budget_count(500, 171) == 171
    assert top_count(171) == 4 and top_count(465) == 10 and top_count(30) == 1


def test_surrogate_denoises_and_checks_itself() -> None:
    land = make_landscape(16, 4, noise=0.0, n_bumps=1)
    values = metric_values({c: (m - land.baseline[0], e - land.baseline[1]) for c, (m, e) in land.smooth.items()}, "z")
    cells = sorted(values)[::3]
    model = Surrogate(cells, [values[c] for c in cells], 16)  # type: ignore[misc]
    rest = [c for c in values if c not in cells]
    mean, sd = model.predict(rest)
    assert spearman(mean, [values[c] for c in rest]) > 0.8  # type: ignore[arg-type]
    assert model.held_out_rank_correlation() > 0.8 and (sd > 0).all()


def test_the_recorded_benchmark_sweeps_replay() -> None:
    """The recordings committed under benchmarks/data/sweeps replay: the Gemma sweep folder (a full
    triangle) and the four published scans, two with holes."""
    data = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "sweeps"
    folders = sorted(p for p in data.iterdir() if (p / "results.jsonl").exists())
    assert {p.name for p in folders} >= {"gemma3-270m-math"}
    for folder in folders:
        assert (folder / "results.jsonl").stat().st_size < 1_000_000  # results only, answers stripped
        assert "answers" not in (folder / "results.jsonl").read_text()
        sweep = load_recorded(folder)
        assert len(sweep.universe) >= 30
    assert len(load_recorded(data / "gemma3-270m-math").universe) == 171  # the full triangle
    shapes = {s.name: (s.n_layers, len(s.universe), s.n_missing) for s in recorded_sweeps()}
    assert shapes == {
        "Gemma 3 270m": (18, 171, 0),
        "dnhkng-phi-3-medium-4k-instruct": (40, 651, 169),
        "dnhkng-qwen3.5-27b": (64, 2004, 76),
        "llmri-llama3.2-3b-instruct": (28, 406, 0),
        "nerdyaustin-qwen3-4b": (36, 666, 0),
    }


def test_cli_replay_of_a_recording_with_holes(tmp_path: Path) -> None:
    """`rys-gguf replay` on a folder with a region never scanned: the table and --json say what is
    missing and report the shortlist's recall."""
    from helpers.cli import CliRunner

    from rys_gguf.cli import app

    land = make_landscape(10, 1, noise=0.01, n_bumps=1)
    folder = write_sweep(tmp_path / "holes", land, sorted(c for c in land.measured if c[1] - c[0] <= 6))
    args = ["replay", str(folder), "--seeds", "2", "--budgets", "20%", "-q"]
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "10 layers, 45 configs, 10 of its triangle not recorded" in text.output and "recall@10" in text.output
    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert (data["n_layers"], data["n_configs"], data["n_missing"], data["n_top"]) == (10, 45, 10, 1)
    assert all(0 <= r["recall"] <= r["recall_10"] <= 1 for r in data["results"])


def test_a_round_spreads_its_picks_over_equal_peaks() -> None:
    """Two equal hills: the likeliest cells all sit on one; with each pick damping its neighbours'
    chance the round's picks land on both, instead of spending the round on one hill's cells."""
    import numpy as np

    n = 32
    universe = tuple((i, j) for i in range(n) for j in range(i + 1, n + 1))

    def value(c: tuple[int, int]) -> float:
        return max(math.exp(-((c[0] - p[0]) ** 2 + (c[1] - p[1]) ** 2) / 8) for p in ((6, 10), (20, 27)))

    measured = {c: value(c) + (0.01 if c == (6, 10) else 0.0) for c in universe if c[0] % 2 == 0 and c[1] % 3 == 0}
    model = Surrogate(list(measured), list(measured.values()), n)
    state = RoundState(universe, n, dict(measured), 40, 80, 1, np.random.default_rng(0), 1, 0.02)

    def hills(picks: list[tuple[int, int]]) -> set[int]:
        return {min((0, 1), key=lambda h: abs(c[0] - (6, 20)[h]) + abs(c[1] - (10, 27)[h])) for c in picks}

    spread = _likeliest_top(state, model, 4, SearchParams().spread * n)
    crowded = _likeliest_top(state, model, 4, 0.0)
    assert hills(spread) == {0, 1}
    assert min(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a in spread for b in spread if a != b) > 1
    assert len(hills(crowded)) == 1
