"""Report generation on a synthetic sweep: ranking maths, files written, failed/skipped shown."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.extras import needs_matplotlib

from rys_gguf.errors import ProbeError, ScanError
from rys_gguf.report import cells, png, terminal
from rys_gguf.report.ranking import ConfigScore, interval_verdict, paired_bootstrap, rank_scores, summarize, zscores
from rys_gguf.report.tables import build_command, format_table, output_name
from rys_gguf.report.write import ReportOptions, write_report
from rys_gguf.sweepfolder.records import read_sweep

N_LAYERS = 8
FAILED = {"1,4": "worker died: SIGSEGV", "5,8": "timeout after 600 s"}
SKIPPED = {"0,1": "toy: (j-i) must be a multiple of 2", "2,3": "toy: (j-i) must be a multiple of 2"}


def bump(i: int, j: int, ci: float, cj: float, height: float) -> float:
    return height * math.exp(-((i - ci) ** 2 + (j - cj) ** 2) / 3.0)


def make_sweep(directory: Path, validation: bool = False) -> dict[str, tuple[float, float]]:
    """An 8-layer sweep: math peaks at (3,6), EQ at (2,6); two failed, two skipped configs."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": 1,
        "model": {"path": "/models/toy-8L.gguf", "name": "toy-8L", "architecture": "llama",
                  "n_layers": N_LAYERS, "n_bytes": 1234, "fingerprint": "f" * 64},
        "probe_set": {"hash": "a" * 16, "math": "search16", "eq": "builtin16"},
        "created": "2026-11-23T16:00:00Z",
    }  # fmt: skip
    (directory / "sweep.json").write_text(json.dumps(meta))
    (directory / "skipped.json").write_text(json.dumps({"count": 2, "configs": SKIPPED}))
    scores: dict[str, tuple[float, float]] = {"0,0": (0.5, 0.6)}
    lines = [row("0,0", [0, 0], 0.5, 0.6)]
    for j in range(1, N_LAYERS + 1):
        for i in range(j):
            config = f"{i},{j}"
            if config in SKIPPED:
                continue
            if config in FAILED:
                lines.append(row(config, [i, j], None, None, FAILED[config]))
                continue
            m = 0.5 + bump(i, j, 3, 6, 0.2) - 0.01 * (j - i)
            e = 0.6 + bump(i, j, 2, 6, 0.1) - 0.005 * (j - i)
            scores[config] = (m, e)
            lines.append(row(config, [i, j], m, e))
    lines.append(row("3,6;4,6", None, 0.55, 0.61))  # a multi-block config: ranked, not drawn
    scores["3,6;4,6"] = (0.55, 0.61)
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if validation:
        base = {"math": [1.0, 0.0] * 20, "eq": [0.6] * 40}
        better = {"math": [1.0, 1.0, 1.0, 0.0] * 10, "eq": [0.7] * 39 + [None]}
        worse = {"math": [0.0] * 40, "eq": [0.5] * 40}
        vrows = [
            row("0,0", [0, 0], 0.5, 0.6, items=base),
            row("3,6", [3, 6], 0.75, 0.7, items=better),
            row("2,6", [2, 6], 0.0, 0.5, items=worse),
        ]
        (directory / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in vrows))
    return scores


def row(
    config: str,
    block: list[int] | None,
    m: float | None,
    e: float | None,
    reason: str | None = None,
    items: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A results.jsonl row in the sweep-folder format (failed when ``m`` is None)."""
    n_extra = 0 if block is None else block[1] - block[0]
    return {
        "config": config, "block": block, "status": "failed" if m is None else "ok",
        "reason": reason, "n_layers": N_LAYERS + n_extra, "n_extra": n_extra, "math": m, "eq": e,
        "math_parse_rate": 1.0, "eq_parse_rate": 0.9, "items": items or {"math": [], "eq": []},
        "model_fingerprint": "f" * 64, "probe_set_hash": "a" * 16,
        "finished": "2026-11-23T16:00:05Z",
    }  # fmt: skip


# ---------------------------------------------------------------- maths on worked examples


def test_zscores_worked_example() -> None:
    # mean 2, population std sqrt(2/3) (ddof 0, as numpy's default)
    z = zscores([1.0, 2.0, 3.0])
    s = math.sqrt(2 / 3)
    assert z == pytest.approx([-1 / s, 0.0, 1 / s])
    assert zscores([0.3, 0.3, 0.3]) == [0.0, 0.0, 0.0]  # std < 1e-12 counts as 1
    assert zscores([]) == []


def test_balanced_z_and_tie_breaks() -> None:
    def cs(c: str, dm: float, de: float) -> ConfigScore:
        return ConfigScore(c, None, "ok", d_math=dm, d_eq=de)

    # Δmath [0.1, 0, -0.1]: mean 0, population std sqrt(0.02/3) → z [√1.5, 0, −√1.5];
    # Δeq [0, 0.1, -0.1] → z [0, √1.5, −√1.5]; balanced = the sums.
    ranked = rank_scores([cs("a", 0.1, 0.0), cs("b", 0.0, 0.1), cs("c", -0.1, -0.1)], "z")
    z = {s.config: s.z for s in ranked}
    assert z == pytest.approx({"a": math.sqrt(1.5), "b": math.sqrt(1.5), "c": -2 * math.sqrt(1.5)})
    # a and b tie on z (1.2247...); the tie goes to the larger Δeq: b first.
    assert [s.config for s in ranked] == ["b", "a", "c"]
    assert [s.rank for s in ranked] == [1, 2, 3]
    # by sum the same tie; by math a wins outright
    assert [s.config for s in rank_scores(ranked, "sum")] == ["b", "a", "c"]
    assert rank_scores(ranked, "math")[0].config == "a"
    # equal Δeq too: the larger Δmath wins
    tied = rank_scores([cs("x", 0.0, 0.2), cs("y", 0.1, 0.1)], "sum")
    assert [s.config for s in tied] == ["x", "y"]


def test_summary_deltas_and_z_match_numpy(tmp_path: Path) -> None:
    scores = make_sweep(tmp_path)
    meta, rows = read_sweep(tmp_path)
    s = summarize(meta, rows, {}, "z", tmp_path)
    base_m, base_e = scores["0,0"]
    others = {c: v for c, v in scores.items() if c != "0,0"}
    dm = np.array([m - base_m for m, _ in others.values()])
    de = np.array([e - base_e for _, e in others.values()])
    z = (dm - dm.mean()) / dm.std() + (de - de.mean()) / de.std()
    expect = dict(zip(others, z, strict=True))
    got = {c.config: c for c in s.ranked}
    assert set(got) == set(others)
    for config, value in expect.items():
        assert got[config].z == pytest.approx(value)
        assert got[config].d_math == pytest.approx(others[config][0] - base_m)
    assert [c.config for c in s.ranked] == sorted(expect, key=lambda c: -expect[c])
    assert s.baseline.d_math == 0.0 and s.baseline.rank is None
    assert {c.config for c in s.failed} == set(FAILED)
    assert all(c.math is None and c.z is None for c in s.failed)


def test_no_baseline_is_an_error(tmp_path: Path) -> None:
    make_sweep(tmp_path)
    meta, rows = read_sweep(tmp_path)
    with pytest.raises(ScanError, match=r"no scored baseline \(0,0\)"):
        summarize(meta, [r for r in rows if r["config"] != "0,0"], {}, "z", tmp_path)


def test_paired_bootstrap() -> None:
    base = [0.0, 1.0, 0.0, 1.0, None, 0.0]
    cfg = [1.0, 1.0, 1.0, 1.0, 1.0, None]  # the last two pairs are dropped
    mean, lo, hi = paired_bootstrap(base, cfg, n_boot=2000)
    assert mean == pytest.approx(0.5)
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    assert paired_bootstrap(base, cfg, n_boot=2000) == (mean, lo, hi)  # seeded: reproducible
    same = paired_bootstrap([0.5] * 10, [0.7] * 10)
    assert same == pytest.approx((0.2, 0.2, 0.2))
    assert all(math.isnan(x) for x in paired_bootstrap([None], [1.0]))
    with pytest.raises(ProbeError, match="same probe set"):
        paired_bootstrap([1.0], [1.0, 0.0])


def test_interval_verdicts() -> None:
    up, down, noise, empty = (0.1, 0.02, 0.2), (-0.1, -0.2, -0.01), (0.05, -0.02, 0.1), (math.nan,) * 3
    assert interval_verdict(up) == "better" and interval_verdict(up, noise, empty) == "better"
    assert interval_verdict(down) == "worse" and interval_verdict(noise, down) == "worse"
    assert interval_verdict(up, down) == "mixed"
    assert interval_verdict(noise, noise) == interval_verdict(empty) == "no clear change"
    assert interval_verdict((0.0, 0.0, 0.0)) == "no clear change"  # an interval touching 0 is no gain


def test_build_command_names() -> None:
    assert output_name("/m/qwen-72b.gguf", "45,52") == "qwen-72b-rys-45-52.gguf"
    assert output_name("/m/big-00001-of-00003.gguf", "3,6;4,6") == "big-rys-3-6-4-6.gguf"
    cmd = build_command("/m/my model.gguf", "45,52")
    assert cmd == ("rys-gguf build '/m/my model.gguf' '/m/my model-rys-45-52.gguf' --config \"45,52\"")


# ---------------------------------------------------------------- the written report


@needs_matplotlib
def test_write_report_files(tmp_path: Path) -> None:
    scores = make_sweep(tmp_path, validation=True)
    summary = write_report(tmp_path, ReportOptions(metric="z", top=5))
    names = {p.name for p in summary.paths}
    assert names == {"heatmap_math.png", "heatmap_eq.png", "heatmap_combined.png", "pareto.png",
                     "ranking.csv", "ranking.json", "report.md"}  # fmt: skip
    from matplotlib.image import imread

    for name in ("heatmap_math.png", "heatmap_eq.png", "heatmap_combined.png"):
        img = imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[0] > 400 and img.shape[1] > 400

    with open(tmp_path / "ranking.csv", newline="") as f:
        table = list(csv.DictReader(f))
    by = {r["config"]: r for r in table}
    assert set(by) == set(scores) | set(FAILED) | set(SKIPPED)
    for config, (m, e) in scores.items():
        assert float(by[config]["math"]) == pytest.approx(m)
        assert float(by[config]["d_eq"]) == pytest.approx(e - scores["0,0"][1])
    for config, reason in FAILED.items():
        assert by[config]["status"] == "failed" and by[config]["reason"] == reason
        assert by[config]["math"] == by[config]["d_math"] == by[config]["z"] == ""
        assert by[config]["rank"] == ""
    for config in SKIPPED:
        assert by[config]["status"] == "skipped" and by[config]["d_sum"] == ""
    ranks = sorted(int(r["rank"]) for r in table if r["rank"])
    assert ranks == list(range(1, len(scores)))  # every scored non-baseline config, once

    data = json.loads((tmp_path / "ranking.json").read_text())
    assert data["best"] == summary.ranked[0].config
    assert {c["config"]: c["status"] for c in data["configs"]}["1,4"] == "failed"
    assert [c["config"] for c in data["configs"] if c["rank"] == 1] == [data["best"]]

    md = (tmp_path / "report.md").read_text()
    assert "![heatmap_math](heatmap_math.png)" in md
    best = summary.ranked[0].config
    assert f"rys-gguf build /models/toy-8L.gguf /models/toy-8L-rys-{best.replace(',', '-')}.gguf" in md
    assert "## Failed (2)" in md and "worker died: SIGSEGV" in md
    assert "## Skipped (2)" in md
    assert "## Validation" in md


def test_validation_section(tmp_path: Path) -> None:
    make_sweep(tmp_path, validation=True)
    summary = write_report(tmp_path, ReportOptions(png=False))
    v = {r.config: r for r in summary.validation}
    assert set(v) == {"3,6", "2,6"}
    assert v["3,6"].d_math[0] == pytest.approx(0.25)  # 0.75 − 0.5 per item
    assert v["3,6"].d_math[1] < 0.25 < v["3,6"].d_math[2]
    assert v["3,6"].d_eq == pytest.approx((0.1, 0.1, 0.1))  # the None item is dropped
    assert v["3,6"].rank == 1 and v["2,6"].rank == 2
    search = {s.config: s.rank for s in summary.ranked}
    assert v["2,6"].search_rank == search["2,6"]
    md = (tmp_path / "report.md").read_text().split("## Validation")[1]
    line = next(x for x in md.splitlines() if x.startswith("| 1 | `3,6`"))
    assert "+0.250 [" in line and "+0.100 [+0.100, +0.100]" in line


def test_no_png_and_no_validation_baseline(tmp_path: Path) -> None:
    make_sweep(tmp_path, validation=True)
    lines = (tmp_path / "validation.jsonl").read_text().splitlines()
    (tmp_path / "validation.jsonl").write_text("\n".join(lines[1:]) + "\n")
    summary = write_report(tmp_path, ReportOptions(png=False))
    assert not list(tmp_path.glob("*.png"))
    assert summary.validation == ()
    assert any("no scored baseline" in w for w in summary.warnings)


def test_truncated_last_line_is_a_warning(tmp_path: Path) -> None:
    make_sweep(tmp_path)
    n_lines = len((tmp_path / "results.jsonl").read_text().splitlines())
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"config": "6,7", "block": [6, 7], "sta')
    summary = write_report(tmp_path, ReportOptions(png=False))
    assert any(f":{n_lines + 1}: ignored a truncated" in w for w in summary.warnings)
    assert "6,7" in {s.config for s in summary.ranked}  # the earlier complete line still counts


def test_format_table_and_terminal_map(tmp_path: Path) -> None:
    make_sweep(tmp_path)
    summary = write_report(tmp_path, ReportOptions(png=False, metric="math"))
    table = format_table(summary, top=3)
    rows = [x for x in table.splitlines() if re.match(r"\s+\d+\s", x)]
    assert len(rows) == 3 and rows[0].split()[1] == summary.ranked[0].config
    assert "FAIL  1,4" in table and "worker died: SIGSEGV" in table
    assert "skipped 2" in table

    plain = terminal.terminal_heatmap(summary, "math", color="none")
    assert "\x1b[" not in plain
    grid_lines = [x for x in plain.splitlines() if re.match(r"\s+\d+ ", x)]
    assert len(grid_lines) == N_LAYERS + 1
    row1 = grid_lines[1][5:]
    assert row1[8:10] == "x " and row1[0:2] == "  "  # (1,4) failed; (1,0) below the diagonal
    assert grid_lines[0][5:7] == "()" and grid_lines[0][7:9] == "░░"  # baseline; (0,1) skipped
    best = summary.ranked[0].block
    assert best is not None and grid_lines[best[0]][5 + 2 * best[1] :][:2] == "**"

    color = terminal.terminal_heatmap(summary, "z", color="truecolor")
    assert "\x1b[48;2;" in color and "balanced z" in color
    assert "\x1b[48;5;" in terminal.terminal_heatmap(summary, "eq", color="256")


def test_grid_never_draws_failed_as_zero(tmp_path: Path) -> None:
    make_sweep(tmp_path)
    summary = write_report(tmp_path, ReportOptions(png=False))
    grid = cells.build_grid(summary, "z")
    assert grid.n == N_LAYERS + 1
    assert grid.states[1][4] == "failed" and grid.values[1][4] is None
    assert grid.states[2][3] == "skipped" and grid.values[2][3] is None
    assert grid.states[4][2] == ""  # i >= j: no such config
    top = max(abs(v) for r in grid.values for v in r if v is not None)
    assert grid.limit == pytest.approx(top)
    assert cells.diverging(grid.limit, grid.limit) == (0x67, 0x00, 0x1F)  # red = better
    assert cells.diverging(-grid.limit, grid.limit) == (0x05, 0x30, 0x61)  # blue = worse


@needs_matplotlib
def test_the_baseline_cell_is_the_neutral_reference(tmp_path: Path) -> None:
    """Its z-score could make it the reddest cell of the combined map; it is drawn as 'no change'."""
    make_sweep(tmp_path)
    summary = write_report(tmp_path, ReportOptions(png=False))
    assert summary.baseline.z not in (None, 0.0)  # it has a z of its own...
    grid = cells.build_grid(summary, "z")
    assert grid.states[0][0] == "baseline" and grid.values[0][0] is None  # ...which the map ignores
    assert cells.NEUTRAL == "#f7f7f7" and cells.hex_rgb(cells.NEUTRAL) == cells.diverging(0.0, grid.limit)
    colored = terminal.terminal_heatmap(summary, "z", color="truecolor")
    assert "\x1b[48;2;247;247;247m" in colored.splitlines()[3]  # row 0 starts with the neutral cell
    png.draw_png(summary, "z", tmp_path / "z.png")
    from matplotlib.image import imread

    image = imread(tmp_path / "z.png")
    assert image.shape[2] in (3, 4)


def test_color_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLORTERM", "truecolor")
    assert terminal.color_mode(Tty()) == "truecolor"  # type: ignore[arg-type]
    monkeypatch.delenv("COLORTERM")
    assert terminal.color_mode(Tty()) == "256"  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.color_mode(Tty()) == "none"  # type: ignore[arg-type]


# ---------------------------------------------------------------- CLI


def test_cli_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.cli import CliRunner

    from rys_gguf.cli import app

    monkeypatch.delenv("NO_COLOR", raising=False)
    make_sweep(tmp_path)
    args = ["report", str(tmp_path), "--metric", "sum", "--top", "3", "--no-png"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ranked by Δ sum" in result.output and "\x1b[" not in result.output  # not a TTY
    assert "FAIL  1,4" in result.output and "()" in result.output
    assert "wrote ranking.csv, ranking.json, report.md" in result.output
    data = json.loads((tmp_path / "ranking.json").read_text())
    assert data["metric"] == "sum"

    bad = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1 and "sweep.json: not found" in bad.output
    wrong = CliRunner().invoke(app, ["report", str(tmp_path), "--metric", "best"])
    assert wrong.exit_code == 2


@needs_matplotlib
def test_sweep_with_only_the_baseline(tmp_path: Path) -> None:
    """A sweep that has just started: nothing ranked yet, the map is drawn all the same."""
    meta = {"model": {"path": "/m/x.gguf", "n_layers": 4, "fingerprint": "f"}, "probe_set": {}}
    (tmp_path / "sweep.json").write_text(json.dumps(meta))
    (tmp_path / "results.jsonl").write_text(json.dumps(row("0,0", None, 0.5, 0.4)) + "\n")
    summary = write_report(tmp_path, ReportOptions(png=False))
    assert summary.ranked == () and summary.best is None and summary.model_name == "x"
    assert "build the best" not in format_table(summary)
    text = terminal.terminal_heatmap(summary, "z", color="none")
    assert text.count(". ") >= 10  # every other cell: not scanned yet
    png.draw_png(summary, "math", tmp_path / "one.png")
    from matplotlib.image import imread

    assert imread(tmp_path / "one.png").shape[2] == 4


def test_math_only_sweep_ranks_by_math() -> None:
    meta = {"model": {"path": "m.gguf", "name": "m", "n_layers": 4}}
    rows = [
        {"config": c, "status": "ok", "math": m, "eq": None, "n_layers": 4, "n_extra": 0}
        for c, m in [("0,0", 0.5), ("1,2", 0.6), ("0,2", 0.4), ("2,4", 0.7)]
    ]
    summary = summarize(meta, rows, {}, metric="z")
    assert [s.config for s in summary.ranked] == ["2,4", "1,2", "0,2"]
    assert summary.ranked[0].d_eq is None and summary.ranked[0].d_sum == pytest.approx(0.2)
    assert "n/a" in format_table(summary, 3)
