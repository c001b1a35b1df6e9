"""``rys-gguf build`` and ``rys-gguf inspect``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from ..errors import RysError
from ..gguffile import GGUFModel
from ..rewrite import BuildOptions, PreparedBuild, describe_model
from . import command

Config = Annotated[
    str,
    typer.Option(
        "--config",
        "-c",
        help="Layer plan: 'i,j' (layers i..j-1 run twice), 'i,j;k,l' (several blocks) or 'layers:0,1,...'.",
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite DST if it exists.")]
SplitSize = Annotated[
    str | None,
    typer.Option(
        "--split-max-size", help="Write shards of at most this size (e.g. 50G, 500M), named as gguf-split does."
    ),
]
SwaArray = Annotated[
    bool,
    typer.Option(
        "--write-swa-pattern",
        help="Sliding-window families: allow any block size by writing each layer's SWA flag as an "
        "array (honoured by new llama.cpp; older runtimes such as current Ollama ignore it).",
    ),
]
AllowUnknown = Annotated[
    bool, typer.Option("--allow-unknown-arch", help="Treat an architecture missing from the rules table as plain.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def parse_size(text: str) -> int:
    """'50G' -> 50e9 bytes (decimal units, like gguf-split); plain integers are bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise RysError(f"--split-max-size {text!r}: expected a size like 50G or 500M")
    scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}[m[2].upper()]
    return int(float(m[1]) * scale)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


@command("build")
def build_command(
    src: Annotated[Path, typer.Argument(help="Source GGUF (or the first shard of a split model).")],
    dst: Annotated[Path, typer.Argument(help="Output GGUF.")],
    config: Config,
    force: Force = False,
    split_max_size: SplitSize = None,
    write_swa_pattern: SwaArray = False,
    allow_unknown_arch: AllowUnknown = False,
    quiet: Quiet = False,
) -> None:
    """Build an RYS model: copy SRC with the layers of CONFIG (byte-exact, streaming)."""
    options = BuildOptions(
        write_swa_pattern=write_swa_pattern,
        allow_unknown_arch=allow_unknown_arch,
        split_max_bytes=parse_size(split_max_size) if split_max_size else 0,
        force=force,
    )
    with (
        PreparedBuild(src, dst, config, options) as job,  # everything checked before the bar
        tqdm(total=job.n_bytes, unit="B", unit_scale=True, desc="build", disable=quiet, leave=False) as bar,
    ):
        result = job.write(bar.update)
    shown = [str(p) for p in result.paths[:2]]
    names = ", ".join(shown) + (f" (+{len(result.paths) - 2} more shards)" if len(result.paths) > 2 else "")
    typer.echo(
        f"{names}: layers {result.n_layers_in} → {result.n_layers_out}, {human(result.n_bytes)}, {result.seconds:.1f} s"
    )


@command("inspect")
def inspect_command(
    file: Annotated[Path, typer.Argument(help="A GGUF file (or the first shard of a split model).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a GGUF's architecture, layers, tensors, RYS layer path and RYS constraints."""
    with GGUFModel(file) as model:
        info = describe_model(model)
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(format_inspect(info))


def format_inspect(info: dict[str, Any]) -> str:
    c = info["constraints"]
    types = ", ".join(f"{k} {v}" for k, v in info["tensor_types"].items())
    lines = [
        f"file           {info['path']} ({human(info['n_bytes'])}, {info['n_files']} file(s), "
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
