"""``rys-gguf scan`` (measure configs, rank them), ``merge`` (join sweeps) and ``stack``
(multi-block configs seeded by a sweep's best single blocks)."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import (
    BUILD_RULES,
    GRID,
    PROBES,
    RUNTIME_CTX,
    SEARCH,
    WORKERS,
    MetricOption,
    NoPng,
    Quiet,
    SweepArg,
    Top,
    Workers,
    command,
    option,
    single_thread_blas,
)
from .progress import Reporter, echo, show_report

if TYPE_CHECKING:
    from ..builder.layout import BuildOptions
    from ..llama.options import RuntimeOptions
    from ..probes import ProbeSpec
    from ..scan.grid import GridSpec
    from ..search.strategies import SearchSpec

SCAN_RUNTIME = RUNTIME_CTX.plus(
    option(
        "no_think", bool, False, "--no-think",
        help="Thinking models: '/no_think' and a closed think block before each answer.",
    )
)  # fmt: skip


@command("scan", "Sweep RYS configs of MODEL with the math and EQ probes; resumable, ranked, with heatmaps.")
def scan(
    model: Annotated[
        Path, typer.Argument(help="The GGUF to scan (or the first shard of a split model).", metavar="MODEL")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Sweep folder: results.jsonl, report, heatmaps. Rerun to resume.")
    ],
    grid: Annotated["GridSpec", GRID],
    probes: Annotated["ProbeSpec", PROBES],
    runtime: Annotated["RuntimeOptions", SCAN_RUNTIME],
    search: Annotated["SearchSpec", SEARCH],
    build: Annotated["BuildOptions", BUILD_RULES],
    workers: Annotated[Workers, WORKERS],
    top: Top = 10,
    quiet: Quiet = False,
) -> None:
    """Sweep RYS configs of MODEL with the math and EQ probes; resumable, ranked, with heatmaps."""
    single_thread_blas()  # before numpy loads: the search's model refits between rounds
    from ..report.write import ReportOptions, write_report
    from ..scan.options import ScanOptions
    from ..scan.sweep import run_scan

    options = ScanOptions(
        runtime=runtime, probes=probes, grid=grid, build=build, search=search, gpus=workers.gpus,
        cache_dir=workers.cache_dir, config_timeout=workers.config_timeout, min_parse_rate=workers.min_parse_rate,
        early_stop=workers.early_stop, memory=workers.memory,
    )  # fmt: skip
    with Reporter(quiet) as shown:
        result = run_scan(model, out, options, progress=shown.progress, on_event=shown.on_event)
    summary = write_report(out, ReportOptions(metric=search.metric, top=top))
    show_report(summary, top, files=False)
    echo(
        f"{result.n_run} configs measured ({result.n_failed} failed, {result.n_early_stopped} early-stopped), "
        f"{result.n_resumed} already done, {result.n_skipped} skipped (architecture rules or memory); "
        f"report: {out / 'report.md'}"
    )
    best = summary.best  # the table printed its build command
    if best is not None and (best.d_sum or 0.0) <= 0:
        echo(
            f"note: no config beat the baseline (the best changes math+EQ by {best.d_sum or 0.0:+.3f}); "
            "RYS often does not help small models"
        )


@command("merge", "Join sweeps of one model and probe set (one row per config: ok over failed, then latest).")
def merge(
    out: Annotated[Path, typer.Argument(help="Folder for the merged sweep.", metavar="OUT")],
    dirs: Annotated[list[Path], typer.Argument(help="Sweep folders (e.g. one per --slice).", metavar="DIR...")],
    metric: MetricOption = "z",
    top: Top = 10,
    no_png: NoPng = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Only merge the rows.")] = False,
) -> None:
    """Join sweeps of one model and probe set (one row per config: ok over failed, then latest)."""
    from ..report.write import ReportOptions, write_report
    from ..sweepfolder.merge import merge_sweeps
    from ..sweepfolder.metric import check_metric
    from ..sweepfolder.records import read_meta
    from ..untrusted import safe_line

    if not no_report and dirs:  # a metric the sweeps cannot rank by is refused before anything is written
        check_metric(metric, read_meta(dirs[0]), dirs[0])
    with Reporter(True) as shown:
        result = merge_sweeps(out, dirs, on_event=shown.on_event)
    echo(
        f"merged {result.n_rows_read} rows from {result.n_sweeps} sweeps into {safe_line(out)}: "
        f"{result.n_configs} configs, {result.n_skipped} skipped (architecture rules or memory)"
    )
    if not no_report:
        show_report(write_report(out, ReportOptions(metric=metric, top=top, png=not no_png)), top)


@command(
    "stack", "Beam-search multi-block configs seeded by a sweep's best single blocks; results join DIR (resumable)."
)
def stack(
    directory: SweepArg,
    width: Annotated[int, typer.Option("--width", min=1, help="Configs the beam keeps per depth.")] = 4,
    depth: Annotated[int, typer.Option("--depth", min=1, help="Most blocks in a config.")] = 3,
    pool: Annotated[int, typer.Option("--pool", min=1, help="Best single blocks the beam is extended with.")] = 8,
    expand: Annotated[
        int, typer.Option("--expand", min=1, help="Extensions measured per depth (the most promising).")
    ] = 12,
    penalty: Annotated[float, typer.Option("--penalty", help="Subtracted from the metric per added layer.")] = 0.0,
    min_gain: Annotated[
        float, typer.Option("--min-gain", help="Stop when a depth gains no more than this over the best.")
    ] = 0.0,
    metric: MetricOption = "z",
    build: Annotated["BuildOptions | None", BUILD_RULES] = None,
    quiet: Quiet = False,
) -> None:
    """Beam-search multi-block configs seeded by a sweep's best single blocks; results join DIR (resumable)."""
    single_thread_blas()
    from ..report.tables import build_command
    from ..report.write import ReportOptions, write_report
    from ..scan.stack import StackOptions, run_stack

    options = StackOptions(
        width,
        depth,
        pool,
        expand,
        penalty,
        min_gain,
        metric,
        build=build if build and build.write_swa_pattern else None,
    )
    with Reporter(quiet) as shown:
        result = run_stack(directory, options, progress=shown.progress, on_event=shown.on_event)
    for k, beam in enumerate(result.beams, start=1):
        shown_beam = ", ".join(f"{n.spec} ({n.score:+.2f})" for n in beam)
        echo(f"depth {k}: {shown_beam}")
    echo(f"{result.n_measured} configs measured; stopped: {result.stopped}")
    summary = write_report(directory, ReportOptions(metric=metric))
    if result.best is not None:
        best = result.best
        echo(f"best stack: {best.spec}, {len(best.path)} layers ({best.score:+.2f} with the layer penalty)")
        echo("build it: " + build_command(summary.model_path, best.spec))
        echo(f"layer_map (exllamav3): {list(best.path)}")


COMMANDS = [scan, merge, stack]
