"""Every option more than one command takes, declared once (flag, short flag, help), and the
parsers for values typer cannot type: sizes, number lists, ranges.

Short flags mean one thing everywhere: -c config, -o out, -q quiet, -k top, -n name, -t type,
-m metric, -p publisher, -ngl GPU layers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ..errors import OptionError

PLAN_HELP = "Layer plan: 'i,j' (layers i..j-1 run twice), 'i,j;k,l' (several blocks) or 'layers:0,1,...'."

Config = Annotated[str, typer.Option("--config", "-c", help=PLAN_HELP)]
OptionalConfig = Annotated[
    str | None, typer.Option("--config", "-c", help=PLAN_HELP + " Without it, no layer is duplicated.")
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite the output if it exists.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
SwaPattern = Annotated[
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
Imatrix = Annotated[
    Path | None, typer.Option("--imatrix", help="Importance matrix (llama-imatrix output, GGUF or .dat).")
]
ModelArg = Annotated[Path, typer.Argument(help="The GGUF (or the first shard of a split model).")]
SweepArg = Annotated[Path, typer.Argument(metavar="DIR", help="A sweep folder made by rys-gguf scan.")]
Top = Annotated[int, typer.Option("--top", "-k", min=1, help="Configs in the top table.")]
NoPng = Annotated[bool, typer.Option("--no-png", help="Skip the PNG heatmaps (no matplotlib).")]

# llama.cpp runtime options (scan, validate, verify).
NGpu = Annotated[int, typer.Option("--n-gpu-layers", "-ngl", help="Layers to offload to the GPU(s); -1 = all.")]
SplitMode = Annotated[str, typer.Option("--split-mode", help="How to spread one model over GPUs: none, layer or row.")]
TensorSplit = Annotated[
    str | None, typer.Option("--tensor-split", help="Share of the model per GPU, e.g. 1,1 for two equal GPUs.")
]
MainGpu = Annotated[int, typer.Option("--main-gpu", help="GPU for the model (split-mode none) or scratch results.")]
NCtx = Annotated[int, typer.Option("--n-ctx", help="Context size; 0 sizes it for all probe prompts at once.")]
Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads (default: all cores).")]
FlashAttn = Annotated[bool, typer.Option("--flash-attn", help="Use flash attention.")]
NoThink = Annotated[
    bool, typer.Option("--no-think", help="Thinking models: '/no_think' and a closed think block before each answer.")
]


def parse_size(text: str, option: str = "--split-max-size") -> int:
    """'50G' -> 50e9 bytes (decimal units, like gguf-split); plain integers are bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise OptionError(f"{option} {text!r}: expected a size like 50G or 500M")
    scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}[m[2].upper()]
    return int(float(m[1]) * scale)


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """'1,1' -> (1.0, 1.0); None or '' -> None."""
    if not text:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise OptionError(f"{option} {text!r}: expected numbers separated by commas, e.g. 1,1") from None


def parse_range(text: str | None) -> tuple[int, int] | None:
    """'a:b' -> (a, b) with a < b."""
    if not text:
        return None
    a, sep, b = text.partition(":")
    if not sep or not a.isdigit() or not b.isdigit() or int(a) >= int(b):
        raise OptionError(f"--start {text!r}: expected a:b with a < b (block starts a <= i < b)")
    return int(a), int(b)
