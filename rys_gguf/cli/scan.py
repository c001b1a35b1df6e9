"""``rys-gguf scan`` (sweep configs, probe them, rank them) and ``rys-gguf merge`` (join sweeps)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import (
    FlashAttn,
    MainGpu,
    NCtx,
    NGpu,
    NoPng,
    NoThink,
    Quiet,
    SplitMode,
    SwaPattern,
    TensorSplit,
    Threads,
    Top,
    parse_floats,
    parse_range,
)
from .progress import LazyBar
from .report import Metric, MetricOpt, show

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions


def runtime_options(
    n_gpu_layers: int,
    split_mode: str,
    tensor_split: str | None,
    main_gpu: int,
    threads: int | None,
    flash_attn: bool,
    n_ctx: int = 0,
    no_think: bool = False,
) -> RuntimeOptions:
    """The llama.cpp runtime options from their command-line values."""
    from ..llama.options import RuntimeOptions

    return RuntimeOptions(
        n_gpu_layers=n_gpu_layers, split_mode=split_mode, tensor_split=parse_floats(tensor_split, "--tensor-split"),
        main_gpu=main_gpu, n_ctx=n_ctx, n_threads=threads, flash_attn=flash_attn, no_think=no_think,
    )  # fmt: skip


def scan_command(
    model: Annotated[Path, typer.Argument(help="The GGUF to scan (or the first shard of a split model).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Sweep folder: results.jsonl, report, heatmaps. Rerun to resume.")
    ],
    min_block: Annotated[int, typer.Option("--min-block", help="Smallest block size j-i.")] = 1,
    max_block: Annotated[int | None, typer.Option("--max-block", help="Largest block size j-i.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Only blocks starting at a <= i < b, as a:b.")] = None,
    configs: Annotated[Path | None, typer.Option("--configs", help="File with one config per line (any spec).")] = None,
    shard: Annotated[
        str | None, typer.Option("--shard", help="Run slice k of n of the grid (k/n, 1-based), for many machines.")
    ] = None,
    math: Annotated[str, typer.Option("--math", help="Math set: search (16), validation (120) or none.")] = "search",
    eq_set: Annotated[
        str,
        typer.Option("--eq-set", help="EQ set: builtin (16), eqbench-v2 (171, downloaded once), a JSON file, or none."),
    ] = "builtin",
    n_eq: Annotated[int | None, typer.Option("--n-eq", help="Use only the first N EQ items.")] = None,
    eq_scorer: Annotated[
        str, typer.Option("--eq-scorer", help="eqbench-v2 (official v2 formula) or ng (the original scanner's).")
    ] = "eqbench-v2",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated math questions.")] = 0,
    n_gpu_layers: NGpu = -1,
    split_mode: SplitMode = "layer",
    tensor_split: TensorSplit = None,
    main_gpu: MainGpu = 0,
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="One worker per GPU, e.g. 0,1 (when the model fits on one).")
    ] = None,
    n_ctx: NCtx = 0,
    threads: Threads = None,
    flash_attn: FlashAttn = False,
    no_think: NoThink = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Where per-layer shards go (tmpfs is a good choice); removed at the end."),
    ] = None,
    config_timeout: Annotated[
        float | None,
        typer.Option("--config-timeout", help="Seconds before a config's worker is killed and recorded as failed."),
    ] = None,
    write_swa_pattern: SwaPattern = False,
    min_parse_rate: Annotated[
        float, typer.Option("--min-parse-rate", help="Stop when the baseline parses fewer answers than this share.")
    ] = 0.5,
    top: Top = 10,
    quiet: Quiet = False,
) -> None:
    """Sweep RYS configs of MODEL with the math and EQ probes; resumable, ranked, with heatmaps."""
    from ..builder.layout import BuildOptions
    from ..probes import ProbeSpec
    from ..report.tables import build_command, format_table
    from ..report.terminal import terminal_heatmap
    from ..report.write import write_report
    from ..scan.grid import GridSpec
    from ..scan.options import ScanOptions
    from ..scan.pool import ScanEvent
    from ..scan.shard import parse_shard
    from ..scan.sweep import run_scan

    gpu_ids = tuple(int(g) for g in parse_floats(gpus, "--gpus") or ())
    options = ScanOptions(
        runtime=runtime_options(n_gpu_layers, split_mode, tensor_split, main_gpu, threads, flash_attn, n_ctx, no_think),
        probes=ProbeSpec(math=math, eq=eq_set, eq_scorer=eq_scorer, seed=seed, n_eq=n_eq),
        grid=GridSpec(
            min_block=min_block, max_block=max_block, starts=parse_range(start), configs_file=configs,
            shard=parse_shard(shard) if shard else None,
        ),
        build=BuildOptions(write_swa_pattern=write_swa_pattern),
        gpus=gpu_ids,
        cache_dir=cache_dir,
        config_timeout=config_timeout,
        min_parse_rate=min_parse_rate,
    )  # fmt: skip
    with LazyBar(quiet, unit="config", desc="scan") as bar:

        def on_event(event: ScanEvent) -> None:
            bar.update(1, total=event.total)
            row = event.row
            if row["status"] != "ok":
                bar.write(f"{row['config']}: failed: {row.get('reason')}")

        result = run_scan(model, out, options, on_event)
    summary = write_report(out, top=top)
    typer.echo(format_table(summary, top))
    typer.echo(terminal_heatmap(summary, summary.metric))
    typer.echo(
        f"{result.n_run} configs measured ({result.n_failed} failed), {result.n_resumed} already done, "
        f"{result.n_skipped} skipped by architecture rules; report: {out / 'report.md'}"
    )
    best = summary.best
    if best is not None:
        typer.echo("best: " + build_command(summary.model_path, best.config))
        if (best.d_sum or 0.0) <= 0:
            typer.echo(
                f"note: no config beat the baseline (the best changes math+EQ by {best.d_sum or 0.0:+.3f}); "
                "RYS often does not help small models"
            )


def merge_command(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder for the merged sweep.")],
    dirs: Annotated[list[Path], typer.Argument(metavar="DIR...", help="Sweep folders (e.g. one per shard).")],
    metric: MetricOpt = Metric.z,
    top: Top = 10,
    no_png: NoPng = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Only merge the rows.")] = False,
) -> None:
    """Join sweeps of one model and probe set (one row per config: ok over failed, then latest)."""
    from ..report.write import write_report
    from ..scan.sweepdir import merge_sweeps

    result = merge_sweeps(out, dirs)
    for warning in result.warnings:
        typer.echo(f"rys-gguf: warning: {warning}", err=True)
    typer.echo(
        f"merged {result.n_rows_read} rows from {result.n_sweeps} sweeps into {out}: "
        f"{result.n_configs} configs, {result.n_skipped} skipped by architecture rules"
    )
    if not no_report:
        show(write_report(out, metric.value, top, png=not no_png), top)
