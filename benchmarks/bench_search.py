"""Search strategies replayed side by side on recorded and synthetic landscapes.

The five recorded landscapes under benchmarks/data/sweeps/ (the project's Gemma 3 270M sweep and
four published scans, two with holes) and four synthetic ones (32-80 layers, each with a region
never measured; seeds the method was not tuned on) are replayed as ``rys-gguf replay`` does: each
strategy sees only the configs it asks for; its pick is a hit when it lies in the recording's own
top 2 %, and its shortlist's recall is the share of that top 2 % its best K hold (K = the top's
size). Prints one row per landscape (hit rates over 20 seeds of adaptive and random at 5, 10 and
20 %, adaptive's recall), then a PASS/FAIL line per criterion:

- on every landscape, adaptive is never worse than random at the same budget (5, 10, 20 %);
- averaged over the recorded landscapes, adaptive at 5 % reaches random's hit rate at 10 %, and
  adaptive at 10 % comes within 0.05 of random at 20 %;
- replaying every strategy at 3 budgets x 20 seeds on an 80-layer landscape (3,240 configs) takes
  under 300 s.

``--loo`` adds leave-one-landscape-out: for a grid of the two constants that matter most (each
round's exploration share and the reach of a pick's damping of its neighbours), each recorded
landscape is held out in turn, the constants that score best on the other four are chosen, and
the held-out landscape's hit rates with them are printed beside those with the shipped constants.
``--check`` exits 1 when a criterion fails.

    python -m benchmarks.bench_search [--seeds 20] [--loo] [--check]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Sequence

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only cost (before numpy loads)

from benchmarks.landscapes import make_landscape, partial, recorded_sweeps, synthetic_sweep
from rys_gguf.report.replay import RecordedSweep, ReplayOptions, ReplayTable, replay_sweep
from rys_gguf.search.strategies import REPLAY_STRATEGIES, SearchParams, budget_count

BUDGETS = (0.05, 0.1, 0.2)
PLAN = tuple((s, b) for b in BUDGETS for s in ("adaptive", "random"))
# Synthetic landscapes: (layers, seed, the hole: configs never measured)
SYNTHETIC: tuple[tuple[int, int, str, Callable[[int, int, int], bool]], ...] = (
    (32, 910, "starts past 3/4 of depth", lambda i, j, n: i >= 0.75 * n),
    (48, 911, "blocks over half the depth", lambda i, j, n: j - i > n // 2),
    (64, 912, "a quarter of the 1-4-layer blocks", lambda i, j, n: j - i <= 4 and (i * 7 + j) % 4 == 0),
    (80, 913, "a band of starts in the middle", lambda i, j, n: 0.45 * n <= i < 0.55 * n),
)
EXPLORE = (0.25, 0.33, 0.4)  # --loo grid: explore_share
SPREAD = (0.0, 0.03, 0.05)  # --loo grid: spread (0: no damping)


def synthetic_sweeps() -> list[tuple[RecordedSweep, str]]:
    out = []
    for n, seed, hole, region in SYNTHETIC:
        full = synthetic_sweep(make_landscape(n, seed, noise=0.045), f"synthetic-{n}L-{seed}")
        out.append((partial(full, lambda c, n=n, region=region: region(c[0], c[1], n)), hole))  # type: ignore[misc]
    return out


def hit(table: ReplayTable, strategy: str, budget: float) -> float:
    return table.result(strategy, budget).top_hit_rate


def row(sweep: RecordedSweep, table: ReplayTable) -> str:
    rates = [hit(table, s, b) for s, b in (("adaptive", 0.05), ("random", 0.05), ("random", 0.1))]
    rates += [hit(table, s, b) for s, b in (("adaptive", 0.1), ("random", 0.2), ("adaptive", 0.2))]
    recall = [table.result("adaptive", b).recall for b in BUDGETS]
    cells = [sweep.name, str(sweep.n_layers), f"{len(sweep.universe):,}", str(sweep.n_missing)]
    cells += [f"{r:.2f}" for r in rates] + [f"{r:.2f}" for r in recall]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| landscape | layers | configs | missing | adaptive 5 % | random 5 % | random 10 % | adaptive 10 % "
    "| random 20 % | adaptive 20 % | recall 5 % | recall 10 % | recall 20 % |\n" + "|---" * 13 + "|"
)


def exact_random(sweep: RecordedSweep, table: ReplayTable, budget: float) -> float:
    """Random search's exact hit rate (no seeds): P(a uniform sample of the budget holds a top cell)."""
    n = len(sweep.universe)
    k = sum(1 for rank in sweep.ranks.values() if rank <= table.n_top)  # ties included, as a hit counts them
    m = budget_count(budget, n)
    return 1.0 - math.comb(n - k, m) / math.comb(n, m)


def criteria(tables: Sequence[tuple[RecordedSweep, ReplayTable, bool]]) -> list[tuple[str, bool | None]]:
    """(line, passed) per criterion; passed None for a line that only informs."""
    lines: list[tuple[str, bool | None]] = []
    for sweep, table, _ in tables:
        worse = [
            f"{b:.0%}: {hit(table, 'adaptive', b):.2f} < {hit(table, 'random', b):.2f}"
            for b in BUDGETS
            if hit(table, "adaptive", b) < hit(table, "random", b)
        ]
        text = f"never worse than random at the same budget on {sweep.name}" + (
            f": {'; '.join(worse)}" if worse else ""
        )
        lines.append((text, not worse))
    for label, keep in (("recorded", True), ("all", None)):
        chosen = [(sw, t) for sw, t, recorded in tables if keep is None or recorded == keep]
        n = len(chosen)

        def mean(strategy: str, budget: float, chosen: list[tuple[RecordedSweep, ReplayTable]] = chosen) -> float:
            return sum(hit(t, strategy, budget) for _, t in chosen) / len(chosen)

        a5, r10, a10, r20 = mean("adaptive", 0.05), mean("random", 0.1), mean("adaptive", 0.1), mean("random", 0.2)
        lines.append((f"{label} ({n}): mean adaptive 5 % {a5:.3f} >= mean random 10 % {r10:.3f}", a5 >= r10))
        lines.append(
            (f"{label} ({n}): mean adaptive 10 % {a10:.3f} >= mean random 20 % {r20:.3f} - 0.05", a10 >= r20 - 0.05)
        )
        exact = [sum(exact_random(sw, t, b) for sw, t in chosen) / n for b in BUDGETS]
        rates = ", ".join(f"{b:.0%} {e:.3f}" for b, e in zip(BUDGETS, exact, strict=True))
        lines.append((f"{label} ({n}): random's exact mean hit rate (no seeds): {rates}", None))
    return lines


def time_every_strategy(seeds: int) -> float:
    """Seconds to replay every strategy at 5/10/20 % (random also at 10/20/40 %) on 80 layers."""
    sweep = synthetic_sweep(make_landscape(80, 914, noise=0.045), "synthetic-80L-914")
    start = time.perf_counter()
    replay_sweep(sweep, ReplayOptions(strategies=REPLAY_STRATEGIES, budgets=BUDGETS, seeds=seeds))
    return time.perf_counter() - start


def leave_one_out(recorded: Sequence[RecordedSweep], seeds: int) -> list[str]:
    """Per held-out landscape: the grid's constants best on the other four, and its hit rates."""
    plan = (("adaptive", 0.05), ("adaptive", 0.1))
    scores: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for explore, spread in itertools.product(EXPLORE, SPREAD):
        params = SearchParams(explore_share=explore, spread=spread)
        options = ReplayOptions(seeds=seeds, plan=plan, params=params)
        tables = [replay_sweep(s, options) for s in recorded]
        scores[(explore, spread)] = [(hit(t, "adaptive", 0.05), hit(t, "adaptive", 0.1)) for t in tables]
        rates = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in scores[(explore, spread)])
        print(f"  explore {explore}, spread {spread}: {rates}", flush=True)
    shipped = (SearchParams().explore_share, SearchParams().spread)
    lines = [
        "| held out | chosen (explore, spread) | adaptive 5 % | adaptive 10 % | shipped 5 % | shipped 10 % |",
        "|---" * 6 + "|",
    ]
    means = [0.0, 0.0, 0.0, 0.0]
    for k, sweep in enumerate(recorded):

        def others(key: tuple[float, float], k: int = k) -> float:
            return sum(a + b for m, (a, b) in enumerate(scores[key]) if m != k)

        best = max(scores, key=lambda key: (others(key), key == shipped))
        held = scores[best][k] + scores[shipped][k] if shipped in scores else scores[best][k] + (float("nan"),) * 2
        means = [m + h / len(recorded) for m, h in zip(means, held, strict=True)]
        lines.append(f"| {sweep.name} | {best} | " + " | ".join(f"{h:.2f}" for h in held) + " |")
    lines.append("| mean | | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--loo", action="store_true", help="also leave one landscape out (about 4 min)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    recorded = recorded_sweeps()
    sweeps = [(s, "", True) for s in recorded] + [(s, hole, False) for s, hole in synthetic_sweeps()]
    options = ReplayOptions(seeds=args.seeds, plan=PLAN)
    print(f"top-2 % hit rate of the pick over {args.seeds} seeds; recall: adaptive's shortlist\n")
    print(HEADER)
    tables = []
    for sweep, hole, recorded_ in sweeps:
        table = replay_sweep(sweep, options)
        tables.append((sweep, table, recorded_))
        print(row(sweep, table) + (f" <!-- hole: {hole} -->" if hole else ""), flush=True)
    lines = criteria(tables)
    seconds = time_every_strategy(args.seeds)
    lines.append(
        (
            f"every strategy, 3 budgets x {args.seeds} seeds, 80 layers (3,240 configs): {seconds:.0f} s < 300 s",
            seconds < 300,
        )
    )
    print()
    for text, ok in lines:
        print(f"{'info' if ok is None else 'PASS' if ok else 'FAIL'} {text}")
    if args.loo:
        print(f"\nleave one landscape out (adaptive, {args.seeds} seeds; per constants: 5 %/10 % hit per landscape)")
        print("\n".join(leave_one_out(recorded, args.seeds)))
    print(f"\n({time.perf_counter() - start:.0f} s in all)")
    return 1 if args.check and any(ok is False for _, ok in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
