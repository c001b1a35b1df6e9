"""HuggingFace model folder → (quantized) RYS GGUF: convert → quantize → duplicate.

``convert_hf`` checks everything it can before the long steps (the folder, the plan, the output,
the Python modules the converter imports, the disk space), then chains llama.cpp's converter,
llama.cpp's quantizer and the RYS build in a work folder beside the output. The repeated layers
are duplicated after quantizing, so they stay bit-identical.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..builder.job import PreparedBuild
from ..builder.layout import BuildOptions, layout_for_plan
from ..builder.source import model_constraints
from ..errors import ConvertError, GGUFFormatError
from ..events import OnEvent, Progress, Stage, emit
from ..files import check_destination, remove_stale_partials, temp_path
from ..gguffile.reader import GGUFModel
from ..plan import parse_blocks, parse_plan
from .consent import check_consent
from .converter import fetch_converter, open_converter, run_converter
from .hf import check_modules, check_space, estimate_bytes, read_hf_dir
from .quantize import QuantizeOptions, quantize, read_imatrix
from .types import OUTTYPES, check_quant_type


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What convert_hf wrote."""

    path: Path
    n_bytes: int
    outtype: str
    quant_type: str | None
    spec: str | None


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """What ``convert_hf`` makes of a model folder.

    ``config``: an RYS plan (``i,j``, ``i,j;k,l`` or ``layers:...``), None for a plain GGUF.
    ``outtype``: the converter's output type (``OUTTYPES``); quantizing needs a float type.
    ``quantize``: a llama.cpp quantization type (e.g. ``Q4_K_M``), None to keep ``outtype``;
    ``imatrix`` an importance matrix for it. ``converter``: a llama.cpp checkout instead of the
    converter matching the installed llama-cpp-python. ``build``: the RYS build's options, its
    ``force`` overwriting the output. ``trust_remote_code`` converts a folder that carries Python
    files or an ``auto_map`` (the converter may let transformers run them); ``allow_pickle``
    converts pickled weights (torch's restricted unpickler). Both are refused otherwise.
    """

    config: str | None = None
    outtype: str = "auto"
    quantize: str | None = None
    imatrix: Path | None = None
    converter: Path | None = None
    build: BuildOptions = BuildOptions()
    trust_remote_code: bool = False
    allow_pickle: bool = False


def convert_hf(
    hf_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: ConvertOptions = ConvertOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> ConvertResult:
    """Convert a HuggingFace folder to GGUF, then quantize, then apply the RYS plan.

    Args:
        hf_dir: the model folder (config.json, weights, tokenizer files).
        out: the GGUF to write; refused if it exists unless ``options.build.force``.
        options: the config, output and quantization types, consent for code and pickles.
        progress: the steps done since the last call, within the current stage; None also
            keeps the converter from drawing its own progress bar.
        on_event: a `Stage` as each step starts (fetch the converter, convert, quantize, build).

    Raises:
        ConvertError, OutputError, PlanError: one-line messages; nothing is left behind.
    """
    hf_dir, out = Path(hf_dir), Path(out)
    o = options
    imatrix = Path(o.imatrix) if o.imatrix is not None else None
    if o.outtype not in OUTTYPES:
        raise ConvertError(f"unknown --outtype {o.outtype!r}; choose one of: {', '.join(OUTTYPES)}")
    qtype = check_quant_type(o.quantize) if o.quantize else None
    if qtype and o.outtype == "q8_0":
        raise ConvertError("--quantize needs a float --outtype (f32, f16, bf16 or auto), not q8_0")
    if imatrix is not None and qtype is None:
        raise ConvertError("--imatrix needs --quantize TYPE")
    if imatrix is not None and not imatrix.is_file():
        raise ConvertError(f"imatrix {imatrix} does not exist")
    if imatrix is not None:
        read_imatrix(imatrix)  # a broken file fails now, not after a long conversion
    model = read_hf_dir(hf_dir)
    check_consent(hf_dir, model.weight_files, trust_remote_code=o.trust_remote_code, allow_pickle=o.allow_pickle)
    spec = o.config
    n_extra = 0
    if spec is not None:
        # Catch a typo now, not after a long conversion; the rewrite checks again on the GGUF.
        if model.n_layers:
            n_extra = parse_plan(spec, model.n_layers).n_extra
        elif not spec.strip().startswith("layers:"):
            parse_blocks(spec)
    check_destination(out, (), o.build.force)
    checkout = open_converter(Path(o.converter)) if o.converter else None
    check_modules(model)
    check_space(out.parent, estimate_bytes(model, o.outtype, qtype, n_extra))
    conv = checkout or fetch_converter(on_event=on_event)

    remove_stale_partials(out)  # work folders of converts that were killed
    tmp = temp_path(out, "work")
    try:
        tmp.mkdir()
        current = tmp / f"model-{o.outtype}.gguf"
        emit(on_event, Stage(f"converting {hf_dir.name} to GGUF ({o.outtype}) with {conv.label}", 100, "%"))
        run_converter(conv, hf_dir, current, o.outtype, progress)
        if spec is not None:
            try:
                _check_rules(current, spec, o.build)
            except GGUFFormatError as e:  # named by the output: the work folder is gone when this is read
                detail = str(e).removeprefix(f"{current}: ")
                raise ConvertError(
                    f"{out}: the converter wrote a GGUF that cannot be used ({detail}); check the free disk "
                    "space and rerun, or try another --converter"
                ) from None
        if qtype:
            quantized = tmp / f"model-{qtype}.gguf"
            quantize(current, quantized, QuantizeOptions(qtype, imatrix=imatrix), progress=progress, on_event=on_event)
            current.unlink()
            current = quantized
        if spec is not None:
            with PreparedBuild(current, out, spec, o.build) as job:
                text = f"duplicating layers ({job.plan.spec}): {job.n_layers_in} → {job.n_layers_out}"
                emit(on_event, Stage(text, job.n_bytes, "B"))
                job.write(progress)
        else:
            os.replace(current, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ConvertResult(out, out.stat().st_size, o.outtype, qtype, spec)


def _check_rules(path: Path, spec: str, options: BuildOptions) -> None:
    """The architecture's RYS rules, checked on the converted file before a long quantization."""
    with GGUFModel(path) as model:
        layout_for_plan(model, parse_plan(spec, model_constraints(model).n_layers), options)
