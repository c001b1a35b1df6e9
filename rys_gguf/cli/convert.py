"""``rys-gguf convert`` (HuggingFace folder → quantized RYS GGUF) and ``rys-gguf quantize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from ..convert import OUTTYPES, convert_hf
from ..gguffile import GGUFModel
from ..quantize import QUANT_TYPES, quantize
from ..rewrite import BuildOptions
from . import LazyBar, command
from .build import AllowUnknown, Quiet, SwaArray, human

Imatrix = Annotated[
    Path | None,
    typer.Option("--imatrix", help="Importance matrix (llama-imatrix output, GGUF or .dat)."),
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite the output if it exists.")]
QUANT_HELP = "llama.cpp quantization type: " + ", ".join(QUANT_TYPES) + "."


class StageBars:
    """One tqdm bar per pipeline stage, numbered as they start."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: tqdm[None] | None = None
        self.n = 0

    def start(self, text: str, total: int) -> None:
        self.close()
        self.n += 1
        if self.quiet:
            return
        typer.echo(f"[{self.n}] {text}", err=True)
        if total > 0:
            unit = "B" if total > 10**5 else "it"
            self.bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@command("convert")
def convert_command(
    hf_dir: Annotated[Path, typer.Argument(help="HuggingFace model folder (config.json, weights).")],
    out: Annotated[Path, typer.Argument(help="Output GGUF.")],
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="RYS layer plan ('i,j', 'i,j;k,l' or 'layers:...')."),
    ] = None,
    outtype: Annotated[
        str,
        typer.Option("--outtype", help=f"Converter output type: {'|'.join(OUTTYPES)}."),
    ] = "auto",
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
    write_swa_pattern: SwaArray = False,
    allow_unknown_arch: AllowUnknown = False,
    quiet: Quiet = False,
) -> None:
    """Convert a HuggingFace model to GGUF, quantize it, then duplicate the CONFIG layers."""
    bars = StageBars(quiet)
    try:
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
    finally:
        bars.close()
    what = result.quant_type or result.outtype
    rys = f", RYS {result.spec}" if result.spec else ""
    typer.echo(f"{result.path}: {what}{rys}, {human(result.n_bytes)}")


@command("quantize")
def quantize_command(
    src: Annotated[Path, typer.Argument(help="Input GGUF (f32, f16 or bf16).")],
    dst: Annotated[Path, typer.Argument(help="Output GGUF.")],
    quant_type: Annotated[str, typer.Option("--type", "-t", help=QUANT_HELP)],
    imatrix: Imatrix = None,
    threads: Annotated[int, typer.Option("--threads", help="Threads (0: all cores).")] = 0,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Quantize a GGUF with llama.cpp (llama_model_quantize)."""
    with GGUFModel(src) as model:
        n_tensors = len(model.tensors)
    with LazyBar(quiet, unit="tensor") as bar:
        result = quantize(
            src, dst, quant_type, imatrix=imatrix, force=force, n_threads=threads,
            progress=lambda n: bar.update(n, total=n_tensors),
        )  # fmt: skip
    extra = f", imatrix {result.n_imatrix_entries} entries" if result.n_imatrix_entries else ""
    typer.echo(f"{result.path}: {result.quant_type}{extra}, {human(result.n_bytes)}")
