"""Synthetic brain-scan landscapes: smooth ridges and peaks plus noise of a 16-item probe's size.

Each landscape is a full triangle of single-block configs for both probes, shaped like recorded
scans of instruct models: duplicating early layers or very large blocks is harmful (scores fall to
the floor), small blocks change little, and one to three smooth bumps or ridges in the middle
layers help. A measurement is the smooth value plus Gaussian noise (``noise`` in score units, about
what 16 items give), clipped to the probe's range. ``write_sweep`` writes it as a sweep folder that
``report``, ``replay`` and the search tests read like a real one.

Recorded landscapes: ``recorded_sweeps`` reads the five under benchmarks/data/sweeps (a sweep
folder and published scans as CSV, see its README), ``partial`` cuts a hole in any of them.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rys_gguf.report.replay import RecordedSweep, load_recorded
from rys_gguf.sweepfolder.metric import Delta, metric_values

Cell = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Landscape:
    n_layers: int
    smooth: dict[Cell, tuple[float, float]]  # noise-free (math, eq) scores
    measured: dict[Cell, tuple[float, float]]  # what a probe run reports
    baseline: tuple[float, float]

    @property
    def peak(self) -> Cell:
        """The config with the best noise-free Δmath + Δeq."""
        return max(self.smooth, key=lambda c: sum(self.smooth[c]))


def make_landscape(n_layers: int = 24, seed: int = 0, noise: float = 0.04, n_bumps: int | None = None) -> Landscape:
    """A random landscape of ``n_layers`` layers (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    base = (float(rng.uniform(0.3, 0.5)), float(rng.uniform(0.5, 0.7)))
    bumps = []
    for _ in range(n_bumps or int(rng.integers(1, 4))):
        ridge = rng.random() < 0.3  # a long ridge in one direction, else a round peak
        bumps.append(
            (
                rng.uniform(0.25, 0.65),  # start fraction
                rng.uniform(0.03, 0.3),  # size fraction
                rng.uniform(0.05, 0.15) * (3 if ridge and rng.random() < 0.5 else 1),
                rng.uniform(0.03, 0.1) * (3 if ridge else 1),
                rng.uniform(0.03, 0.1),  # height (score units)
                rng.uniform(-0.3, 1.0),  # how much of it the EQ probe shares
            )
        )
    harm = (rng.uniform(0.05, 0.2), rng.uniform(0.03, 0.12), rng.uniform(0.02, 0.08))
    smooth: dict[Cell, tuple[float, float]] = {}
    measured: dict[Cell, tuple[float, float]] = {}
    for j in range(1, n_layers + 1):
        for i in range(j):
            a, b = i / n_layers, (j - i) / n_layers
            damage = (
                harm[0] * b**1.5
                + harm[1] * math.exp(-i / (0.08 * n_layers))
                + harm[2] * math.exp(-(n_layers - j) / (0.06 * n_layers))
            )
            gain = [0.0, 0.0]
            for ca, cb, wa, wb, h, share in bumps:
                g = h * math.exp(-0.5 * (((a - ca) / wa) ** 2 + ((b - cb) / wb) ** 2))
                gain[0] += g
                gain[1] += share * g
            values = (base[0] + gain[0] - damage, base[1] + gain[1] - 0.7 * damage)
            smooth[(i, j)] = (max(0.0, values[0]), max(0.0, values[1]))
            measured[(i, j)] = (
                min(1.0, max(0.0, values[0] + noise * float(rng.standard_normal()))),
                min(1.0, max(0.0, values[1] + noise * float(rng.standard_normal()))),
            )
    return Landscape(n_layers, smooth, measured, base)


def _row(config: str, block: list[int], n_layers: int, scores: tuple[float, float]) -> dict[str, object]:
    n_extra = block[1] - block[0]
    return {
        "config": config, "block": block, "status": "ok", "reason": None, "n_layers": n_layers + n_extra,
        "n_extra": n_extra, "math": scores[0], "eq": scores[1], "math_parse_rate": 1.0, "eq_parse_rate": 1.0,
        "model_fingerprint": "f" * 64, "probe_set_hash": "a" * 64,
    }  # fmt: skip


def write_sweep(directory: Path, land: Landscape, cells: list[Cell] | None = None) -> Path:
    """The landscape as a sweep folder (every config, or only ``cells``), baseline first."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": 1,
        "model": {"path": "/models/synthetic.gguf", "name": f"synthetic-{land.n_layers}L", "architecture": "llama",
                  "n_layers": land.n_layers, "n_bytes": 1, "fingerprint": "f" * 64},
        "probe_set": {"hash": "a" * 64, "math": "search16", "eq": "builtin16", "n_math": 16, "n_eq": 16},
    }  # fmt: skip
    (directory / "sweep.json").write_text(json.dumps(meta))
    (directory / "skipped.json").write_text(json.dumps({"count": 0, "configs": {}}))
    rows = [_row("0,0", [0, 0], land.n_layers, land.baseline)]
    for i, j in cells if cells is not None else sorted(land.measured, key=lambda c: (c[1] - c[0], c[0])):
        rows.append(_row(f"{i},{j}", [i, j], land.n_layers, land.measured[(i, j)]))
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


RECORDED = Path(__file__).parent / "data" / "sweeps"


def read_csv_sweep(path: Path, metric: str = "z") -> RecordedSweep:
    """A published scan (``i,j,<probe>_delta,eq_delta,...``, one row per config, ``nan`` for a
    cell it lacks) as a recording to replay: its first delta column stands for Δmath, the next for
    ΔEQ; a cell without both is a hole, not in the universe."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c.endswith("_delta") and c != "combined_delta"]
    outcomes: dict[Cell, Delta | None] = {}
    for row in rows:
        cell = (int(row["i"]), int(row["j"]))
        delta = tuple(float(row[c]) for c in columns[:2])
        if cell[1] > cell[0] and all(math.isfinite(d) for d in delta):
            outcomes[cell] = (delta[0], delta[1])
    n_layers = max(int(row["j"]) for row in rows)  # the triangle, holes included
    return recording(path.stem, n_layers, outcomes, metric)


def recording(name: str, n_layers: int, outcomes: dict[Cell, Delta | None], metric: str = "z") -> RecordedSweep:
    """A recording of ``outcomes`` ranked by ``metric`` (1 = best; tied values share the better rank:
    values read back from images tie at one colour step, and no tied cell is a better pick)."""
    values = metric_values(outcomes, metric)
    scored = sorted(v for v in values.values() if v is not None)
    ranks = {c: len(scored) - bisect.bisect_right(scored, v) + 1 for c, v in values.items() if v is not None}
    universe = tuple(sorted(outcomes, key=lambda c: (c[1] - c[0], c[0])))
    return RecordedSweep(name, n_layers, universe, dict(outcomes), ranks)


def recorded_sweeps(metric: str = "z") -> list[RecordedSweep]:
    """The five recorded landscapes under benchmarks/data/sweeps: the sweep folder and the CSVs."""
    folders = [load_recorded(p, metric) for p in sorted(RECORDED.iterdir()) if (p / "results.jsonl").exists()]
    return folders + [read_csv_sweep(p, metric) for p in sorted(RECORDED.glob("*.csv"))]


def synthetic_sweep(land: Landscape, name: str, metric: str = "z") -> RecordedSweep:
    """A synthetic landscape's measurements as a recording."""
    outcomes: dict[Cell, Delta | None] = {
        c: (m - land.baseline[0], e - land.baseline[1]) for c, (m, e) in land.measured.items()
    }
    return recording(name, land.n_layers, outcomes, metric)


def partial(sweep: RecordedSweep, region: Callable[[Cell], bool], metric: str = "z") -> RecordedSweep:
    """``sweep`` with the configs of ``region`` never measured: a recording with a hole."""
    kept = {c: d for c, d in sweep.outcomes.items() if not region(c)}
    return recording(sweep.name, sweep.n_layers, kept, metric)
