"""Whether llama.cpp may repack the weights that stay on the CPU: a policy, and a verdict for ``auto``.

When llama.cpp loads a model, weights that stay on the CPU may be copied into "extra" buffer types
laid out for the CPU's matrix units (``use_extra_bufts`` in ``llama_model_params``): the AMX buffer
on Intel Xeons with AMX, the CPU_REPACK buffer (interleaved Q4_0, Q4_K, IQ4_NL, ...) on x86 with
AVX2 and on ARM. llama-cpp-python compiles llama.cpp for the machine it installs on, AMX included,
and on AMX CPUs the AMX matrix multiply segfaults at the first decode (llama.cpp #20824): every
load would crash. Weights offloaded to a GPU are never repacked; only CPU layers are concerned.

The policy is ``on`` (llama.cpp's default), ``off``, or ``auto``: find out once per llama.cpp
build and CPU, in a short-lived child that loads a tiny quantized model with extra buffers and
decodes. A child killed by a signal means repacking is unsafe here; the verdict is cached, and
every load after it (scan workers, validate, verify, eval, stack, the demo) passes
``use_extra_bufts = false``. The choice comes from ``--cpu-repack``, else ``$RYS_CPU_REPACK``,
else ``auto``.

``python -m rys_gguf.llama.cpu_repack`` prints the verdict; the child is ``repack_check``.
No native import here: the command line reads the verdict too.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import LlamaError, RysError
from ..events import Note, OnEvent, emit
from ..files import cache_dir, write_atomic
from .options import CPU_REPACK_CHOICES as CHOICES
from .survey import native_libraries

ENV = "RYS_CPU_REPACK"
FAULT_ENV = "RYS_CPU_REPACK_FAULT"  # =crash: the child dies as the AMX bug does (tests, on any CPU)
OK_LINE = "repacked weights decode"  # what the child prints when they do
PROBE_TIMEOUT_S = 180


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy in effect: whether loads use extra (repacked) CPU buffers, and why."""

    enabled: bool
    choice: str  # auto, on or off
    source: str  # "--cpu-repack", "$RYS_CPU_REPACK" or "default"
    reason: str
    certain: bool = True  # False: auto could not tell (no llama.cpp to ask): off, and asked again next time

    @property
    def note(self) -> str | None:
        """The line a command prints once: a choice made, or repacking found unsafe; else None."""
        if self.choice == "auto" and (self.enabled or not self.certain):
            return None
        state = "on" if self.enabled else "off"
        return f"CPU weight repacking {state} ({self.source} {self.choice}): {self.reason}"


_resolved: dict[tuple[str, str, Path], Verdict] = {}


def resolve(choice: str | None = None) -> Verdict:
    """The verdict for ``choice`` (None: $RYS_CPU_REPACK, else auto); ``auto`` asks a child once."""
    source = "--cpu-repack"
    if choice is None:
        env = os.environ.get(ENV, "").strip()
        choice, source = (env.lower(), f"${ENV}") if env else ("auto", "default")
    choice = choice.strip().lower()
    if choice not in CHOICES:
        raise LlamaError(f"{source} {choice!r}: expected auto, on or off")
    if choice == "on":
        return Verdict(True, choice, source, "llama.cpp's default; on CPUs with AMX it may crash")
    if choice == "off":
        return Verdict(False, choice, source, "weights stay as in the file (slower CPU prompt processing)")
    key = (choice, source, cache_dir())
    if key not in _resolved:
        safe, reason = _auto()
        _resolved[key] = Verdict(bool(safe), choice, source, reason, certain=safe is not None)
    return _resolved[key]


def announce(choice: str | None, on_event: OnEvent | None) -> None:
    """Tell a job's caller, as a `Note`, what the policy does when it is not llama.cpp's own
    behaviour (jobs call this once, after their inputs are checked and before a model loads)."""
    if note := resolve(choice).note:
        emit(on_event, Note(note))


def _auto() -> tuple[bool | None, str]:
    path = cache_dir() / "cpu-repack" / f"{_build_key()}.json"
    try:
        cached = json.loads(path.read_text())
        return bool(cached["safe"]), str(cached["reason"]) + " (cached)"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    safe, reason = probe()
    if safe is not None:  # a definite answer is kept; "could not tell" is asked again next time
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps({"safe": safe, "reason": reason, "cpu": cpu_identity()[0]}))
        except (OSError, RysError):
            pass  # an unwritable cache costs one more probe next time, nothing else
    return safe, reason


def probe(timeout: float = PROBE_TIMEOUT_S) -> tuple[bool | None, str]:
    """Run the child: (True, why) when repacked weights decode, (False, why) when it dies by a
    signal, (None, why) when it could not tell (llama.cpp missing, a timeout): repacking stays off."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rys_gguf.llama.repack_check"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, f"the repacking check did not finish in {timeout:g} s; repacking stays off"
    except OSError as e:
        return None, f"the repacking check could not start ({e}); repacking stays off"
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return False, f"llama.cpp crashed ({name}) decoding repacked weights on this CPU, so loads do without them"
    if done.returncode == 0 and OK_LINE in done.stdout:
        return True, "repacked weights decode correctly on this CPU"
    tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1][:200]
    return None, f"the repacking check failed ({tail}); repacking stays off"


def _build_key() -> str:
    """What a verdict depends on: the llama.cpp build (package version, native libraries) and the CPU."""
    parts = [sys.version.split()[0]]
    try:
        parts.append(importlib.metadata.version("llama-cpp-python"))
    except importlib.metadata.PackageNotFoundError:
        parts.append("no llama-cpp-python")
    for lib in native_libraries():
        st = lib.stat()
        parts.append(f"{lib.name}:{st.st_size}:{st.st_mtime_ns}")
    parts += cpu_identity()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def cpu_identity() -> tuple[str, str]:
    """(the CPU's model name, its feature flags) as the OS reports them."""
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), ""
    fields: dict[str, str] = {}
    for line in info.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields.setdefault(name.strip(), value.strip())
    model = fields.get("model name") or fields.get("Model") or fields.get("CPU part") or platform.machine()
    return model, fields.get("flags") or fields.get("Features") or ""


def matrix_flags() -> list[str]:
    """The CPU flags that decide which repacked layouts llama.cpp builds (AMX, AVX-512, AVX2...)."""
    wanted = ("amx", "avx512f", "avx512_vnni", "avx512vnni", "avx_vnni", "avx2", "asimd", "sve", "i8mm")
    return [f for f in cpu_identity()[1].split() if f.startswith(wanted)]


def main(argv: list[str]) -> int:
    verdict = resolve()
    model, _ = cpu_identity()
    sys.stdout.write(
        f"cpu: {model}; matrix flags: {' '.join(matrix_flags()) or 'none'}\n"
        f"llama.cpp CPU weight repacking: {'on' if verdict.enabled else 'off'} "
        f"({verdict.source} {verdict.choice}: {verdict.reason})\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
