"""``rys-gguf replay`` (benchmark search strategies on a recorded sweep) and ``rys-gguf stack``
(beam search over multi-block configs seeded by a sweep's best single blocks)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import OptionError
from .command import Command, option, switch
from .options import QUIET, SWA_PATTERN, SWEEP, positive_int
from .progress import LazyBar, echo
from .report import METRIC


def single_thread_blas() -> None:
    """The search model's matrices are small (a few hundred rows): BLAS threads cost more than they
    give, up to 30x on a busy machine. Set before numpy loads; an explicit setting wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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
            raise OptionError(f"--budgets {text!r}: expected shares like 5%,10%,20% (each in (0, 100%])")
        shares.append(share)
    return tuple(shares)


def replay_command(
    directory: Path, seeds: int, budgets: str, metric: str, top_fraction: float, as_json: bool, quiet: bool
) -> None:
    single_thread_blas()
    from ..report.replay import DEFAULT_STRATEGIES, format_replay, plan_runs, replay

    shares = parse_shares(budgets)
    if not 0 < top_fraction < 1:
        raise OptionError(f"--top-fraction {top_fraction}: expected a share in (0, 1), e.g. 0.02")
    n_runs = seeds * len(plan_runs(DEFAULT_STRATEGIES, shares))
    with LazyBar(quiet or as_json, unit="run", desc="replay", total=n_runs) as bar:
        table = replay(directory, DEFAULT_STRATEGIES, shares, seeds, metric, top_fraction, on_step=bar.update)
    echo(json.dumps(table.as_json()) if as_json else format_replay(table))


def stack_command(
    directory: Path,
    width: int,
    depth: int,
    pool: int,
    expand: int,
    penalty: float,
    min_gain: float,
    metric: str,
    write_swa_pattern: bool,
    quiet: bool,
) -> None:
    single_thread_blas()
    from ..builder.layout import BuildOptions
    from ..report.tables import build_command
    from ..report.write import write_report
    from ..scan.pool import ScanEvent
    from ..scan.stack import StackSpec, run_stack
    from ..untrusted import safe_line

    spec = StackSpec(width, depth, pool, expand, penalty, min_gain, metric)
    build = BuildOptions(write_swa_pattern=True) if write_swa_pattern else None
    with LazyBar(quiet, unit="config", desc="stack") as bar:

        def on_event(event: ScanEvent) -> None:
            bar.update(1, total=None)
            if event.row["status"] != "ok":
                row = event.row
                bar.write(f"{safe_line(row['config'])}: {row['status']}: {safe_line(row.get('reason'))}")

        result = run_stack(directory, spec, build, on_event=on_event)
    for k, beam in enumerate(result.beams, start=1):
        shown = ", ".join(f"{n.spec} ({n.score:+.2f})" for n in beam)
        echo(f"depth {k}: {shown}")
    echo(f"{result.n_measured} configs measured; stopped: {result.stopped}")
    summary = write_report(directory, metric)
    if result.best is not None:
        best = result.best
        echo(f"best stack: {best.spec}, {len(best.path)} layers ({best.score:+.2f} with the layer penalty)")
        echo("build it: " + build_command(summary.model_path, best.spec))
        echo(f"layer_map (exllamav3): {list(best.path)}")


COMMANDS = [
    Command(
        "replay",
        replay_command,
        "Benchmark the search strategies against a complete sweep: each sees only the configs it asks for.",
        (
            SWEEP,
            option("--seeds", help="Seeded runs per strategy and budget.", type=positive_int, default=20),
            option("--budgets", help="The budgets replayed, as shares of the sweep's configs.", default="5%,10%,20%"),
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
    Command(
        "stack",
        stack_command,
        "Beam-search multi-block configs seeded by a sweep's best single blocks; results join DIR (resumable).",
        (
            SWEEP,
            option("--width", help="Configs the beam keeps per depth.", type=positive_int, default=4),
            option("--depth", help="Most blocks in a config.", type=positive_int, default=3),
            option("--pool", help="Best single blocks the beam is extended with.", type=positive_int, default=8),
            option(
                "--expand", help="Extensions measured per depth (the most promising).", type=positive_int, default=12
            ),
            option("--penalty", help="Subtracted from the metric per added layer.", type=float, default=0.0),
            option(
                "--min-gain", help="Stop when a depth gains no more than this over the best.", type=float, default=0.0
            ),
            METRIC,
            SWA_PATTERN,
            QUIET,
        ),
    ),
]
