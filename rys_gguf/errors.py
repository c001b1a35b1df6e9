"""Every exception rys-gguf raises on purpose: a RysError subclass with a one-line message.

Messages name the file (or option) at fault, what was expected and how to fix it. The CLI's one
error boundary (``rys_gguf.cli.app``) prints the message and exits with code 2; see the README's
"Exit codes" for why usage errors share that code.
"""

from __future__ import annotations


class RysError(Exception):
    """Base class: the CLI prints the message on one line and exits with code 2."""


class OptionError(RysError):
    """A command-line value is malformed (a size, a list of numbers, a range)."""


class GGUFFormatError(RysError):
    """A file is not a valid GGUF (or is truncated, or has absurd counts)."""


class PlanError(RysError):
    """A layer plan (config spec) is malformed or out of range."""


class ArchitectureError(RysError):
    """The architecture rules refuse this plan for this model."""


class OutputError(RysError):
    """The destination cannot be written (exists, equals the source, disk full, ...)."""


class ProbeError(RysError):
    """A probe set is unreadable or malformed, or a probe run cannot be scored."""


class ScanError(RysError):
    """A sweep cannot start or continue (another sweep in DIR, a bad sweep folder, ...)."""


class LlamaError(ScanError):
    """llama.cpp cannot load or run a model (bad file, no memory, bad runtime options, ...).

    A ScanError subclass because version 0.1 raised ScanError for these: code that catches
    ScanError keeps working, and code that wants llama.cpp failures alone catches this.
    """


class ConvertError(RysError):
    """HuggingFace conversion or quantization failed."""


class ExportError(RysError):
    """Ollama or LM Studio export cannot proceed (no ollama binary, links across filesystems...)."""


class VerifyError(RysError):
    """The two files cannot be compared (not an RYS model, or SRC is itself one)."""


class MemoryBudgetError(RysError):
    """A model cannot fit the memory budget (--memory, or the GPUs' free memory llama.cpp reports)."""
