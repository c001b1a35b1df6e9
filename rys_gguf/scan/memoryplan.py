"""The memory step of a sweep's plan: skip up front the configs that cannot fit.

Each config's need comes from the planner (``llama.memory``): its layer path's weights, the KV
cache and compute buffers of the contexts a worker creates for these probes. Prompt lengths are
counted by llama.cpp's tokenizer in a short-lived child (``llama.survey``), with the chat
template applied as the worker applies it; where that child cannot run, each prompt is bounded
by its UTF-8 bytes plus a template allowance (a token covers at least one byte). A config that
needs more than is available is recorded as skipped with the numbers and never loaded; when
even the unchanged model cannot fit, the sweep stops before anything is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..builder.source import model_constraints
from ..errors import MemoryBudgetError
from ..files import format_bytes
from ..gguffile.reader import GGUFModel
from ..llama import cpu_repack
from ..llama.budget import refusal, resolve_budget
from ..llama.memory import MemoryEstimate, ModelMemory, shortfall, worker_contexts
from ..llama.survey import survey
from ..plan import LayerPlan
from ..probes import ProbeSet
from ..sweepfolder.records import BASELINE
from .grid import SweepPlan
from .options import ScanOptions

TEMPLATE_ALLOWANCE = 64  # bytes a chat template adds around a turn, for the text-length bound


@dataclass(frozen=True, slots=True)
class ProbeNeeds:
    """Tokens each probe needs with its answer, and how they were counted."""

    needs: tuple[int, ...]
    note: str | None  # why they are a bound rather than counted


def probe_needs(model: GGUFModel, probes: ProbeSet, no_think: bool) -> ProbeNeeds:
    """Prompt tokens plus answer budget per probe item, as the worker will see them."""
    items = probes.items
    found = survey(model.path, [(i.system, i.user) for i in items], no_think=no_think, devices=False)
    if found.n_tokens is not None and len(found.n_tokens) == len(items):
        return ProbeNeeds(tuple(n + i.max_tokens for n, i in zip(found.n_tokens, items, strict=True)), None)
    bound = [len(f"{i.system or ''}{i.user}".encode()) + TEMPLATE_ALLOWANCE + 1 + i.max_tokens for i in items]
    return ProbeNeeds(tuple(bound), f"prompt lengths bounded by their text ({found.error})")


def fit_sweep(model: GGUFModel, sweep: SweepPlan, options: ScanOptions, probes: ProbeSet) -> tuple[SweepPlan, str]:
    """The sweep without the configs that cannot fit, and the plan's memory line.

    Raises:
        MemoryBudgetError: the baseline (the unchanged model) cannot fit.
    """
    rt = options.runtime
    budget = resolve_budget(options.memory, rt)
    if budget is None:
        off = "--memory none" if options.memory == () else "no GPU offload; pass --memory SIZE for a RAM budget"
        return sweep, f"memory: not checked ({off})"
    found = probe_needs(model, probes, rt.no_think)
    contexts = worker_contexts(found.needs, len(probes.items), rt.n_ctx)
    planner = ModelMemory.read(model, model_constraints(model))
    available = budget.available(options.gpus, rt.split_mode, rt.main_gpu, rt.tensor_split)
    repack = cpu_repack.resolve(rt.cpu_repack).enabled

    def estimate(path: tuple[int, ...] | None) -> MemoryEstimate:
        return planner.estimate(
            path, contexts, gpu=budget.gpu, n_gpu_layers=rt.n_gpu_layers, flash_attn=rt.flash_attn, cpu_repack=repack
        )

    keep: list[LayerPlan] = []
    skipped = dict(sweep.skipped)
    for plan in sweep.configs:
        need = estimate(plan.path)
        why = shortfall(need, available)
        if why is None:
            keep.append(plan)
        elif plan.spec == BASELINE:
            raise MemoryBudgetError(f"{model.path}: the unchanged model {why}; {refusal(budget)}")
        else:
            skipped[plan.spec] = why
    n_out = len(sweep.configs) - len(keep)
    base = estimate(None)
    where = "GPU" if budget.gpu else "RAM"
    line = (
        f"memory: {len(keep)} of {len(sweep.configs)} configs fit in {_gb(available)} of {where} ({budget.source}); "
        f"the baseline needs {_gb(base.device)} ({base.describe()}); {n_out} skipped for memory"
    )
    if found.note:
        line += f"; {found.note}"
    return SweepPlan(keep, skipped), line


def _gb(n: int) -> str:
    return format_bytes(n, digits=1)
