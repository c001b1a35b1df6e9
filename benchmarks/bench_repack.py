"""What llama.cpp's CPU weight repacking is worth: prompt tokens/s with and without it, side by side.

A synthetic llama (8 x 1024, random weights) quantized two ways: Q4_0, which every repacked layout
takes (the AMX buffer on CPUs with AMX, CPU_REPACK's interleaved layout elsewhere), and IQ4_NL
quantized pure, which only CPU_REPACK takes (so it measures the generic repacking even where AMX
is present). Each model is loaded in a child process with repacking on and off and evaluates a
512-token prompt (best of 3); a child that dies by a signal is reported as crashed, as the AMX
kernels of llama-cpp-python 0.3.36 do. The verdict ``--cpu-repack auto`` reaches on this machine is
printed first.

    python -m benchmarks.bench_repack [--layers 8] [--width 1024] [--tokens 512]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3


def child(model: str, on: bool, n_tokens: int) -> None:
    """Load ``model`` with repacking ``on`` or off and print the best prompt tokens/s as JSON."""
    from rys_gguf.llama.engine import load_llama

    llm = load_llama(
        model, use_extra_bufts=on, n_ctx=n_tokens + 16, n_batch=n_tokens, n_ubatch=n_tokens, n_threads=os.cpu_count(),
        n_threads_batch=os.cpu_count(), verbose=False,
    )  # fmt: skip
    words = b"the then there in an on " * n_tokens
    tokens = llm.tokenize(words, add_bos=True)[:n_tokens]
    best = 0.0
    for _ in range(REPEATS):
        llm.reset()  # type: ignore[no-untyped-call]
        start = time.perf_counter()
        llm.eval(tokens)
        best = max(best, len(tokens) / (time.perf_counter() - start))
    llm.close()
    sys.stdout.write(json.dumps({"tokens_per_s": best}) + "\n")


def measure(model: Path, on: bool, n_tokens: int) -> str:
    """Tokens/s of one child as text, or how it died."""
    cmd = [sys.executable, "-m", "benchmarks.bench_repack", "--child", str(model), "on" if on else "off"]
    done = subprocess.run([*cmd, "--tokens", str(n_tokens)], capture_output=True, text=True, check=False)
    if done.returncode < 0:
        return f"crashed ({signal.Signals(-done.returncode).name})"
    if done.returncode != 0:
        return f"failed ({(done.stderr.strip().splitlines() or ['?'])[-1][:60]})"
    return f"{json.loads(done.stdout.splitlines()[-1])['tokens_per_s']:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "ON_OFF"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "on", args.tokens)
        return 0

    from rys_gguf.gguffile.synthetic import LlamaShape, write_llama
    from rys_gguf.llama.cpu_repack import cpu_identity, matrix_flags, resolve
    from rys_gguf.llama.model_quantize import quantize_file

    verdict = resolve()
    print(f"cpu: {cpu_identity()[0]}; matrix flags: {' '.join(matrix_flags()) or 'none'}")
    print(f"--cpu-repack auto here: {'on' if verdict.enabled else 'off'} ({verdict.reason})")
    print(f"{'model (synthetic llama ' + str(args.layers) + ' x ' + str(args.width) + ')':<40} "
          f"{'repack on':>18} {'repack off':>12} {'on / off':>9}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rys-bench-repack-") as tmp:
        f16 = Path(tmp) / "f16.gguf"
        write_llama(f16, LlamaShape(n_layers=args.layers, n_embd=args.width, words=("the", "then", "there")))
        for label, ftype, pure in (("Q4_0 (AMX or CPU_REPACK)", "MOSTLY_Q4_0", False),
                                   ("IQ4_NL pure (CPU_REPACK only)", "MOSTLY_IQ4_NL", True)):  # fmt: skip
            model = Path(tmp) / f"{ftype}.gguf"
            failed = quantize_file(f16, model, ftype, pure=pure)
            if failed:
                print(f"{label:<40} cannot quantize: {failed}")
                continue
            on, off = measure(model, True, args.tokens), measure(model, False, args.tokens)
            ratio = f"{float(on) / float(off):.2f}x" if on[0].isdigit() and off[0].isdigit() else "-"
            print(f"{label:<40} {on:>18} {off:>12} {ratio:>9}")
    print("prompt tokens/s on the CPU, best of 3; weights offloaded to a GPU are never repacked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
