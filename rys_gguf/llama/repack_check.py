"""The child ``cpu_repack`` runs to find out whether repacked CPU weights work here: it writes a
tiny llama, quantizes it to Q4_0 (a type every repacked layout takes: AMX and CPU_REPACK), loads
it with llama.cpp's extra buffer types and decodes a batch, then one token. On a CPU whose
kernels crash, this process dies by a signal and ``cpu_repack`` reads that as the verdict.

``$RYS_CPU_REPACK_FAULT=crash`` makes it die as the AMX bug does, after the load, so the policy
is tested on every CPU. Run as ``python -m rys_gguf.llama.repack_check``.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

from .cpu_repack import FAULT_ENV, OK_LINE


def main() -> int:
    from ..gguffile.synthetic import LlamaShape, write_llama
    from .engine import load_llama
    from .model_quantize import quantize_file

    with tempfile.TemporaryDirectory(prefix="rys-cpu-repack-") as tmp:
        f16, q40 = Path(tmp) / "f16.gguf", Path(tmp) / "q4_0.gguf"
        write_llama(f16, LlamaShape(n_layers=1, n_embd=256, n_ctx_train=256))
        failed = quantize_file(f16, q40, "MOSTLY_Q4_0", pure=True)  # every matrix repackable
        if failed:
            raise RuntimeError(f"cannot quantize the check model: {failed}")
        llm = load_llama(q40, use_extra_bufts=True, n_ctx=64, n_threads=min(4, os.cpu_count() or 1), verbose=False)
        if os.environ.get(FAULT_ENV) == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        tokens = llm.tokenize(b"the then there in an on", add_bos=True)
        llm.eval(tokens)  # a batch: the prompt's matrix multiplies
        llm.eval(tokens[-1:])  # one token: the decode path
        llm.close()
    sys.stdout.write(OK_LINE + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
