"""Batched vs sequential greedy generation: the same prompts, both ways, in one run.

Batched is `LoadedModel.generate` (all prompts as parallel sequences of one context); sequential
is `LoadedModel.generate_sequential` (one `Llama.create_completion` per prompt, what peer scanners
do). Throughput counts generated tokens (each output re-tokenized). With --check-ratio X the
script exits 1 when batched is less than X times faster.

    python -m benchmarks.bench_generate --model /tmp/gemma/gemma.gguf --check-ratio 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.harness import count_tokens, make_prompts
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.llama.runner import open_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="GGUF file (Gemma 270M)")
    parser.add_argument("--n-prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--n-gpu-layers", type=int, default=-1)
    parser.add_argument("--check-ratio", type=float, default=None, help="exit 1 below this")
    args = parser.parse_args()

    options = RuntimeOptions(n_gpu_layers=args.n_gpu_layers, n_threads=args.threads)
    with open_model(args.model, options, n_seq_max=max(1, args.n_prompts)) as model:
        prompts = [model.render(None, p) for p in make_prompts(args.n_prompts)]
        limits = [args.max_tokens] * len(prompts)
        model.generate_sequential(prompts[:1], [2])  # page the weights in before timing
        model.generate(prompts[:2], [2, 2])

        start = time.perf_counter()
        batched = model.generate(prompts, limits)
        t_batched = time.perf_counter() - start
        start = time.perf_counter()
        sequential = model.generate_sequential(prompts, limits)
        t_sequential = time.perf_counter() - start

        n_batched = count_tokens(model, batched)
        n_sequential = count_tokens(model, sequential)
    rate_b = n_batched / t_batched
    rate_s = n_sequential / t_sequential
    ratio = rate_b / rate_s
    same = sum(b == s for b, s in zip(batched, sequential, strict=True))
    print(f"model       {args.model.name}, {len(prompts)} prompts x {args.max_tokens} tokens")
    print(f"batched     {n_batched:5d} tokens in {t_batched:7.2f} s = {rate_b:7.1f} tokens/s")
    print(f"sequential  {n_sequential:5d} tokens in {t_sequential:7.2f} s = {rate_s:7.1f} tokens/s")
    print(f"ratio       {ratio:.2f}x (batched / sequential throughput)")
    print(f"identical   {same}/{len(prompts)} outputs")
    if args.check_ratio is not None and ratio < args.check_ratio:
        print(f"FAIL: ratio {ratio:.2f} < {args.check_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
