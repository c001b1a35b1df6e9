"""The version of rys-gguf, recorded in every sweep and result row."""

__version__ = "0.1.0"
