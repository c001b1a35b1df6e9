"""Whether a load fits: the memory budget against the planner's estimate, before anything loads.

The budget is ``--memory`` (bytes per device), else what llama.cpp reports: with a GPU build and
layers offloaded, each GPU's free memory as a process holding a CUDA context sees it (the survey
child holds one, so the worker's own context is left room for). A CPU-only build (or
``--n-gpu-layers 0``) gets no automatic budget: llama.cpp maps the weights from the file, so a
model larger than RAM still runs, from the page cache; ``--memory`` then sets a RAM budget.

`require_fit` is what a command calls before it loads a model (verify, eval); the scan checks
every config the same way (``scan.memoryplan``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..arch import read_constraints
from ..errors import MemoryBudgetError
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import block_count_key
from . import cpu_repack
from .memory import ContextShape, MemoryBudget, MemoryEstimate, ModelMemory, shortfall
from .options import RuntimeOptions
from .survey import gpu_backend_installed, survey


def refusal(budget: MemoryBudget) -> str:
    """What to say after the numbers: where the budget came from, and what to change."""
    change = "offload fewer layers (--n-gpu-layers)" if budget.gpu else "raise --memory"
    return (
        f"budget: {budget.source}; nothing was loaded; {change}, set --n-ctx (e.g. 4096) to decode fewer "
        "prompts at once, or use a smaller model"
    )


def resolve_budget(memory: tuple[int, ...] | None, runtime: RuntimeOptions) -> MemoryBudget | None:
    """The budget: ``memory`` (None: ask llama.cpp; (): no check), GPU memory when offloading."""
    offload = runtime.n_gpu_layers != 0 and gpu_backend_installed()
    if memory is not None:
        return MemoryBudget(memory, "--memory", offload) if memory else None
    if not offload:
        return None
    gpus = survey(devices=True).gpus
    if not gpus:
        return None
    names = ", ".join(f"{d.name} {d.description}" for d in gpus)
    return MemoryBudget(tuple(d.free for d in gpus), f"free on {names}, as llama.cpp reports it", True)


def model_memory(model: GGUFModel) -> ModelMemory:
    """The planner's view of an opened model (its layer count was checked by the caller)."""
    n = model.first.int_value(block_count_key(model.architecture), 0)
    return ModelMemory.read(model, read_constraints(model.architecture, n, model.get))


def estimate_load(
    model: GGUFModel, contexts: Sequence[ContextShape], runtime: RuntimeOptions, gpu: bool
) -> MemoryEstimate:
    """What loading ``model`` as it is with these contexts needs."""
    return model_memory(model).estimate(
        None, contexts, gpu=gpu, n_gpu_layers=runtime.n_gpu_layers, flash_attn=runtime.flash_attn,
        cpu_repack=cpu_repack.resolve(runtime.cpu_repack).enabled,
    )  # fmt: skip


def require_fit(
    path: str | os.PathLike[str],
    runtime: RuntimeOptions,
    contexts: Sequence[ContextShape],
    memory: tuple[int, ...] | None = None,
    what: str = "the model",
    gpus: Sequence[int] = (),
) -> MemoryEstimate | None:
    """Raise MemoryBudgetError, with the numbers, when loading ``path`` cannot fit the budget.

    Returns the estimate, or None when there is no budget to check against.
    """
    budget = resolve_budget(memory, runtime)
    if budget is None:
        return None
    with GGUFModel(path) as model:
        need = estimate_load(model, contexts, runtime, budget.gpu)
    available = budget.available(gpus, runtime.split_mode, runtime.main_gpu, runtime.tensor_split)
    why = shortfall(need, available)
    if why is not None:
        raise MemoryBudgetError(f"{path}: {what} {why}; {refusal(budget)}")
    return need
