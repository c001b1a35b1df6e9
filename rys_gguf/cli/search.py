"""``rys-gguf replay`` (benchmark search strategies on a recorded sweep) and ``rys-gguf stack``
(beam search over multi-block configs seeded by a sweep's best single blocks)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import OptionError
from .command import Command, option, switch
from .options import QUIET, SWEEP, positive_int
from .progress import LazyBar, echo
from .report import METRIC


def single_thread_blas() -> None:
    """The surrogate's matrices are small: BLAS threads cost more than they give (set before numpy loads)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def parse_shares(text: str) -> tuple[float, ...]:
    """'5%,10%,20%' (or fractions 0.05,0.1) -> (0.05, 0.1, 0.2)."""
    shares = []
    for part in text.split(","):
        t = part.strip()
        try:
            share = float(t[:-1]) / 100 if t.endswith("%") else float(t)
        except ValueError:
            share = -1.0
        if not 0 < share <= 1:
            raise OptionError(f"--budget {text!r}: expected shares like 5%,10%,20% (each in (0, 100%])")
        shares.append(share)
    return tuple(shares)


def replay_command(
    directory: Path, seeds: int, budget: str, metric: str, top_fraction: float, as_json: bool, quiet: bool
) -> None:
    single_thread_blas()
    from ..report.replay import DEFAULT_STRATEGIES, format_replay, plan_runs, replay

    shares = parse_shares(budget)
    if not 0 < top_fraction < 1:
        raise OptionError(f"--top-fraction {top_fraction}: expected a share in (0, 1), e.g. 0.02")
    n_runs = seeds * len(plan_runs(DEFAULT_STRATEGIES, shares))
    with LazyBar(quiet or as_json, unit="run", desc="replay", total=n_runs) as bar:
        table = replay(directory, DEFAULT_STRATEGIES, shares, seeds, metric, top_fraction, on_step=bar.update)
    echo(json.dumps(table.as_json()) if as_json else format_replay(table))


COMMANDS = [
    Command(
        "replay",
        replay_command,
        "Benchmark the search strategies against a complete sweep: each sees only the configs it asks for.",
        (
            SWEEP,
            option("--seeds", help="Seeded runs per strategy and budget.", type=positive_int, default=20),
            option("--budget", help="Budgets as shares of the sweep's configs.", default="5%,10%,20%"),
            METRIC,
            option(
                "--top-fraction",
                help="A pick is a hit when it lies in this top share of the folder's ranking.",
                type=float,
                default=0.02,
            ),
            switch("--json", help="Print one JSON object.")(dest="as_json"),
            QUIET,
        ),
    ),
]
