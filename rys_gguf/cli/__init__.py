"""The ``rys-gguf`` command line (typer): the only code that prints, exits or draws progress bars.

``entry`` holds the app and the one error boundary (`main`), ``options`` every shared parameter
and the option families a command receives as one value, ``helpformat`` writes ``--help`` with a
section per family, ``progress`` turns a job's callbacks into bars and lines, and one module per
job declares its commands: ``build`` (build, inspect), ``convert`` (convert, quantize), ``scan``
(scan, merge, stack), ``report`` (report, replay), ``prove`` (validate, eval), ``ship`` (verify,
ollama, lmstudio). Command modules import the library inside the commands, so start-up stays fast.
"""

from __future__ import annotations

from .entry import app, main, run

__all__ = ["app", "main", "run"]
