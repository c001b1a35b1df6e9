"""``rys-gguf build`` and ``rys-gguf inspect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .command import Command, argument, option, switch
from .options import ALLOW_UNKNOWN, CONFIG, FORCE, QUIET, SWA_PATTERN, parse_size
from .progress import LazyBar, echo


def build_command(
    src: Path,
    dst: Path,
    config: str,
    force: bool,
    split_max_size: str | None,
    write_swa_pattern: bool,
    allow_unknown_arch: bool,
    quiet: bool,
) -> None:
    """Build an RYS model: copy SRC with the layers of CONFIG (byte-exact, streaming)."""
    from ..builder.job import PreparedBuild
    from ..builder.layout import BuildOptions
    from ..files import format_bytes
    from ..untrusted import safe_line

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
    shown = [safe_line(p) for p in result.paths[:2]]
    names = ", ".join(shown) + (f" (+{len(result.paths) - 2} more shards)" if len(result.paths) > 2 else "")
    echo(
        f"{names}: layers {result.n_layers_in} → {result.n_layers_out}, {format_bytes(result.n_bytes)}, "
        f"{result.seconds:.1f} s"
    )


def inspect_command(file: Path, as_json: bool) -> None:
    """Show a GGUF's architecture, layers, tensors, RYS layer path and RYS constraints."""
    from ..builder.inspect import describe_model
    from ..gguffile.reader import GGUFModel

    with GGUFModel(file) as model:
        info = describe_model(model)
    if as_json:
        echo(json.dumps(info))
        return
    echo(format_inspect(info))


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


COMMANDS = [
    Command(
        "build",
        build_command,
        "Build an RYS model: copy SRC with the layers of CONFIG (byte-exact, streaming).",
        (
            argument("src", "Source GGUF (or the first shard of a split model).", type=Path),
            argument("dst", "Output GGUF.", type=Path),
            CONFIG,
            FORCE,
            option(
                "--split-max-size",
                help="Write shards of at most this size (e.g. 50G, 500M), named as gguf-split does.",
            ),
            SWA_PATTERN,
            ALLOW_UNKNOWN,
            QUIET,
        ),
    ),
    Command(
        "inspect",
        inspect_command,
        "Show a GGUF's architecture, layers, tensors, RYS layer path and RYS constraints.",
        (
            argument("file", "A GGUF file (or the first shard of a split model).", type=Path),
            switch("--json", help="Print one JSON object.")(dest="as_json"),
        ),
    ),
]
