"""``rys-gguf convert`` (HuggingFace folder → quantized RYS GGUF) and ``rys-gguf quantize``."""

from __future__ import annotations

from pathlib import Path

from ..convert.types import OUTTYPES, QUANT_TYPES
from ..untrusted import safe_line
from .command import Command, argument, option, switch
from .options import ALLOW_UNKNOWN, FORCE, IMATRIX, OPTIONAL_CONFIG, QUIET, SWA_PATTERN, THREADS
from .progress import LazyBar, StageBars, echo

QUANT_HELP = "llama.cpp quantization type: " + ", ".join(QUANT_TYPES) + "."


def convert_command(
    hf_dir: Path,
    out: Path,
    config: str | None,
    outtype: str,
    quantize_type: str | None,
    imatrix: Path | None,
    converter: Path | None,
    force: bool,
    write_swa_pattern: bool,
    allow_unknown_arch: bool,
    trust_remote_code: bool,
    allow_pickle: bool,
    quiet: bool,
) -> None:
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
            trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle,
            on_stage=bars.start,
            progress=None if quiet else bars.update,
        )
    what = result.quant_type or result.outtype
    rys = f", RYS {result.spec}" if result.spec else ""
    echo(f"{safe_line(result.path)}: {what}{rys}, {format_bytes(result.n_bytes)}")


def quantize_command(
    src: Path, dst: Path, quant_type: str, imatrix: Path | None, threads: int | None, force: bool, quiet: bool
) -> None:
    from ..convert.quantize import quantize
    from ..files import format_bytes
    from ..gguffile.reader import GGUFModel

    with GGUFModel(src) as model:
        n_tensors = len(model.tensors)
    with LazyBar(quiet, total=n_tensors, unit="tensor") as bar:
        result = quantize(
            src, dst, quant_type, imatrix=imatrix, force=force, n_threads=threads or 0, progress=bar.update
        )
    extra = f", imatrix {result.n_imatrix_entries} entries" if result.n_imatrix_entries else ""
    echo(f"{safe_line(result.path)}: {result.quant_type}{extra}, {format_bytes(result.n_bytes)}")


COMMANDS = [
    Command(
        "convert",
        convert_command,
        "Convert a HuggingFace model to GGUF, quantize it, then duplicate the CONFIG layers.",
        (
            argument("hf_dir", "HuggingFace model folder (config.json, weights).", type=Path),
            argument("out", "Output GGUF.", type=Path),
            OPTIONAL_CONFIG,
            option("--outtype", help=f"Converter output type: {'|'.join(OUTTYPES)}.", default="auto"),
            option("--quantize", help=QUANT_HELP, dest="quantize_type"),
            IMATRIX,
            option(
                "--converter",
                help="A llama.cpp checkout to convert with (default: the converter of the installed "
                "llama-cpp-python, fetched once from its PyPI source).",
                type=Path,
            ),
            FORCE,
            SWA_PATTERN,
            ALLOW_UNKNOWN,
            switch(
                "--trust-remote-code",
                help="Convert a folder that carries Python files or an auto_map: llama.cpp's converter may then "
                "let transformers import and run that code.",
            ),
            switch(
                "--allow-pickle",
                help="Convert pickled weights (pytorch_model*.bin, *.pt), loaded with torch's restricted "
                "unpickler (torch.load weights_only=True, torch >= 2.6).",
            ),
            QUIET,
        ),
    ),
    Command(
        "quantize",
        quantize_command,
        "Quantize a GGUF with llama.cpp (llama_model_quantize).",
        (
            argument("src", "Input GGUF (f32, f16 or bf16).", type=Path),
            argument("dst", "Output GGUF.", type=Path),
            option("--type", "-t", help=QUANT_HELP, required=True, dest="quant_type"),
            IMATRIX,
            THREADS,
            FORCE,
            QUIET,
        ),
    ),
]
