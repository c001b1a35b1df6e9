"""rys-gguf: make RYS ("Repeat Your Self") GGUF models and find their best layer block.

Everything a script needs is here, imported on first use so that ``import rys_gguf`` (and the
command line's start) stays fast. Every job has one shape::

    result = job(inputs..., options=JobOptions(), *, progress=None, on_event=None)

``progress(n)`` counts units of the current stage; ``on_event`` receives `Stage`, `Note` and a
scan's `ConfigDone` (see ``rys_gguf.events``). Paths may be ``str`` or ``Path``. Errors are
`RysError` subclasses with one-line messages.

    from rys_gguf import build, run_scan, ScanOptions, write_report
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

# name -> module that defines it
_API = {
    # build: GGUF -> RYS GGUF, and what a file holds
    "build": "builder.job", "BuildOptions": "builder.layout", "BuildResult": "builder.job",
    "describe_model": "builder.inspect", "GGUFModel": "gguffile.reader",
    "parse_plan": "plan", "LayerPlan": "plan",
    # convert: HuggingFace folder -> (quantized) RYS GGUF
    "convert_hf": "convert.pipeline", "ConvertOptions": "convert.pipeline", "ConvertResult": "convert.pipeline",
    "quantize": "convert.quantize", "QuantizeOptions": "convert.quantize", "QuantizeResult": "convert.quantize",
    # scan: measure configs
    "run_scan": "scan.sweep", "ScanOptions": "scan.options", "ScanResult": "scan.sweep", "GridSpec": "scan.grid",
    "SearchSpec": "search.strategies", "RuntimeOptions": "llama.options", "ProbeSpec": "probes",
    "load_probe_set": "probes", "ProbeSet": "probes", "partial_credit": "probes.math", "open_model": "llama.runner",
    "run_stack": "scan.stack", "StackOptions": "scan.stack", "StackResult": "scan.stack",
    "merge_sweeps": "sweepfolder.merge", "MergeResult": "sweepfolder.merge",
    # report: rank a sweep, benchmark the search
    "write_report": "report.write", "ReportOptions": "report.write", "ReportSummary": "report.ranking",
    "replay": "report.replay", "ReplayOptions": "report.replay", "ReplayTable": "report.replay",
    # prove: validation on held-out sets, real benchmarks
    "run_validation": "prove.validate", "ValidateOptions": "prove.validate",
    "run_eval": "prove.eval", "EvalOptions": "prove.eval", "EvalResult": "prove.eval", "Candidate": "prove.eval",
    # ship: check it, hand it to Ollama or LM Studio
    "verify_model": "ship.verify", "VerifyOptions": "ship.verify", "VerifyReport": "ship.verify",
    "export_ollama": "ship.ollama", "OllamaOptions": "ship.ollama", "OllamaExport": "ship.ollama",
    "export_lmstudio": "ship.lmstudio", "LMStudioOptions": "ship.lmstudio", "LMStudioExport": "ship.lmstudio",
    # what jobs report while they run
    "Event": "events", "Stage": "events", "Note": "events", "ConfigDone": "scan.pool",
    # errors
    "RysError": "errors", "OptionError": "errors", "GGUFFormatError": "errors", "PlanError": "errors",
    "ArchitectureError": "errors", "OutputError": "errors", "ProbeError": "errors", "ScanError": "errors",
    "LlamaError": "errors", "ConvertError": "errors", "ExportError": "errors", "VerifyError": "errors",
    "MemoryBudgetError": "errors",
}  # fmt: skip
__all__ = [
    "ArchitectureError",
    "BuildOptions",
    "BuildResult",
    "Candidate",
    "ConfigDone",
    "ConvertError",
    "ConvertOptions",
    "ConvertResult",
    "EvalOptions",
    "EvalResult",
    "Event",
    "ExportError",
    "GGUFFormatError",
    "GGUFModel",
    "GridSpec",
    "LMStudioExport",
    "LMStudioOptions",
    "LayerPlan",
    "LlamaError",
    "MemoryBudgetError",
    "MergeResult",
    "Note",
    "OllamaExport",
    "OllamaOptions",
    "OptionError",
    "OutputError",
    "PlanError",
    "ProbeError",
    "ProbeSet",
    "ProbeSpec",
    "QuantizeOptions",
    "QuantizeResult",
    "ReplayOptions",
    "ReplayTable",
    "ReportOptions",
    "ReportSummary",
    "RuntimeOptions",
    "RysError",
    "ScanError",
    "ScanOptions",
    "ScanResult",
    "SearchSpec",
    "StackOptions",
    "StackResult",
    "Stage",
    "ValidateOptions",
    "VerifyError",
    "VerifyOptions",
    "VerifyReport",
    "__version__",
    "build",
    "convert_hf",
    "describe_model",
    "export_lmstudio",
    "export_ollama",
    "load_probe_set",
    "merge_sweeps",
    "open_model",
    "parse_plan",
    "partial_credit",
    "quantize",
    "replay",
    "run_eval",
    "run_scan",
    "run_stack",
    "run_validation",
    "verify_model",
    "write_report",
]

if TYPE_CHECKING:
    from .builder.inspect import describe_model
    from .builder.job import BuildResult, build
    from .builder.layout import BuildOptions
    from .convert.pipeline import ConvertOptions, ConvertResult, convert_hf
    from .convert.quantize import QuantizeOptions, QuantizeResult, quantize
    from .errors import (
        ArchitectureError,
        ConvertError,
        ExportError,
        GGUFFormatError,
        LlamaError,
        MemoryBudgetError,
        OptionError,
        OutputError,
        PlanError,
        ProbeError,
        RysError,
        ScanError,
        VerifyError,
    )
    from .events import Event, Note, Stage
    from .gguffile.reader import GGUFModel
    from .llama.options import RuntimeOptions
    from .llama.runner import open_model
    from .plan import LayerPlan, parse_plan
    from .probes import ProbeSet, ProbeSpec, load_probe_set
    from .probes.math import partial_credit
    from .prove.eval import Candidate, EvalOptions, EvalResult, run_eval
    from .prove.validate import ValidateOptions, run_validation
    from .report.ranking import ReportSummary
    from .report.replay import ReplayOptions, ReplayTable, replay
    from .report.write import ReportOptions, write_report
    from .scan.grid import GridSpec
    from .scan.options import ScanOptions
    from .scan.pool import ConfigDone
    from .scan.stack import StackOptions, StackResult, run_stack
    from .scan.sweep import ScanResult, run_scan
    from .search.strategies import SearchSpec
    from .ship.lmstudio import LMStudioExport, LMStudioOptions, export_lmstudio
    from .ship.ollama import OllamaExport, OllamaOptions, export_ollama
    from .ship.verify import VerifyOptions, VerifyReport, verify_model
    from .sweepfolder.merge import MergeResult, merge_sweeps


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'rys_gguf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
