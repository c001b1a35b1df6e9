"""The ``rys-gguf`` command line: the only code that prints, exits or draws progress bars.

``app`` holds the application and its error boundary, ``options`` every shared option, and one
module per job defines its commands: ``build`` (build, inspect), ``convert`` (convert,
quantize), ``scan`` (scan, merge), ``report``, ``prove`` (validate), ``ship`` (verify, ollama,
lmstudio). Command modules import the library inside the commands, so start-up stays fast.
"""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
