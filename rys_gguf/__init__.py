"""rys-gguf: make RYS ("Repeat Your Self") GGUF models and find their best layer block."""

from __future__ import annotations

__version__ = "0.1.0"
