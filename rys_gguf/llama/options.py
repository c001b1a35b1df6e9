"""How llama.cpp runs a model, as the user chose it: GPU offload and split, context, threads.

Pure data, no native import: the scan passes these to its worker processes as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import LlamaError

SPLIT_MODE_NAMES = ("none", "layer", "row")
CPU_REPACK_CHOICES = ("auto", "on", "off")  # see llama.cpu_repack


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """How llama.cpp runs a model: GPU offload and split, context size, threads, thinking."""

    n_gpu_layers: int = -1  # -1 = all
    split_mode: str = "layer"  # "none" | "layer" | "row"
    tensor_split: tuple[float, ...] | None = None
    main_gpu: int = 0
    n_ctx: int = 0  # 0 = sized automatically for the batch
    n_threads: int | None = None
    flash_attn: bool = False
    no_think: bool = False
    cpu_repack: str | None = None  # auto | on | off; None: $RYS_CPU_REPACK, else auto (llama.cpu_repack)

    def __post_init__(self) -> None:
        if self.tensor_split is not None:  # accept a list (e.g. from as_dict / JSON)
            object.__setattr__(self, "tensor_split", tuple(float(x) for x in self.tensor_split))
        if self.split_mode not in SPLIT_MODE_NAMES:
            raise LlamaError(f"--split-mode {self.split_mode!r} is unknown; use one of " + ", ".join(SPLIT_MODE_NAMES))
        if self.tensor_split is not None and (
            not self.tensor_split or min(self.tensor_split) < 0 or sum(self.tensor_split) <= 0
        ):
            raise LlamaError(
                f"--tensor-split {self.tensor_split} needs non-negative shares, one per GPU, not all zero (e.g. 1,1)"
            )
        if self.cpu_repack is not None and self.cpu_repack not in CPU_REPACK_CHOICES:
            raise LlamaError(f"--cpu-repack {self.cpu_repack!r} is unknown; use auto, on or off")
        if self.n_ctx < 0 or (self.n_threads is not None and self.n_threads < 1):
            raise LlamaError("--n-ctx must be >= 0 and --threads >= 1")

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (for results files and worker processes)."""
        return {
            "n_gpu_layers": self.n_gpu_layers,
            "split_mode": self.split_mode,
            "tensor_split": list(self.tensor_split) if self.tensor_split is not None else None,
            "main_gpu": self.main_gpu,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "flash_attn": self.flash_attn,
            "no_think": self.no_think,
            "cpu_repack": self.cpu_repack,
        }
