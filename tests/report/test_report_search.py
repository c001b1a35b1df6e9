"""The report's new views: the Pareto frontier (a worked example), a search's measured versus
predicted cells, early-stopped cells drawn apart, and layer lists beside the build commands."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.extras import needs_matplotlib

from benchmarks.landscapes import make_landscape, write_sweep
from rys_gguf.report import cells, terminal
from rys_gguf.report.pareto import pareto_front
from rys_gguf.report.ranking import ConfigScore
from rys_gguf.report.sections import layer_list
from rys_gguf.report.write import write_report


def score(config: str, n_extra: int, d_sum: float) -> ConfigScore:
    return ConfigScore(config, None, "ok", n_extra=n_extra, d_math=d_sum, d_eq=0.0)


def test_pareto_worked_example() -> None:
    """Gain against added layers: (n_extra, Δsum) of seven configs and the frontier they make."""
    base = ConfigScore("0,0", (0, 0), "ok", n_extra=0, d_math=0.0, d_eq=0.0, baseline=True)
    configs = [
        score("33,34", 1, 0.112),  # on: the best single layer
        score("30,31", 1, 0.050),  # off: same size, less gain
        score("31,34", 3, 0.118),  # on: more gain for two more layers
        score("28,32", 4, 0.110),  # off: bigger and worse than 31,34
        score("30,35", 5, 0.126),  # on
        score("26,34", 8, 0.126),  # off: ties 30,35 with more layers
        score("10,12", 2, -0.3),  # off: worse than the baseline
    ]
    front = pareto_front(base, configs, "sum")
    assert [(p.config, p.n_extra) for p in front] == [("0,0", 0), ("33,34", 1), ("31,34", 3), ("30,35", 5)]
    assert [round(p.gain, 3) for p in front] == [0.0, 0.112, 0.118, 0.126]
    assert [p.config for p in pareto_front(base, [score("10,12", 2, -0.3)], "sum")] == ["0,0"]  # nothing helps


@needs_matplotlib  # the Pareto section shows its plot
def test_a_search_report_shows_measured_and_predicted_cells(tmp_path: Path) -> None:
    land = make_landscape(8, 2)
    measured = sorted(land.measured)[::4]
    folder = write_sweep(tmp_path / "s", land, measured)
    universe = [f"{i},{j}" for i, j in sorted(land.measured)]
    record = {"strategy": "adaptive", "budget": "25%", "n_budget": len(measured), "seed": 0, "metric": "z"}
    (folder / "search.json").write_text(json.dumps({**record, "configs": universe}))
    rows = [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines()]
    rows[3] = {**rows[3], "status": "early-stopped", "math": None, "eq": None, "reason": "after 16 tokens ..."}
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = write_report(folder)
    grid = cells.build_grid(summary, "z")
    states = [s for row in grid.states for s in row]
    assert states.count("predicted") == len(land.measured) - len(measured)
    assert states.count("early-stopped") == 1 and states.count("ok") == len(measured) - 1
    text = terminal.terminal_heatmap(summary, "z", color="none")
    assert "~ " in text and "·" in text and "predicted by the adaptive search's model" in text
    report = (folder / "report.md").read_text()
    assert "## Search" in report and "## Pareto frontier" in report and "pareto.png" in report
    assert "# layer_map (exllamav3): [" in report and "## Early-stopped (1)" in report
    assert (folder / "pareto.png").stat().st_size > 1000


def test_layer_lists_follow_the_grammar() -> None:
    assert layer_list("2,4", 6) == [0, 1, 2, 3, 2, 3, 4, 5]
    assert layer_list("1,3;2,3", 4) == [0, 1, 2, 1, 2, 2, 3]
    assert layer_list("9,12", 6) is None
