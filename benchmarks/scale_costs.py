"""How long a scan takes at the sizes users run: configs per strategy times the cost per config.

Pure arithmetic over measurements (``bench_scale.py`` measures and prints this table):

- configs per strategy on an N-layer model, each plus the baseline: the full triangle
  N(N+1)/2 (``--search grid``, the default), ``--search coarse --budget 200``, and
  ``--search adaptive`` at its default budget (10 % of the triangle) and at 5 %. A search's
  configs are taken to be spread over the triangle like the grid's: the same mix of block
  sizes, so the same mean cost and the same share over a memory budget.
- the models: three well-known Q4_K_M files with 32, 64 and 80 layers, their parameters per
  layer and outside the layers from their published shapes, their file sizes as published. A
  config that runs k layers twice has k more layers' parameters and bytes.
- cost per config on this machine: a line a + b x parameters fitted to the measured cost of one
  config (warm assembly plus the worker process's whole life: start, load, the scan's default
  probes, 16 math and 16 EQ prompts, decoded as one batch) on synthetic F16 llamas of several
  sizes, evaluated at each config's parameter count. On a CPU these probes cost compute, which
  grows with parameters rather than bytes. Q4_K_M matrix products are not slower per parameter
  than F16 ones on x86 (llama.cpp repacks them), so the figure errs long, as long as the config
  stays in RAM; a model whose mean config is larger than this machine's RAM is flagged
  (llama.cpp would read the weights from disk at every decode step, far slower than shown).
- cost per config on GPUs: a model, not a measurement: ``GPU_START_S`` for the worker's start
  and CUDA initialisation, the config's bytes read at ``LOAD_RATE`` (page cache to GPU), then
  the probes' tokens: ``PROMPT_TOKENS`` of prefill and ``ROUNDS`` decode rounds of 32
  sequences; each step takes the longer of reading every weight at ``BANDWIDTH_USE`` of the
  GPU's memory bandwidth and its 2 FLOP per parameter per token at the GPU's sustained rate.
- what fits a GPU: the config's weights less the input embeddings (they stay in host memory),
  its KV cache (``KV_CELLS`` cells per layer of the path, 8 KV heads of 128 in f16: all three
  models) and ``GPU_OVERHEAD`` per GPU for compute buffers and the CUDA context. On two 24 GB
  GPUs a config that fits one runs one worker per GPU (``--gpus 0,1``: half the wall time), a
  larger one runs across both (``--split-mode layer``, one GPU at a time), and one that fits
  neither is skipped by the memory planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

GIB = 1 << 30
PROMPT_TOKENS = 6100  # the default probes with a chat template: about 1,450 math + 4,650 EQ tokens
N_SEQ = 32  # 16 math + 16 EQ prompts, one batch
ROUNDS = 80  # the EQ probes' answer budget (math: 64); the batch decodes until the longest ends
KV_CELLS = 32 * 512  # one 512-cell stream per sequence (prompt + answer, padded to 256)
KV_BYTES_PER_CELL = 2 * 8 * 128 * 2  # K and V, 8 KV heads of 128, f16
GPU_OVERHEAD = 1.0 * GIB  # per GPU: compute buffers and the CUDA context
GPU_START_S = 3.0
LOAD_RATE = 8e9  # bytes/s from the page cache to the GPU
BANDWIDTH_USE = 0.6


@dataclass(frozen=True, slots=True)
class Gpu:
    name: str
    memory: float  # bytes usable
    bandwidth: float  # bytes/s
    flops: float  # sustained FLOP/s on quantized matrix products

    def seconds(self, params: float, n_bytes: float) -> float:
        """The GPU model's seconds for one config of ``params`` weights in ``n_bytes``."""
        read = n_bytes / (BANDWIDTH_USE * self.bandwidth)
        prefill = max(read, 2 * params * PROMPT_TOKENS / self.flops)
        decode = ROUNDS * max(read, 2 * params * N_SEQ / self.flops)
        return GPU_START_S + n_bytes / LOAD_RATE + prefill + decode


# Assumed rates, not measured: bandwidth as published, FLOP/s about what llama.cpp's quantized
# matrix products sustain on prompt processing.
RTX_24GB = Gpu("RTX 4090", 24 * GIB, 1.0e12, 120e12)
H200 = Gpu("H200", 139 * GIB, 4.8e12, 150e12)


@dataclass(frozen=True, slots=True)
class Model:
    """A Q4_K_M model: its layers, parameters per layer and outside them, its file size."""

    name: str
    n_layers: int
    layer_params: float
    embedding_params: float  # input embeddings; the output matrix is as large (not tied)
    file_bytes: float

    @property
    def n_params(self) -> float:
        return self.n_layers * self.layer_params + 2 * self.embedding_params

    @property
    def bytes_per_param(self) -> float:
        return self.file_bytes / self.n_params

    def config_params(self, extra: int) -> float:
        """Parameters of a config that runs ``extra`` layers twice."""
        return self.n_params + extra * self.layer_params

    def config_bytes(self, extra: int) -> float:
        return self.config_params(extra) * self.bytes_per_param

    def gpu_need(self, extra: int, n_gpus: int = 1) -> float:
        """Bytes on the GPUs: weights less input embeddings, KV cache, overhead per GPU."""
        weights = (self.config_params(extra) - self.embedding_params) * self.bytes_per_param
        kv = (self.n_layers + extra) * KV_CELLS * KV_BYTES_PER_CELL
        return weights + kv + n_gpus * GPU_OVERHEAD


def _layer(n_embd: int, n_ff: int, kv_width: int = 1024) -> int:
    """Parameters of one llama-style layer: q, k, v, o projections and a gated feed-forward."""
    return n_embd * (2 * n_embd + 2 * kv_width) + 3 * n_embd * n_ff


MODELS = (  # Q4_K_M file sizes as published (bytes)
    Model("Llama 3.1 8B", 32, _layer(4096, 14336), 128256 * 4096, 4.92e9),
    Model("Qwen2.5 32B", 64, _layer(5120, 27648), 152064 * 5120, 19.85e9),
    Model("Qwen2 72B", 80, _layer(8192, 29568), 152064 * 8192, 47.42e9),
)


def triangle(n_layers: int) -> dict[int, int]:
    """Configs i < j of the full triangle by how many layers they add (j - i): N - k + 1 each."""
    return {k: n_layers - k + 1 for k in range(1, n_layers + 1)}


def budget_count(share_or_n: float | int, n_configs: int) -> int:
    """Configs a search budget allows: a share rounds to the nearest, a number is capped."""
    if isinstance(share_or_n, float):
        return max(1, min(n_configs, math.floor(share_or_n * n_configs + 0.5)))
    return max(1, min(n_configs, share_or_n))


def strategy_configs(n_layers: int) -> dict[str, int]:
    """Configs each strategy measures on an N-layer model, the baseline included."""
    full = n_layers * (n_layers + 1) // 2
    return {
        "full triangle": full + 1,
        "coarse, budget 200": budget_count(200, full) + 1,
        "adaptive, 10 % (default)": budget_count(0.10, full) + 1,
        "adaptive, 5 %": budget_count(0.05, full) + 1,
    }


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares a, b of y = a + b x (b = 0 from a single point)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def two_24gb_gpus(model: Model, extra: int) -> float | None:
    """Wall seconds of one config on two 24 GB GPUs; None when the planner skips it."""
    if model.gpu_need(extra) <= RTX_24GB.memory:
        return RTX_24GB.seconds(model.config_params(extra), model.config_bytes(extra)) / 2
    if model.gpu_need(extra, n_gpus=2) <= 2 * RTX_24GB.memory:
        return RTX_24GB.seconds(model.config_params(extra), model.config_bytes(extra))
    return None


@dataclass(frozen=True, slots=True)
class StrategyCost:
    """Seconds for one strategy on one model (None: the baseline does not fit), configs skipped."""

    seconds: float | None
    n_skipped: int = 0


def strategy_cost(model: Model, n_configs: int, cost: Callable[[int], float | None]) -> StrategyCost:
    """The baseline plus ``n_configs - 1`` configs spread over the triangle like the grid's."""
    base = cost(0)
    if base is None:
        return StrategyCost(None)
    tri = triangle(model.n_layers)
    share = (n_configs - 1) / sum(tri.values())
    total, skipped = base, 0.0
    for extra, count in tri.items():
        seconds = cost(extra)
        if seconds is None:
            skipped += share * count
        else:
            total += share * count * seconds
    return StrategyCost(total, round(skipped))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "baseline does not fit"
    if seconds < 3570:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def cost_table(per_config: Sequence[tuple[float, float]], ram_bytes: float) -> str:
    """The README table from (config parameters, measured seconds per config) pairs."""
    a, b = fit_line([x for x, _ in per_config], [y for _, y in per_config])
    lines = [
        "| model, Q4_K_M (layers, file) | strategy | configs | this machine, CPU (fitted) "
        "| 2 x 24 GB GPUs (model) | 1 x H200 (model) |",
        "|---|---|---|---|---|---|",
    ]
    over_ram = False
    for m in MODELS:
        mean_extra = (m.n_layers + 2) / 3  # the triangle's mean block
        flag = ""
        if m.config_bytes(round(mean_extra)) > ram_bytes:
            flag, over_ram = " *", True

        def on_cpu(k: int, m: Model = m) -> float:
            return a + b * m.config_params(k)

        def on_rtx(k: int, m: Model = m) -> float | None:
            return two_24gb_gpus(m, k)

        def on_h200(k: int, m: Model = m) -> float:
            return H200.seconds(m.config_params(k), m.config_bytes(k))

        for strategy, n in strategy_configs(m.n_layers).items():
            cpu, rtx, h200 = (strategy_cost(m, n, cost) for cost in (on_cpu, on_rtx, on_h200))
            rtx_cell = duration(rtx.seconds) + (f" ({rtx.n_skipped:,} skipped)" if rtx.n_skipped else "")
            lines.append(
                f"| {m.name} ({m.n_layers}, {m.file_bytes / 1e9:.1f} GB) | {strategy} | {n:,} | "
                f"{duration(cpu.seconds)}{flag} | {rtx_cell} | {duration(h200.seconds)} |"
            )
    lines.append("")
    lines.append(
        f"Per config on this machine: {a:.1f} s + {b * 1e9:.1f} s per billion parameters "
        f"(fitted to {len(per_config)} measured sizes)."
    )
    if over_ram:
        lines.append(
            f"* The mean config is larger than this machine's {ram_bytes / 1e9:.0f} GB of RAM: llama.cpp would "
            "read its weights from disk at every decode step, far slower than shown."
        )
    return "\n".join(lines)
