"""``rys-gguf build`` and ``rys-gguf inspect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .options import AllowUnknown, Config, Force, Quiet, SwaPattern, parse_size
from .progress import LazyBar


def build_command(
    src: Annotated[Path, typer.Argument(help="Source GGUF (or the first shard of a split model).")],
    dst: Annotated[Path, typer.Argument(help="Output GGUF.")],
    config: Config,
    force: Force = False,
    split_max_size: Annotated[
        str | None,
        typer.Option(
            "--split-max-size", help="Write shards of at most this size (e.g. 50G, 500M), named as gguf-split does."
        ),
    ] = None,
    write_swa_pattern: SwaPattern = False,
    allow_unknown_arch: AllowUnknown = False,
    quiet: Quiet = False,
) -> None:
    """Build an RYS model: copy SRC with the layers of CONFIG (byte-exact, streaming)."""
    from ..builder.job import PreparedBuild
    from ..builder.layout import BuildOptions
    from ..files import format_bytes

    options = BuildOptions(
        write_swa_pattern=write_swa_pattern,
        allow_unknown_arch=allow_unknown_arch,
        split_max_bytes=parse_size(split_max_size) if split_max_size else 0,
        force=force,
    )
    with (
        PreparedBuild(src, dst, config, options) as job,  # everything checked before the bar
        LazyBar(quiet, total=job.n_bytes, unit="B", unit_scale=True, desc="build") as bar,
    ):
        result = job.write(bar.update)
    shown = [str(p) for p in result.paths[:2]]
    names = ", ".join(shown) + (f" (+{len(result.paths) - 2} more shards)" if len(result.paths) > 2 else "")
    typer.echo(
        f"{names}: layers {result.n_layers_in} → {result.n_layers_out}, {format_bytes(result.n_bytes)}, "
        f"{result.seconds:.1f} s"
    )


def inspect_command(
    file: Annotated[Path, typer.Argument(help="A GGUF file (or the first shard of a split model).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a GGUF's architecture, layers, tensors, RYS layer path and RYS constraints."""
    from ..builder.inspect import describe_model
    from ..gguffile.reader import GGUFModel

    with GGUFModel(file) as model:
        info = describe_model(model)
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(format_inspect(info))


def format_inspect(info: dict[str, Any]) -> str:
    """The text ``inspect`` prints for ``describe_model``'s facts."""
    from ..files import format_bytes

    c = info["constraints"]
    types = ", ".join(f"{k} {v}" for k, v in info["tensor_types"].items())
    lines = [
        f"file           {info['path']} ({format_bytes(info['n_bytes'])}, {info['n_files']} file(s), "
        f"GGUF v{info['gguf_version']})",
        f"architecture   {info['architecture']}" + (f"  ({info['name']})" if info["name"] else ""),
        f"layers         {info['block_count']}",
        f"tensors        {info['n_tensors']}: {types}",
        f"context        {info['context_length']}",
        f"chat template  {'yes' if info['chat_template'] else 'no'}",
    ]
    if info["layer_path"] is not None:
        lines.append(
            f"RYS            config {info['rys_config']}, {info['source_block_count']} → "
            f"{info['block_count']} layers, path {info['layer_path']}"
        )
    else:
        lines.append("RYS            no (an unmodified model)")
    rules = [f"(j-i) multiple of {c['period']}: {c['period_reason']}"] if c["period"] > 1 else []
    if c["lead"]:
        rules.append(f"block outside the {c['lead']} leading dense layers")
    if c["tail"]:
        rules.append(f"{c['tail']} MTP layer(s) kept at the end")
    if c["shared_kv_tail"]:
        rules.append(f"block before the last {c['shared_kv_tail']} shared-KV layers")
    if c["refused"]:
        rules = [f"refused: {c['refused']}"]
    lines.append("RYS rules      " + ("; ".join(rules) if rules else "none (any block)"))
    return "\n".join(lines)
