"""rys-gguf: make RYS ("Repeat Your Self") GGUF models and find their best layer block.

The public API, imported on first use so that ``import rys_gguf`` (and the CLI's start) stays
fast: nothing heavy loads until a function is called.

    from rys_gguf import build, parse_plan, run_scan, ScanOptions, load_probe_set
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

# name -> module that defines it
_API = {
    "build": "builder.job", "BuildOptions": "builder.layout", "BuildResult": "builder.job",
    "describe_model": "builder.inspect", "parse_plan": "plan", "LayerPlan": "plan", "GGUFModel": "gguffile.reader",
    "convert_hf": "convert.pipeline", "quantize": "convert.quantize",
    "RuntimeOptions": "llama.options", "open_model": "llama.runner",
    "load_probe_set": "probes", "ProbeSpec": "probes",
    "run_scan": "scan.sweep", "ScanOptions": "scan.options", "GridSpec": "scan.grid",
    "write_report": "report.write", "run_validation": "prove.validate",
    "verify_model": "ship.verify", "prepare_ollama": "ship.ollama", "export_lmstudio": "ship.lmstudio",
    "RysError": "errors",
}  # fmt: skip
__all__ = [
    "BuildOptions",
    "BuildResult",
    "GGUFModel",
    "GridSpec",
    "LayerPlan",
    "ProbeSpec",
    "RuntimeOptions",
    "RysError",
    "ScanOptions",
    "__version__",
    "build",
    "convert_hf",
    "describe_model",
    "export_lmstudio",
    "load_probe_set",
    "open_model",
    "parse_plan",
    "prepare_ollama",
    "quantize",
    "run_scan",
    "run_validation",
    "verify_model",
    "write_report",
]

if TYPE_CHECKING:
    from .builder.inspect import describe_model
    from .builder.job import BuildResult, build
    from .builder.layout import BuildOptions
    from .convert.pipeline import convert_hf
    from .convert.quantize import quantize
    from .errors import RysError
    from .gguffile.reader import GGUFModel
    from .llama.options import RuntimeOptions
    from .llama.runner import open_model
    from .plan import LayerPlan, parse_plan
    from .probes import ProbeSpec, load_probe_set
    from .prove.validate import run_validation
    from .report.write import write_report
    from .scan.grid import GridSpec
    from .scan.options import ScanOptions
    from .scan.sweep import run_scan
    from .ship.lmstudio import export_lmstudio
    from .ship.ollama import prepare_ollama
    from .ship.verify import verify_model


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'rys_gguf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
