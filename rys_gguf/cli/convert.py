"""``rys-gguf convert`` (HuggingFace folder → quantized RYS GGUF) and ``rys-gguf quantize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..convert.types import OUTTYPES, QUANT_TYPES
from .options import AllowUnknown, Force, Imatrix, OptionalConfig, Quiet, SwaPattern
from .progress import LazyBar, StageBars

QUANT_HELP = "llama.cpp quantization type: " + ", ".join(QUANT_TYPES) + "."


def convert_command(
    hf_dir: Annotated[Path, typer.Argument(help="HuggingFace model folder (config.json, weights).")],
    out: Annotated[Path, typer.Argument(help="Output GGUF.")],
    config: OptionalConfig = None,
    outtype: Annotated[str, typer.Option("--outtype", help=f"Converter output type: {'|'.join(OUTTYPES)}.")] = "auto",
    quantize_type: Annotated[str | None, typer.Option("--quantize", help=QUANT_HELP)] = None,
    imatrix: Imatrix = None,
    converter: Annotated[
        Path | None,
        typer.Option(
            "--converter",
            help="A llama.cpp checkout to convert with (default: the converter of the installed "
            "llama-cpp-python, fetched once from its PyPI source).",
        ),
    ] = None,
    force: Force = False,
    write_swa_pattern: SwaPattern = False,
    allow_unknown_arch: AllowUnknown = False,
    quiet: Quiet = False,
) -> None:
    """Convert a HuggingFace model to GGUF, quantize it, then duplicate the CONFIG layers."""
    from ..builder.layout import BuildOptions
    from ..convert.pipeline import convert_hf
    from ..files import format_bytes

    with StageBars(quiet) as bars:
        result = convert_hf(
            hf_dir,
            out,
            outtype=outtype,
            quant_type=quantize_type,
            imatrix=imatrix,
            spec=config,
            converter=converter,
            force=force,
            options=BuildOptions(write_swa_pattern=write_swa_pattern, allow_unknown_arch=allow_unknown_arch),
            on_stage=bars.start,
            progress=bars.update,
        )
    what = result.quant_type or result.outtype
    rys = f", RYS {result.spec}" if result.spec else ""
    typer.echo(f"{result.path}: {what}{rys}, {format_bytes(result.n_bytes)}")


def quantize_command(
    src: Annotated[Path, typer.Argument(help="Input GGUF (f32, f16 or bf16).")],
    dst: Annotated[Path, typer.Argument(help="Output GGUF.")],
    quant_type: Annotated[str, typer.Option("--type", "-t", help=QUANT_HELP)],
    imatrix: Imatrix = None,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads (0: all cores).")] = 0,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Quantize a GGUF with llama.cpp (llama_model_quantize)."""
    from ..convert.quantize import quantize
    from ..files import format_bytes
    from ..gguffile.reader import GGUFModel

    with GGUFModel(src) as model:
        n_tensors = len(model.tensors)
    with LazyBar(quiet, total=n_tensors, unit="tensor") as bar:
        result = quantize(src, dst, quant_type, imatrix=imatrix, force=force, n_threads=threads, progress=bar.update)
    extra = f", imatrix {result.n_imatrix_entries} entries" if result.n_imatrix_entries else ""
    typer.echo(f"{result.path}: {result.quant_type}{extra}, {format_bytes(result.n_bytes)}")
