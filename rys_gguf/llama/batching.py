"""The arithmetic of batched decoding, pure: which prompts decode together, stop strings.

llama.cpp gives every sequence of a context an equal slice of its cells, rounded up to a
multiple of 256, so a wave of prompts costs its size times its longest need.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import LlamaError

CELL_QUANTUM = 256  # llama.cpp rounds each sequence's context up to a multiple of this
N_BATCH = 512  # tokens per llama_decode call (prefill chunks); also the physical ubatch
SEQUENTIAL_N_CTX = 1024  # the Llama object's own context when --n-ctx is automatic


def pad_cells(n_cells: int) -> int:
    """The cells llama.cpp reserves per sequence for ``n_cells`` tokens."""
    return max(CELL_QUANTUM, -(-n_cells // CELL_QUANTUM) * CELL_QUANTUM)


def group_waves(needs: Sequence[int], n_seq_max: int, n_ctx: int = 0) -> list[list[int]]:
    """Group prompt indices into waves decoded together: at most n_seq_max each and, when n_ctx
    is fixed, w sequences x the wave's longest need (padded to 256 cells) within n_ctx.

    `needs[k]` is prompt k's tokens plus its max_tokens.
    """
    waves: list[list[int]] = []
    wave: list[int] = []
    longest = 0
    for k, need in enumerate(needs):
        if n_ctx and pad_cells(need) > n_ctx:
            raise LlamaError(
                f"prompt {k} needs {need} tokens with its answer but --n-ctx is {n_ctx}; "
                "raise --n-ctx or use 0 (automatic)"
            )
        grown = (len(wave) + 1) * pad_cells(max(longest, need))
        if wave and (len(wave) == n_seq_max or (n_ctx and grown > n_ctx)):
            waves.append(wave)
            wave, longest = [], 0
        wave.append(k)
        longest = max(longest, need)
    if wave:
        waves.append(wave)
    return waves


def hits_stop(text: bytes, n_new: int, stops: Sequence[bytes]) -> bool:
    """Whether a stop string ends within the last n_new bytes of text."""
    return any(s in text[max(0, len(text) - n_new - len(s) + 1) :] for s in stops)


def cut_at_stop(text: bytes, stops: Sequence[bytes]) -> str:
    """Text up to the earliest stop string, as UTF-8 (incomplete trailing bytes dropped)."""
    ends = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[: min(ends)].decode("utf-8", errors="ignore") if ends else text.decode("utf-8", errors="ignore")
