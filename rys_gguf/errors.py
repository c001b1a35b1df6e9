"""The project's exceptions: every failure a user can cause is a RysError with a one-line message."""

from __future__ import annotations


class RysError(Exception):
    """Base class: the CLI prints the message on one line and exits with code 2."""


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
    """A sweep cannot start or continue (another sweep in DIR, lock held, ...)."""


class ConvertError(RysError):
    """HuggingFace conversion or quantization failed."""
