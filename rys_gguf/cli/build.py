"""``rys-gguf build`` and ``rys-gguf inspect``."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import BUILD, Config, Quiet, command
from .progress import Reporter, echo

if TYPE_CHECKING:
    from ..builder.layout import BuildOptions

SPLIT_MAX_SIZE = "Write shards of at most this size (e.g. 50G, 500M), named as gguf-split does."


@command("build", "Build an RYS model: copy SRC with the layers of CONFIG (byte-exact, streaming).")
def build(
    src: Annotated[Path, typer.Argument(help="Source GGUF (or the first shard of a split model).", metavar="SRC")],
    dst: Annotated[Path, typer.Argument(help="Output GGUF.", metavar="DST")],
    config: Config,
    options: Annotated["BuildOptions", BUILD],
    split_max_size: Annotated[str | None, typer.Option("--split-max-size", help=SPLIT_MAX_SIZE)] = None,
    quiet: Quiet = False,
) -> None:
    """Build an RYS model: copy SRC with the layers of CONFIG (byte-exact, streaming)."""
    from dataclasses import replace

    from ..builder.job import build
    from ..files import format_bytes
    from ..untrusted import safe_line
    from .options import parse_size

    if split_max_size:
        options = replace(options, split_max_bytes=parse_size(split_max_size))
    with Reporter(quiet) as shown:
        result = build(src, dst, config, options, progress=shown.progress, on_event=shown.on_event)
    names = ", ".join(safe_line(p) for p in result.paths[:2])
    names += f" (+{len(result.paths) - 2} more shards)" if len(result.paths) > 2 else ""
    echo(
        f"{names}: layers {result.n_layers_in} → {result.n_layers_out}, {format_bytes(result.n_bytes)}, "
        f"{result.seconds:.1f} s"
    )


@command("inspect", "Show a GGUF's architecture, layers, tensors, RYS layer path and RYS constraints.")
def inspect(
    file: Annotated[Path, typer.Argument(help="A GGUF file (or the first shard of a split model).", metavar="FILE")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a GGUF's architecture, layers, tensors, RYS layer path and RYS constraints."""
    from ..builder import inspect as facts

    info = facts.describe_model(file)
    echo(json.dumps(info) if as_json else format_inspect(info))


def format_inspect(info: dict[str, Any]) -> str:
    """The text ``inspect`` prints for ``describe_model``'s facts (file strings escaped, one line each)."""
    from ..files import format_bytes
    from ..untrusted import safe_line

    c = info["constraints"]
    types = ", ".join(f"{safe_line(k)} {v}" for k, v in info["tensor_types"].items())
    lines = [
        f"file           {safe_line(info['path'])} ({format_bytes(info['n_bytes'])}, {info['n_files']} file(s), "
        f"GGUF v{info['gguf_version']})",
        f"architecture   {safe_line(info['architecture'])}"
        + (f"  ({safe_line(info['name'])})" if info["name"] else ""),
        f"layers         {info['block_count']}",
        f"tensors        {info['n_tensors']}: {types}",
        f"context        {info['context_length']}",
        f"chat template  {'yes' if info['chat_template'] else 'no'}",
    ]
    if info["layer_path"] is not None:
        lines.append(
            f"RYS            config {safe_line(info['rys_config'])}, {info['source_block_count']} → "
            f"{info['block_count']} layers, path {info['layer_path']}"
        )
    else:
        lines.append("RYS            no (an unmodified model)")
    rules = [f"(j-i) multiple of {c['period']}: {safe_line(c['period_reason'])}"] if c["period"] > 1 else []
    if c["lead"]:
        rules.append(f"block outside the {c['lead']} leading dense layers")
    if c["tail"]:
        rules.append(f"{c['tail']} MTP layer(s) kept at the end")
    if c["shared_kv_tail"]:
        rules.append(f"block before the last {c['shared_kv_tail']} shared-KV layers")
    if c["refused"]:
        rules = [f"refused: {safe_line(c['refused'])}"]
    lines.append("RYS rules      " + ("; ".join(rules) if rules else "none (any block)"))
    return "\n".join(lines)


COMMANDS = [build, inspect]
