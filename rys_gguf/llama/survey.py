"""Ask the installed llama.cpp, in a short-lived child process: its devices and their free
memory, and how many tokens prompts take.

A child, because asking a CUDA build about its GPUs (``ggml_backend_dev_memory``, or loading
any model) creates a CUDA context on each GPU, a few hundred MB that stay taken as long as the
process lives: the scan's own process must not hold them while its workers need the memory.
The child loads the vocabulary only (no weights), renders each prompt with the GGUF's chat
template exactly as the worker does, tokenizes it, and exits.

Devices come from ggml's backend registry (``ggml_backend_dev_count``/``_get``/``_memory``,
reached through llama-cpp-python's handle on libggml); llama-cpp-python itself exposes only
``llama_supports_gpu_offload``. A CPU-only build lists the CPU alone.

Run as ``python -m rys_gguf.llama.survey`` with a JSON request on stdin.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEVICE_KINDS = ("cpu", "gpu", "igpu", "accel", "meta")  # enum ggml_backend_dev_type
GPU_BACKENDS = ("cuda", "hip", "vulkan", "metal", "sycl", "opencl", "musa", "cann")
TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Device:
    """One ggml backend device."""

    name: str  # "CUDA0", "CPU"
    description: str  # "NVIDIA H200"
    kind: str  # one of DEVICE_KINDS
    free: int
    total: int


@dataclass(frozen=True, slots=True)
class Survey:
    """What the child found; ``error`` says why a part is missing."""

    devices: tuple[Device, ...] = ()
    n_tokens: tuple[int, ...] | None = None
    error: str | None = None

    @property
    def gpus(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.kind in ("gpu", "igpu"))


def native_libraries() -> list[Path]:
    """llama-cpp-python's native libraries (libllama, libggml-*), found without importing them."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    return sorted(lib.iterdir()) if lib.is_dir() else []


def gpu_backend_installed() -> bool:
    """Whether llama-cpp-python was built with a GPU backend: a libggml-<gpu> library beside
    it (found without importing it, so without starting a GPU)."""
    names = [p.name.lower() for p in native_libraries() if "ggml-" in p.name.lower()]
    return any(f"ggml-{backend}" in name for name in names for backend in GPU_BACKENDS)


def survey(
    model: Path | None = None,
    prompts: Sequence[tuple[str | None, str]] = (),
    *,
    no_think: bool = False,
    devices: bool = True,
) -> Survey:
    """Ask a child process; a failure (no llama.cpp here, a crash) comes back as ``error``."""
    request = {
        "model": str(model) if model else None,
        "prompts": [list(p) for p in prompts],
        "no_think": no_think,
        "devices": devices,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rys_gguf.llama.survey"],
            input=json.dumps(request), capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        return Survey(error=f"llama.cpp could not be asked ({e})")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Survey(error=f"llama.cpp could not be asked ({tail[:200]})")
    out = json.loads(lines[-1])
    return Survey(
        tuple(Device(**d) for d in out["devices"]),
        tuple(out["n_tokens"]) if out["n_tokens"] is not None else None,
        out["error"],
    )


# -- the child ------------------------------------------------------------------------------


def _devices() -> list[dict[str, Any]]:
    from llama_cpp._ggml import libggml

    libggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    libggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    libggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    for fn in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(libggml, fn).argtypes = [ctypes.c_void_p]
        getattr(libggml, fn).restype = ctypes.c_char_p
    libggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    libggml.ggml_backend_dev_type.restype = ctypes.c_int
    size_p = ctypes.POINTER(ctypes.c_size_t)
    libggml.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, size_p, size_p]
    libggml.ggml_backend_dev_memory.restype = None
    found = []
    for i in range(libggml.ggml_backend_dev_count()):
        dev = libggml.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        libggml.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        kind = libggml.ggml_backend_dev_type(dev)
        found.append(
            {
                "name": libggml.ggml_backend_dev_name(dev).decode(errors="replace"),
                "description": libggml.ggml_backend_dev_description(dev).decode(errors="replace"),
                "kind": DEVICE_KINDS[kind] if 0 <= kind < len(DEVICE_KINDS) else str(kind),
                "free": free.value,
                "total": total.value,
            }
        )
    return found


def _token_counts(model_path: str, prompts: list[list[Any]], no_think: bool) -> list[int]:
    """Tokens of each rendered prompt, as the worker's engine counts them (BOS included)."""
    import llama_cpp

    from . import logs
    from .chat import render_prompt

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with logs.capture() as log:
        model = llama_cpp.llama_model_load_from_file(model_path.encode(), params)
    if not model:
        raise RuntimeError(f"cannot load the vocabulary ({log.first_error() or 'no reason given'})")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        buf = ctypes.create_string_buffer(1 << 20)
        n = llama_cpp.llama_model_meta_val_str(model, b"tokenizer.chat_template", buf, len(buf))
        template = buf.value.decode("utf-8", errors="replace") if n >= 0 else None

        def text(token: int) -> str:
            return "" if token < 0 else bytes(llama_cpp.llama_vocab_get_text(vocab, token)).decode("utf-8", "replace")

        bos, eos = text(llama_cpp.llama_vocab_bos(vocab)), text(llama_cpp.llama_vocab_eos(vocab))
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        counts = []
        for system, user in prompts:
            raw = render_prompt(template, system, user, bos_token=bos, eos_token=eos, no_think=no_think).encode()
            room = len(raw) + 8
            tokens = (llama_cpp.llama_token * room)()
            counts.append(int(llama_cpp.llama_tokenize(vocab, raw, len(raw), tokens, room, add_bos, True)))
        return counts
    finally:
        llama_cpp.llama_model_free(model)


def main() -> int:
    request = json.loads(sys.stdin.read())
    out: dict[str, Any] = {"devices": [], "n_tokens": None, "error": None}
    try:
        if request.get("devices"):
            out["devices"] = _devices()
        if request.get("model"):
            out["n_tokens"] = _token_counts(request["model"], request["prompts"], request.get("no_think", False))
    except Exception as e:  # report any failure as data; the caller falls back
        out["error"] = f"{type(e).__name__}: {e}"
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
