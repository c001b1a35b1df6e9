"""HuggingFace model folder → (quantized) RYS GGUF: convert → quantize → duplicate.

``convert_hf`` checks everything it can before the long steps (the folder, the plan, the output,
the Python modules the converter imports, the disk space), then chains llama.cpp's converter,
llama.cpp's quantizer and the RYS build in a work folder beside the output. The repeated layers
are duplicated after quantizing, so they stay bit-identical.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..builder.job import PreparedBuild
from ..builder.layout import BuildOptions, layout_for_plan
from ..builder.source import model_constraints
from ..errors import ConvertError
from ..files import Progress, check_destination, remove_stale_partials, temp_path
from ..gguffile.reader import GGUFModel
from ..plan import parse_blocks, parse_plan
from .consent import check_consent
from .converter import fetch_converter, open_converter, run_converter
from .hf import check_modules, check_space, estimate_bytes, read_hf_dir
from .quantize import quantize, read_imatrix
from .types import OUTTYPES, check_quant_type


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What convert_hf wrote."""

    path: Path
    n_bytes: int
    outtype: str
    quant_type: str | None
    spec: str | None


def convert_hf(
    hf_dir: Path,
    out: Path,
    *,
    outtype: str = "auto",
    quant_type: str | None = None,
    imatrix: Path | None = None,
    spec: str | None = None,
    converter: Path | None = None,
    force: bool = False,
    options: BuildOptions | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    on_stage: Callable[[str, int], None] | None = None,
    progress: Progress | None = None,
) -> ConvertResult:
    """Convert a HuggingFace folder to GGUF, then quantize, then apply the RYS plan ``spec``.

    Args:
        hf_dir: the model folder (config.json, weights, tokenizer files).
        out: the GGUF to write; refused if it exists unless ``force``.
        outtype: the converter's output type (``OUTTYPES``); quantizing needs a float type.
        quant_type: a llama.cpp quantization type (e.g. ``Q4_K_M``), or None to keep ``outtype``.
        imatrix: an importance matrix file for ``quant_type``.
        spec: an RYS config (``i,j``, ``i,j;k,l`` or ``layers:...``), or None for a plain GGUF.
        converter: a llama.cpp checkout to use instead of the version-matched cached converter.
        force: overwrite ``out``.
        options: RYS build options (SWA pattern arrays, unknown architectures); ``force`` wins.
        trust_remote_code: convert a folder that carries Python files or an ``auto_map``, which
            the converter may let transformers import and run (refused otherwise).
        allow_pickle: convert pickled weights (``.bin``/``.pt``), loaded with torch's restricted
            unpickler (refused otherwise).
        on_stage: called with (stage description, total steps or 0) as each stage starts.
        progress: called with the steps done since the last call, within the current stage;
            None also keeps the converter from drawing its own progress bar.

    Raises:
        ConvertError, OutputError, PlanError: one-line messages; nothing is left behind.
    """
    hf_dir, out = Path(hf_dir), Path(out)
    if outtype not in OUTTYPES:
        raise ConvertError(f"unknown --outtype {outtype!r}; choose one of: {', '.join(OUTTYPES)}")
    qtype = check_quant_type(quant_type) if quant_type else None
    if qtype and outtype == "q8_0":
        raise ConvertError("--quantize needs a float --outtype (f32, f16, bf16 or auto), not q8_0")
    if imatrix is not None and qtype is None:
        raise ConvertError("--imatrix needs --quantize TYPE")
    if imatrix is not None and not imatrix.is_file():
        raise ConvertError(f"imatrix {imatrix} does not exist")
    if imatrix is not None:
        read_imatrix(imatrix)  # a broken file fails now, not after a long conversion
    model = read_hf_dir(hf_dir)
    check_consent(hf_dir, model.weight_files, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    n_extra = 0
    if spec is not None:
        # Catch a typo now, not after a long conversion; the rewrite checks again on the GGUF.
        if model.n_layers:
            n_extra = parse_plan(spec, model.n_layers).n_extra
        elif not spec.strip().startswith("layers:"):
            parse_blocks(spec)
    check_destination(out, (), force)
    checkout = open_converter(converter) if converter else None
    check_modules(model)
    check_space(out.parent, estimate_bytes(model, outtype, qtype, n_extra))
    conv = checkout or fetch_converter(on_stage=on_stage)
    build_options = replace(options or BuildOptions(), force=force)

    def stage(text: str, total: int = 0) -> None:
        if on_stage:
            on_stage(text, total)

    remove_stale_partials(out)  # work folders of converts that were killed
    tmp = temp_path(out, "work")
    try:
        tmp.mkdir()
        current = tmp / f"model-{outtype}.gguf"
        stage(f"converting {hf_dir.name} to GGUF ({outtype}) with {conv.label}", 100)
        run_converter(conv, hf_dir, current, outtype, progress)
        if spec is not None:
            _check_rules(current, spec, build_options)
        if qtype:
            with GGUFModel(current) as m:
                n_tensors = len(m.tensors)
            stage(f"quantizing to {qtype}", n_tensors)
            quantized = tmp / f"model-{qtype}.gguf"
            quantize(current, quantized, qtype, imatrix=imatrix, progress=progress)
            current.unlink()
            current = quantized
        if spec is not None:
            with PreparedBuild(current, out, spec, build_options) as job:
                stage(f"duplicating layers ({job.plan.spec}): {job.n_layers_in} → "
                      f"{job.n_layers_out}", job.n_bytes)  # fmt: skip
                job.write(progress)
        else:
            os.replace(current, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ConvertResult(out, out.stat().st_size, outtype, qtype, spec)


def _check_rules(path: Path, spec: str, options: BuildOptions) -> None:
    """The architecture's RYS rules, checked on the converted file before a long quantization."""
    with GGUFModel(path) as model:
        layout_for_plan(model, parse_plan(spec, model_constraints(model).n_layers), options)
