"""``rys-gguf scan`` (sweep configs, probe them, rank them) and ``rys-gguf merge`` (join sweeps)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .command import Command, argument, option, switch
from .options import (
    MEMORY,
    MIN_PARSE_RATE,
    N_CTX,
    N_EQ,
    N_MATH,
    NO_PNG,
    NO_THINK,
    QUIET,
    RUNTIME,
    SWA_PATTERN,
    TOP,
    parse_floats,
    parse_memory,
    parse_range,
)
from .progress import LazyBar, echo
from .report import METRIC, show
from .search import single_thread_blas

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions

STRATEGIES = ("grid", "coarse", "adaptive")  # rys_gguf.search.strategies.STRATEGIES, without importing it at start
SEARCH_HELP = (
    "grid (every config), coarse (strided, then refined) or adaptive (a surrogate model proposes each round) "
    "[default: grid; grid with --configs or --shard]"
)


def scan_command(
    model: Path,
    out: Path,
    min_block: int,
    max_block: int | None,
    start: str | None,
    configs: Path | None,
    shard: str | None,
    math: str,
    eq_set: str,
    n_math: int | None,
    n_eq: int | None,
    eq_scorer: str,
    seed: int,
    runtime: RuntimeOptions,
    gpus: str | None,
    memory: str | None,
    cache_dir: Path | None,
    config_timeout: float | None,
    write_swa_pattern: bool,
    min_parse_rate: float,
    no_early_stop: bool,
    search: str | None,
    budget: str | None,
    search_seed: int,
    metric: str,
    top: int,
    quiet: bool,
) -> None:
    single_thread_blas()  # before numpy loads: the search's model refits between rounds
    from ..builder.layout import BuildOptions
    from ..probes import ProbeSpec
    from ..report.tables import format_table
    from ..report.terminal import terminal_heatmap
    from ..report.write import write_report
    from ..scan.grid import GridSpec
    from ..scan.options import ScanOptions
    from ..scan.pool import ScanEvent
    from ..scan.slices import parse_shard
    from ..scan.sweep import run_scan
    from ..search.strategies import SearchSpec, parse_budget
    from ..untrusted import safe_line

    gpu_ids = tuple(int(g) for g in parse_floats(gpus, "--gpus") or ())
    if budget is not None:
        parse_budget(budget)  # a bad value fails before anything starts
    options = ScanOptions(
        runtime=runtime,
        probes=ProbeSpec(math=math, eq=eq_set, eq_scorer=eq_scorer, seed=seed, n_eq=n_eq, n_math=n_math),
        grid=GridSpec(
            min_block=min_block, max_block=max_block, starts=parse_range(start), configs_file=configs,
            shard=parse_shard(shard) if shard else None,
        ),
        build=BuildOptions(write_swa_pattern=write_swa_pattern),
        search=SearchSpec(strategy=search, budget=budget, seed=search_seed, metric=metric),
        gpus=gpu_ids,
        cache_dir=cache_dir,
        config_timeout=config_timeout,
        min_parse_rate=min_parse_rate,
        early_stop=not no_early_stop,
        memory=parse_memory(memory),
    )  # fmt: skip
    with LazyBar(quiet, unit="config", desc="scan") as bar:

        def on_event(event: ScanEvent) -> None:
            bar.update(1, total=event.total)
            row = event.row
            if row["status"] != "ok":
                bar.write(f"{safe_line(row['config'])}: {row['status']}: {safe_line(row.get('reason'))}")

        result = run_scan(model, out, options, on_event, on_plan=bar.write)
    summary = write_report(out, metric, top=top)
    echo(format_table(summary, top))
    echo(terminal_heatmap(summary, summary.metric))
    echo(
        f"{result.n_run} configs measured ({result.n_failed} failed, {result.n_early_stopped} early-stopped), "
        f"{result.n_resumed} already done, "
        f"{result.n_skipped} skipped (architecture rules or memory); report: {safe_line(out / 'report.md')}"
    )
    best = summary.best  # format_table printed its build command
    if best is not None and (best.d_sum or 0.0) <= 0:
        echo(
            f"note: no config beat the baseline (the best changes math+EQ by {best.d_sum or 0.0:+.3f}); "
            "RYS often does not help small models"
        )


def merge_command(out: Path, dirs: list[Path], metric: str, top: int, no_png: bool, no_report: bool) -> None:
    from ..report.write import write_report
    from ..sweepfolder.merge import merge_sweeps
    from ..untrusted import safe_line

    result = merge_sweeps(out, dirs)
    for warning in result.warnings:
        echo(f"rys-gguf: warning: {safe_line(warning, None)}", err=True)
    echo(
        f"merged {result.n_rows_read} rows from {result.n_sweeps} sweeps into {safe_line(out)}: "
        f"{result.n_configs} configs, {result.n_skipped} skipped (architecture rules or memory)"
    )
    if not no_report:
        show(write_report(out, metric, top, png=not no_png), top)


COMMANDS = [
    Command(
        "scan",
        scan_command,
        "Sweep RYS configs of MODEL with the math and EQ probes; resumable, ranked, with heatmaps.",
        (
            argument("model", "The GGUF to scan (or the first shard of a split model).", type=Path),
            option(
                "--out",
                "-o",
                help="Sweep folder: results.jsonl, report, heatmaps. Rerun to resume.",
                type=Path,
                required=True,
            ),
            option("--min-block", help="Smallest block size j-i.", type=int, default=1),
            option("--max-block", help="Largest block size j-i.", type=int),
            option("--start", help="Only blocks starting at a <= i < b, as a:b."),
            option("--configs", help="File with one config per line (any spec).", type=Path),
            option("--shard", help="Run slice k of n of the grid (k/n, 1-based), for many machines."),
            option("--math", help="Math set: search (16), validation (120) or none.", default="search"),
            option(
                "--eq-set",
                help="EQ set: builtin (16), eqbench-v2 (171, downloaded once), validation (49, held out for validate), "
                "a JSON file, or none.",
                default="builtin",
            ),
            N_MATH,
            N_EQ,
            option(
                "--eq-scorer",
                help="eqbench-v2 (official v2 formula) or ng (the original scanner's).",
                default="eqbench-v2",
            ),
            option("--seed", help="Seed of the generated math questions.", type=int, default=0),
            RUNTIME.with_params(N_CTX, NO_THINK),
            option("--gpus", help="One worker per GPU, e.g. 0,1 (when the model fits on one)."),
            MEMORY,
            option(
                "--cache-dir",
                help="Where per-layer shards go (tmpfs is a good choice); removed at the end.",
                type=Path,
            ),
            option(
                "--config-timeout",
                help="Seconds before a config's worker is killed and recorded as failed.",
                type=float,
            ),
            SWA_PATTERN,
            MIN_PARSE_RATE,
            switch(
                "--no-early-stop",
                help="Run every config to the end, even when its first answers are garbage (loops, empty, "
                "unparseable).",
            ),
            option("--search", help=SEARCH_HELP, choices=STRATEGIES),
            option("--budget", help="Configs a search measures: N, or a share of those allowed [default: 10%]."),
            option("--search-seed", help="Seed of the search's random choices.", type=int, default=0),
            METRIC,
            TOP,
            QUIET,
        ),
    ),
    Command(
        "merge",
        merge_command,
        "Join sweeps of one model and probe set (one row per config: ok over failed, then latest).",
        (
            argument("out", "Folder for the merged sweep.", type=Path, metavar="OUT"),
            argument("dirs", "Sweep folders (e.g. one per shard).", type=Path, many=True, metavar="DIR"),
            METRIC,
            TOP,
            NO_PNG,
            switch("--no-report", help="Only merge the rows."),
        ),
    ),
]
