"""Search strategies replayed side by side on recorded sweeps and synthetic landscapes.

Every recorded sweep under benchmarks/data/sweeps/ (complete grids, answers stripped) and a few
synthetic landscapes (``landscapes``, seeds the method was not tuned on) are replayed
as ``rys-gguf replay`` does: each strategy sees only the configs it asks for; its pick is a hit when
it lies in the folder's own top 2 %. Prints the table per sweep (random, grid, coarse, adaptive at
5/10/20 %, random also at 10/20/40 %), then the goal, "half the evaluations of random search for
the same result", per sweep: adaptive's hit rate at 10 % >= random's at 20 %, and at 5 % >= random's
at 10 %. Random's exact hit rate (a hypergeometric tail, no seeds) is printed beside the seeded one.
``--check`` exits 1 when the goal is missed on a recorded sweep.

    python -m benchmarks.bench_search [--seeds 20] [--synthetic 4] [--check]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only cost (before numpy loads)

from benchmarks.landscapes import make_landscape, write_sweep
from rys_gguf.report.replay import ReplayOptions, ReplayTable, format_replay, replay
from rys_gguf.search.strategies import budget_count, top_count

DATA = Path(__file__).parent / "data" / "sweeps"
SYNTHETIC_SEEDS = (900, 901, 902, 903, 904, 905, 906, 907)  # never used while tuning (that was 0-311)


def exact_random(n: int, k: int, budget: int) -> float:
    """P(a uniform sample of ``budget`` of ``n`` configs holds one of the top ``k``)."""
    if budget >= n - k + 1:
        return 1.0
    return 1.0 - math.comb(n - k, budget) / math.comb(n, budget)


def rate(table: ReplayTable, strategy: str, share: float) -> float:
    return next(r.top_hit_rate for r in table.results if r.strategy == strategy and abs(r.budget - share) < 1e-9)


def goal_lines(name: str, table: ReplayTable) -> tuple[list[str], bool]:
    n, k = table.n_configs, table.n_top
    lines, met = [], True
    for small, large in ((0.1, 0.2), (0.05, 0.1)):
        ours, theirs = rate(table, "adaptive", small), rate(table, "random", large)
        exact = exact_random(n, k, budget_count(large, n))
        ok = ours >= theirs
        met &= ok
        lines.append(
            f"  {name}: adaptive {small:.0%} hit {ours:.2f} vs random {large:.0%} {theirs:.2f} "
            f"(exact {exact:.2f}): {'met' if ok else 'MISSED'}"
        )
    return lines, met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--synthetic", type=int, default=4, help="synthetic landscapes (0-8)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    folders = [(p.name, p, True) for p in sorted(DATA.iterdir()) if (p / "results.jsonl").exists()]
    root = Path(os.environ.get("TMPDIR", "/tmp")) / "rys-bench-search"
    for seed in SYNTHETIC_SEEDS[: args.synthetic]:
        n_layers = 24 + 4 * (seed % 4)  # 24-36 layers, the size of the held-out recorded models
        land = make_landscape(n_layers, seed, noise=0.045)
        folders.append((f"synthetic-{n_layers}L-{seed}", write_sweep(root / str(seed), land), False))
    goals: list[str] = []
    missed = False
    for name, folder, recorded in folders:
        start = time.perf_counter()
        table = replay(folder, ReplayOptions(seeds=args.seeds))
        print(format_replay(table).replace(str(folder), name))
        print(f"({time.perf_counter() - start:.0f} s; top 2 % = the best {top_count(table.n_configs)})\n")
        lines, met = goal_lines(name + ("" if recorded else " (synthetic)"), table)
        goals += lines
        missed |= recorded and not met
    print("goal: half the evaluations of random search for the same top-2 % hit rate")
    print("\n".join(goals))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
