"""The ``rys-gguf`` command line: the only code that prints, exits or draws progress bars.

``app`` holds the parser and the one error boundary, ``command`` the declaration of a command,
``options`` every shared parameter, ``progress`` the bars and lines, and one module per job declares
its commands (``search``: replay and stack): ``build``
(build, inspect), ``convert`` (convert, quantize), ``scan`` (scan, merge), ``report``,
``prove`` (validate), ``ship`` (verify, ollama, lmstudio). Command modules import the library
inside the commands, so start-up stays fast.
"""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
