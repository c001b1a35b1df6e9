"""Child processes that must not outlive rys-gguf (workers, the HF converter)."""

from __future__ import annotations

import contextlib
import signal


def die_with_parent() -> None:
    """Run in the child (``preexec_fn``): get SIGKILL when the parent dies, even by kill -9 (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
