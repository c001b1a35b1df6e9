"""``rys-gguf scan``: sweep configs, probe them, rank them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import RysError
from ..heatmap import terminal_heatmap
from ..report import build_command, format_table, write_report
from ..rewrite import BuildOptions
from ..runner import RuntimeOptions
from ..scan import GridSpec, ProbeSpec, ScanEvent, ScanOptions, run_scan
from ..shard import parse_shard
from . import LazyBar, command


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise RysError(f"{option} {text!r}: expected numbers separated by commas, e.g. 1,1") from None


def parse_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    a, sep, b = text.partition(":")
    if not sep or not a.isdigit() or not b.isdigit() or int(a) >= int(b):
        raise RysError(f"--start {text!r}: expected a:b with a < b (block starts a <= i < b)")
    return int(a), int(b)


NGpu = Annotated[int, typer.Option("--n-gpu-layers", "-ngl", help="Layers to offload to the GPU(s); -1 = all.")]
SplitMode = Annotated[str, typer.Option("--split-mode", help="How to spread one model over GPUs: none, layer or row.")]
TensorSplit = Annotated[
    str | None, typer.Option("--tensor-split", help="Share of the model per GPU, e.g. 1,1 for two equal GPUs.")
]
MainGpu = Annotated[int, typer.Option("--main-gpu", help="GPU for the model (split-mode none) or scratch results.")]
NCtx = Annotated[int, typer.Option("--n-ctx", help="Context size; 0 sizes it for all probe prompts at once.")]
Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads (default: llama.cpp's choice).")]
FlashAttn = Annotated[bool, typer.Option("--flash-attn", help="Use flash attention.")]
NoThink = Annotated[
    bool, typer.Option("--no-think", help="Thinking models: '/no_think' and a closed think block before each answer.")
]


@command("scan")
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
    write_swa_pattern: Annotated[
        bool,
        typer.Option(
            "--write-swa-pattern", help="Sliding-window families: allow every block size (new llama.cpp only)."
        ),
    ] = False,
    min_parse_rate: Annotated[
        float, typer.Option("--min-parse-rate", help="Stop when the baseline parses fewer answers than this share.")
    ] = 0.5,
    top: Annotated[int, typer.Option("--top", help="Rows in the final table.")] = 10,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Sweep RYS configs of MODEL with the math and EQ probes; resumable, ranked, with heatmaps."""
    gpu_ids = tuple(int(g) for g in parse_floats(gpus, "--gpus") or ())
    options = ScanOptions(
        runtime=RuntimeOptions(
            n_gpu_layers=n_gpu_layers, split_mode=split_mode, tensor_split=parse_floats(tensor_split, "--tensor-split"),
            main_gpu=main_gpu, n_ctx=n_ctx, n_threads=threads, flash_attn=flash_attn, no_think=no_think,
        ),
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
                bar.write(f"{row['config']}: failed: {row['reason']}")

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
