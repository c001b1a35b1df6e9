"""``rys-gguf convert`` (HuggingFace folder → quantized RYS GGUF) and ``rys-gguf quantize``."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..convert.types import OUTTYPES, QUANT_TYPES
from .options import BUILD, PLAN_HELP, Force, Imatrix, Quiet, Threads, command
from .progress import Reporter, echo

if TYPE_CHECKING:
    from ..builder.layout import BuildOptions

QUANT_HELP = "llama.cpp quantization type: " + ", ".join(QUANT_TYPES) + "."
CONVERTER_HELP = (
    "A llama.cpp checkout to convert with (default: the converter of the installed llama-cpp-python, fetched "
    "once from its PyPI source)."
)
TRUST_HELP = (
    "Convert a folder that carries Python files or an auto_map: llama.cpp's converter may then let "
    "transformers import and run that code."
)
PICKLE_HELP = (
    "Convert pickled weights (pytorch_model*.bin, *.pt), loaded with torch's restricted unpickler "
    "(torch.load weights_only=True, torch >= 2.6)."
)


@command("convert", "Convert a HuggingFace model to GGUF, quantize it, then duplicate the CONFIG layers.")
def convert(
    hf_dir: Annotated[Path, typer.Argument(help="HuggingFace model folder (config.json, weights).", metavar="HF_DIR")],
    out: Annotated[Path, typer.Argument(help="Output GGUF.", metavar="OUT")],
    build: Annotated["BuildOptions", BUILD],
    config: Annotated[
        str | None, typer.Option("--config", "-c", help=PLAN_HELP + " Without it, no layer is duplicated.")
    ] = None,
    outtype: Annotated[str, typer.Option("--outtype", help=f"Converter output type: {'|'.join(OUTTYPES)}.")] = "auto",
    quantize_type: Annotated[str | None, typer.Option("--quantize", help=QUANT_HELP)] = None,
    imatrix: Imatrix = None,
    converter: Annotated[Path | None, typer.Option("--converter", help=CONVERTER_HELP)] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help=TRUST_HELP)] = False,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help=PICKLE_HELP)] = False,
    quiet: Quiet = False,
) -> None:
    """Convert a HuggingFace model to GGUF, quantize it, then duplicate the CONFIG layers."""
    from ..convert.pipeline import ConvertOptions, convert_hf
    from ..files import format_bytes
    from ..untrusted import safe_line

    options = ConvertOptions(
        config=config, outtype=outtype, quantize=quantize_type, imatrix=imatrix, converter=converter, build=build,
        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
    )  # fmt: skip
    with Reporter(quiet, numbered=True) as shown:
        # Without a progress callback the converter draws no bar of its own either.
        result = convert_hf(hf_dir, out, options, progress=None if quiet else shown.progress, on_event=shown.on_event)
    what = result.quant_type or result.outtype
    rys = f", RYS {result.spec}" if result.spec else ""
    echo(f"{safe_line(result.path)}: {what}{rys}, {format_bytes(result.n_bytes)}")


@command("quantize", "Quantize a GGUF with llama.cpp (llama_model_quantize).")
def quantize(
    src: Annotated[Path, typer.Argument(help="Input GGUF (f32, f16 or bf16).", metavar="SRC")],
    dst: Annotated[Path, typer.Argument(help="Output GGUF.", metavar="DST")],
    quant_type: Annotated[str, typer.Option("--type", "-t", help=QUANT_HELP)],
    imatrix: Imatrix = None,
    threads: Threads = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Quantize a GGUF with llama.cpp (llama_model_quantize)."""
    from ..convert.quantize import QuantizeOptions, quantize
    from ..files import format_bytes
    from ..untrusted import safe_line

    options = QuantizeOptions(quant_type, imatrix=imatrix, force=force, n_threads=threads or 0)
    with Reporter(quiet) as shown:
        result = quantize(src, dst, options, progress=shown.progress, on_event=shown.on_event)
    extra = f", imatrix {result.n_imatrix_entries} entries" if result.n_imatrix_entries else ""
    echo(f"{safe_line(result.path)}: {result.quant_type}{extra}, {format_bytes(result.n_bytes)}")


COMMANDS = [convert, quantize]
