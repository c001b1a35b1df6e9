"""Every parameter more than one command takes, declared once (flags, help, type), and the
parsers for values argparse cannot type itself (sizes, number lists, ranges).

Short flags mean one thing everywhere: -c config, -o out, -q quiet, -k top, -n name, -t type,
-m metric, -p publisher, -ngl GPU layers.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OptionError
from .command import Group, argument, option, switch

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions

# -- value parsers (errors are one line, exit code 2) ---------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


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


def parse_memory(text: str | None) -> tuple[int, ...] | None:
    """'24G,24G' -> bytes per device; 'none' -> () (no check); None or 'auto' -> None (detect)."""
    if text is None or text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return ()
    return tuple(parse_size(part, "--memory") for part in text.split(","))


def parse_range(text: str | None) -> tuple[int, int] | None:
    """'a:b' -> (a, b) with a < b."""
    if not text:
        return None
    a, sep, b = text.partition(":")
    if not sep or not a.isdigit() or not b.isdigit() or int(a) >= int(b):
        raise OptionError(f"--start {text!r}: expected a:b with a < b (block starts a <= i < b)")
    return int(a), int(b)


# -- shared parameters ----------------------------------------------------------------------

PLAN_HELP = "Layer plan: 'i,j' (layers i..j-1 run twice), 'i,j;k,l' (several blocks) or 'layers:0,1,...'."

CONFIG = option("--config", "-c", help=PLAN_HELP, required=True)
OPTIONAL_CONFIG = option("--config", "-c", help=PLAN_HELP + " Without it, no layer is duplicated.")
FORCE = switch("--force", help="Overwrite the output if it exists.")
QUIET = switch("--quiet", "-q", help="No progress bar.")
SWA_PATTERN = switch(
    "--write-swa-pattern",
    help="Sliding-window families: allow any block size by writing each layer's SWA flag as an "
    "array (honoured by new llama.cpp; older runtimes such as current Ollama ignore it).",
)
ALLOW_UNKNOWN = switch("--allow-unknown-arch", help="Treat an architecture missing from the rules table as plain.")
IMATRIX = option("--imatrix", help="Importance matrix (llama-imatrix output, GGUF or .dat).", type=Path)
MODEL = argument("model", "The GGUF (or the first shard of a split model).", type=Path)
SWEEP = argument("directory", "A sweep folder made by rys-gguf scan.", type=Path, metavar="DIR")
TOP = option("--top", "-k", help="Configs in the top table.", type=positive_int, default=10)
NO_PNG = switch("--no-png", help="Skip the PNG heatmaps (no matplotlib).")
N_MATH = option("--n-math", help="Use only N math items, evenly spaced over the set's kinds.", type=positive_int)
N_EQ = option("--n-eq", help="Use only the first N EQ items.", type=positive_int)
MIN_PARSE_RATE = option(
    "--min-parse-rate", help="Stop when the baseline parses fewer answers than this share.", type=float, default=0.5
)

# llama.cpp runtime options (scan, validate, verify).
N_GPU_LAYERS = option("--n-gpu-layers", "-ngl", help="Layers to offload to the GPU(s); -1 = all.", type=int, default=-1)
SPLIT_MODE = option("--split-mode", help="How to spread one model over GPUs: none, layer or row.", default="layer")
TENSOR_SPLIT = option("--tensor-split", help="Share of the model per GPU, e.g. 1,1 for two equal GPUs.")
MAIN_GPU = option("--main-gpu", help="GPU for the model (split-mode none) or scratch results.", type=int, default=0)
N_CTX = option("--n-ctx", help="Context size; 0 sizes it for all probe prompts at once.", type=int, default=0)
THREADS = option("--threads", help="CPU threads (default: all cores).", type=positive_int)
FLASH_ATTN = switch("--flash-attn", help="Use flash attention.")
MEMORY = option(
    "--memory",
    help="Memory per device, e.g. 24G,24G: what cannot fit is skipped (a scan's configs) or refused, never "
    "loaded. Default auto: each GPU's free memory as llama.cpp reports it (no check without GPU offload); "
    "none: no check.",
)
CPU_REPACK = option(
    "--cpu-repack",
    help="Let llama.cpp repack CPU weights for the CPU's matrix units: auto (tried once per llama.cpp build "
    "and CPU; off where it crashes, as on CPUs with AMX), on or off. Default: $RYS_CPU_REPACK, else auto.",
    choices=("auto", "on", "off"),
)
NO_THINK = switch("--no-think", help="Thinking models: '/no_think' and a closed think block before each answer.")


def runtime_options(
    n_gpu_layers: int,
    split_mode: str,
    tensor_split: str | None,
    main_gpu: int,
    threads: int | None,
    flash_attn: bool,
    cpu_repack: str | None,
    n_ctx: int = 0,
    no_think: bool = False,
) -> RuntimeOptions:
    """The llama.cpp runtime options from their command-line values; says once what the CPU
    repacking policy does when it is not llama.cpp's own behaviour."""
    from ..llama.cpu_repack import resolve
    from ..llama.options import RuntimeOptions
    from .progress import echo

    runtime = RuntimeOptions(
        n_gpu_layers=n_gpu_layers, split_mode=split_mode, tensor_split=parse_floats(tensor_split, "--tensor-split"),
        main_gpu=main_gpu, n_ctx=n_ctx, n_threads=threads, flash_attn=flash_attn, no_think=no_think,
        cpu_repack=cpu_repack,
    )  # fmt: skip
    if note := resolve(cpu_repack).note:
        echo(f"rys-gguf: note: {note}", err=True)
    return runtime


# The command function receives them as one value, ``runtime``.
RUNTIME = Group(
    "runtime", (N_GPU_LAYERS, SPLIT_MODE, TENSOR_SPLIT, MAIN_GPU, THREADS, FLASH_ATTN, CPU_REPACK), runtime_options
)
