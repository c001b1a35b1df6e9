"""Architecture rules for layer duplication, kept as data in one place.

llama.cpp derives some layer behaviour from the layer INDEX (sliding-window patterns, NoPE
layers, recurrent/attention hybrids, leading dense layers, MTP tails, GLM-5.2's shared
sparse-attention indexers) or from the layer COUNT (Gemma 3 27B is detected by its 62 layers).
A duplicated block moves every later layer, so a plan is only faithful when each output position
behaves like its source layer. The rules are checked on the whole layer path, so single blocks,
multi-block specs and explicit paths share them. The rules follow llama.cpp's model loaders as
of build 0c1e57098 (and Ollama's bundled build b10488): each rule's ``why`` says what in the
loader makes it necessary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ArchitectureError

LLAMA_MAX_LAYERS = 512  # src/llama-hparams.h; the loader asserts n_layer <= this


@dataclass(frozen=True, slots=True)
class ArchRule:
    """What an architecture needs beyond renaming tensors and updating the layer count."""

    period: int = 1  # layer behaviour repeats with this period in the index
    period_key: str | None = None  # "{arch}.<key>" scalar that replaces the default period
    extra_period_keys: tuple[str, ...] = ()  # scalars whose periods combine by lcm
    period_needs_key: str | None = None  # the period applies only when this key exists
    why: str = ""  # what the period is, for messages
    swa: bool = False  # the period is a sliding-window pattern an array key can carry
    swa_dense_first: bool = False  # layer il is SWA iff il % P != 0 (else il % P < P - 1)
    magic_counts: dict[int, str] = field(default_factory=dict)  # layer counts with special code
    refuse: str | None = None
    layer0_special: bool = False  # layer 0 has its own shapes: it may only stay at position 0
    shared_indexers: bool = False  # "shared" sparse-attention layers reuse the top-k of the full layer before


_SWA = "sliding-window and global attention layers alternate"
_NOPE = "RoPE is skipped on every 4th layer (hard-coded, no metadata override)"
INDEXER_TYPES_KEY = "attention.indexer.types"  # one bool per trunk layer: True = full, False = shared
# models/glm-dsa.cpp: without the types key, a context length of at least 2^20 means GLM-5.2, whose
# default table (GLM_5_2_DEFAULT_INDEXER_TYPES) has 78 entries and leaves every later layer shared;
# below it (GLM-5, GLM-5.1) every indexer is full.
GLM_5_2_CONTEXT = 1048576
GLM_5_2_INDEXER_TYPES = (True, True) + (True, False, False, False) * 19

PLAIN_ARCHS = (  # no index rule beyond what their own metadata states (arrays, lead, MTP tail)
    "llama", "mistral3", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi2", "phi3", "phimoe", "starcoder2",
    "stablelm", "internlm2", "command-r", "gemma", "glm4", "chatglm", "olmo", "olmoe", "gptneox", "falcon",
    "bloom", "mpt", "exaone", "ernie4_5", "granite", "granitemoe", "seed_oss", "arcee", "minimax-m2",
    "hunyuan-dense", "nemotron", "mamba", "mamba2", "falcon-h1", "bitnet", "plm", "deci", "openelm",
    "apertus", "granitehybrid", "jamba", "lfm2", "lfm2moe", "plamo2", "kimi-linear", "nemotron_h",
    "nemotron_h_moe", "qwen2vl", "qwen3vl", "qwen3vlmoe", "deepseek", "deepseek2", "deepseek32", "dots1",
    "bailingmoe", "bailingmoe2", "bailingmoe3", "hunyuan-moe", "glm4moe", "mimo2", "step35",
    "hy_v3", "hy_v4", "minimax-m3", "glm5-next", "dots3note", "gemma4", "starcoder", "codeshell", "refact",
    "qwen", "exaone-moe", "seed-oss",
)  # fmt: skip

RULES: dict[str, ArchRule] = {name: ArchRule() for name in PLAIN_ARCHS}
RULES.update(
    {
        "gemma2": ArchRule(
            period=2, period_key="attention.sliding_window_pattern", why=_SWA, swa=True,
            magic_counts={46: "Gemma 2 27B is detected by its 46 layers (a different attention scale)"},
        ),
        "gemma3": ArchRule(
            period=6, period_key="attention.sliding_window_pattern", why=_SWA, swa=True,
            magic_counts={62: "Gemma 3 27B is detected by its 62 layers (a different attention scale)"},
        ),
        "gemma-embedding": ArchRule(
            period=6, period_key="attention.sliding_window_pattern", why=_SWA, swa=True
        ),
        "cohere2": ArchRule(
            period=4, period_key="attention.sliding_window_pattern", why=_SWA + " (NoPE on global)",
            swa=True,
        ),
        "cohere2moe": ArchRule(
            period=4, period_key="attention.sliding_window_pattern", why=_SWA, swa=True,
            swa_dense_first=True,
        ),
        "gpt-oss": ArchRule(period=2, period_key="attention.sliding_window_pattern", why=_SWA, swa=True),
        "olmo2": ArchRule(
            period=4, period_key="attention.sliding_window_pattern",
            period_needs_key="attention.sliding_window", why=_SWA, swa=True,
        ),
        "mellum": ArchRule(period=4, period_key="attention.sliding_window_pattern", why=_SWA, swa=True),
        "plamo3": ArchRule(period=8, period_key="attention.sliding_window_pattern", why=_SWA, swa=True),
        "laguna": ArchRule(
            period=4, period_key="attention.sliding_window_pattern", why=_SWA, swa=True,
            swa_dense_first=True,
        ),
        "muse-glimmer": ArchRule(period=4, period_key="attention.sliding_window_pattern", why=_SWA, swa=True),
        "modern-bert": ArchRule(period=3, period_key="attention.sliding_window_pattern", why=_SWA, swa=True),
        "exaone-moe": ArchRule(period=4, period_key="attention.sliding_window_pattern", why=_SWA, swa=True),
        "llama4": ArchRule(
            period=4, extra_period_keys=("interleave_moe_layer_step",),
            why=_NOPE + "; MoE layers follow interleave_moe_layer_step",
        ),
        "smollm3": ArchRule(period=4, why=_NOPE),
        "afmoe": ArchRule(period=4, why=_NOPE + "; " + _SWA),
        "smallthinker": ArchRule(period=4, why=_NOPE + "; " + _SWA),
        "qwen3next": ArchRule(
            period=4, period_key="full_attention_interval",
            why="every full_attention_interval-th layer is full attention, the rest recurrent",
        ),
        "qwen35": ArchRule(
            period=4, period_key="full_attention_interval",
            why="every full_attention_interval-th layer is full attention, the rest recurrent",
        ),
        "qwen35moe": ArchRule(
            period=4, period_key="full_attention_interval",
            why="every full_attention_interval-th layer is full attention, the rest recurrent",
        ),
        "rwkv6": ArchRule(period_key="rescale_every_n_layers", why="activations are rescaled every n layers"),
        "rwkv6qwen2": ArchRule(
            period_key="rescale_every_n_layers", why="activations are rescaled every n layers"
        ),
        "rwkv7": ArchRule(layer0_special=True),
        "arwkv7": ArchRule(layer0_special=True),
        "nomic-bert-moe": ArchRule(period_key="moe_every_n_layers", why="MoE layers every n layers"),
        "kimi-k3": ArchRule(period_key="attn_res.block_size", why="attention residual blocks"),
        "exaone4": ArchRule(magic_counts={64: "EXAONE 4 enables sliding-window attention only at 64 layers"}),
        "minicpm": ArchRule(),  # its implicit residual scale is written out: see implicit_keys
        "glm-dsa": ArchRule(shared_indexers=True),
        "deepseek2": ArchRule(
            magic_counts={
                26: "DeepSeek-V2-Lite is detected by 26 or 27 layers (a different attention layout)",
                27: "DeepSeek-V2-Lite is detected by 26 or 27 layers (a different attention layout)",
                47: "GLM-4.7-Flash's routing default (sigmoid) is chosen at 47 or 48 layers",
                48: "GLM-4.7-Flash's routing default (sigmoid) is chosen at 47 or 48 layers",
            }
        ),
    }
)  # fmt: skip

_REFUSED = {
    "minimax-01": "its linear-attention decay depends on each layer's index and the layer count",
    "minicpm3": "its residual scale is hard-coded from the layer count",
    "baichuan": "its variant (RoPE vs ALiBi) is chosen from the layer count",
    "gemma3n": "its per-layer embeddings and KV sharing are sized by the layer count",
    "deepseek4": "its hash-routed layers, compress ratios and hyper-connections are index-bound",
    "qwen4exp": "its per-layer-embedding layer list allows one layer only",
    "t5": "encoder-decoder stacks are not supported",
    "t5encoder": "encoder stacks with relative attention buckets are not supported",
    "wavtokenizer-dec": "it is an audio decoder without transformer blocks",
    "nanbeige": "it already loops its whole stack (num_loops)",
    "hrm_text": "its looped H/L stacks are not plain layers",
    "granite-switch": "its router is appended as an extra layer",
    "eagle3": "draft models point at layers of their target model",
    "dflash": "draft models point at layers of their target model",
}
for _name, _why in _REFUSED.items():
    RULES[_name] = ArchRule(refuse=_why)


@dataclass(frozen=True, slots=True)
class Constraints:
    """The RYS constraints of one model, read from its metadata."""

    arch: str
    n_layers: int  # trunk layers a plan ranges over (block_count minus MTP tail)
    n_tail: int  # MTP/NextN layers kept at the end
    period: int
    why: str
    swa: bool
    swa_dense_first: bool
    lead: int  # leading dense (or hash-routed) layers; 0 when none
    lead_key: str | None
    shared_kv_tail: int  # trailing layers that reuse earlier KV (gemma4)
    refused: str | None
    magic_counts: dict[int, str]
    layer0_special: bool
    indexer_full: tuple[bool, ...] = ()  # each trunk layer's indexer type when some are shared

    def describe(self) -> dict[str, Any]:
        return {
            "period": self.period, "period_reason": self.why or None, "lead": self.lead,
            "tail": self.n_tail, "shared_kv_tail": self.shared_kv_tail, "refused": self.refused,
            "swa_array_override": self.swa and self.period > 1,
            "full_indexer_layers": [il for il, f in enumerate(self.indexer_full) if f] or None,
        }  # fmt: skip


def read_constraints(arch: str, n_layers_all: int, get: Callable[[str], Any]) -> Constraints:
    """Derive the constraints for ``arch`` from metadata (``get(key)`` returns None if absent)."""
    rule = RULES.get(arch)
    refused = rule.refuse if rule else None
    if rule is None:
        rule = ArchRule()
        refused = "it is not in rys-gguf's architecture table; pass --allow-unknown-arch to treat it as plain"

    def scalar(suffix: str) -> int | None:
        v = get(f"{arch}.{suffix}")
        if isinstance(v, float) and not math.isfinite(v):
            return None  # a NaN or infinite count is garbage; llama.cpp would not load it either
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    period = rule.period
    if rule.period_key is not None:
        period = scalar(rule.period_key) or period
    for key in rule.extra_period_keys:
        period = math.lcm(period, scalar(key) or 1)
    if rule.period_needs_key is not None and get(f"{arch}.{rule.period_needs_key}") is None:
        period = 1
    n_tail = scalar("nextn_predict_layers") or 0
    lead_key = next((k for k in ("leading_dense_block_count", "hash_layer_count") if scalar(k) is not None), None)
    if arch == "gemma4" and (scalar("embedding_length_per_layer_input") or 0) > 0:
        refused = "its per-layer embedding tensors are sized by the layer count"
    return Constraints(
        arch=arch,
        n_layers=n_layers_all - n_tail,
        n_tail=n_tail,
        period=max(period, 1),
        why=rule.why,
        swa=rule.swa,
        swa_dense_first=rule.swa_dense_first,
        lead=(scalar(lead_key) or 0) if lead_key else 0,
        lead_key=lead_key,
        shared_kv_tail=scalar("attention.shared_kv_layers") or 0,
        refused=refused,
        magic_counts=rule.magic_counts,
        layer0_special=rule.layer0_special,
        indexer_full=indexer_types(arch, n_layers_all - n_tail, get) if rule.shared_indexers else (),
    )


def indexer_types(arch: str, n_layers: int, get: Callable[[str], Any]) -> tuple[bool, ...]:
    """Each trunk layer's indexer type as llama.cpp loads it (True: full), or () when all are full.

    As read (models/glm-dsa.cpp): the ``attention.indexer.types`` array, a scalar for every layer,
    or by default GLM-5.2's table when the context length says GLM-5.2.
    """
    value = get(f"{arch}.{INDEXER_TYPES_KEY}")
    if value is None:
        n_ctx = get(f"{arch}.context_length")
        if not isinstance(n_ctx, int) or n_ctx < GLM_5_2_CONTEXT:
            return ()
        table = GLM_5_2_INDEXER_TYPES
        flags = tuple(il < len(table) and table[il] for il in range(n_layers))
    elif isinstance(value, (bool, int, float)):
        flags = (bool(value),) * n_layers
    else:
        flags = tuple(bool(v) for v in value)
    return () if all(flags) else flags


def implicit_keys(arch: str, n_layers: int, get: Callable[[str], Any]) -> dict[str, float]:
    """Defaults llama.cpp derives from the layer count: write them out so they stay the source's."""
    key = f"{arch}.residual_scale"
    if arch == "minicpm" and get(key) is None:
        return {key: 1.4 / math.sqrt(n_layers)}  # models/minicpm.cpp: 1.4 / sqrt(n_layer)
    return {}


def swa_flags(c: Constraints, n: int) -> list[bool]:
    """Each layer's sliding-window flag under the period rule llama.cpp applies."""
    p = c.period
    if c.swa_dense_first:
        return [il % p != 0 for il in range(n)]
    return [il % p < p - 1 for il in range(n)]


def check_path(
    c: Constraints,
    path: Sequence[int],
    spec: str,
    *,
    swa_array: bool = False,
    allow_unknown: bool = False,
) -> None:
    """Raise ArchitectureError unless every output layer behaves like its source layer."""
    where = f"config {spec!r} on {c.arch}"
    if c.refused and not (allow_unknown and c.arch not in RULES):
        raise ArchitectureError(f"{c.arch} is refused: {c.refused}")
    n_new = len(path) + c.n_tail
    n_old = c.n_layers + c.n_tail
    if n_new > LLAMA_MAX_LAYERS:
        raise ArchitectureError(f"{where}: {n_new} layers exceed llama.cpp's limit of {LLAMA_MAX_LAYERS}")
    for count in (n_old, n_new):
        if count in c.magic_counts and n_new != n_old:
            raise ArchitectureError(f"{where}: {c.magic_counts[count]}; pick a block that avoids {count} layers")
    if c.period > 1 and not (swa_array and c.swa):
        moved = [k for k, src in enumerate(path) if k % c.period != src % c.period]
        if moved:
            hint = (
                " or pass --write-swa-pattern to store each layer's sliding-window flag "
                "(honoured by new llama.cpp; older runtimes such as current Ollama ignore it)"
                if c.swa
                else ""
            )
            raise ArchitectureError(
                f"{where}: (j-i) must be a multiple of {c.period} ({c.why}); output layer {moved[0]} "
                f"would run source layer {path[moved[0]]} out of phase. Choose a block size that is "
                f"a multiple of {c.period}{hint}"
            )
    if c.lead:
        in_lead = [src < c.lead for src in path]
        n_in = sum(in_lead)
        if in_lead != [True] * n_in + [False] * (len(path) - n_in):
            raise ArchitectureError(
                f"{where}: the block straddles the {c.lead} leading dense layers ({c.lead_key}); "
                f"keep it inside 0..{c.lead} or start it at i >= {c.lead}"
            )
    if c.shared_kv_tail:
        k0 = c.n_layers - c.shared_kv_tail
        if list(path[len(path) - c.shared_kv_tail :]) != list(range(k0, c.n_layers)) or any(
            src >= k0 for src in path[: len(path) - c.shared_kv_tail]
        ):
            raise ArchitectureError(
                f"{where}: the last {c.shared_kv_tail} layers share KV caches; keep the block at j <= {k0}"
            )
    if c.layer0_special and 0 in path[1:]:
        raise ArchitectureError(f"{where}: layer 0 has its own tensor shapes; start the block at i >= 1")
    if c.indexer_full:
        _check_shared_indexers(c.indexer_full, path, where)


def _check_shared_indexers(full: Sequence[bool], path: Sequence[int], where: str) -> None:
    """A shared-indexer layer reuses the top-k keys of the last full-indexer layer run before it
    (by position), so it keeps its source's selection only right after its source predecessor:
    then the layers back to its group's full layer are the source's, in the same pass."""
    for k, src in enumerate(path):
        if full[src] or (k > 0 and path[k - 1] == src - 1):
            continue
        group = max((il for il in range(src) if full[il]), default=None)
        if group is None:
            raise ArchitectureError(
                f"{where}: source layer {src} has a shared sparse-attention indexer but no full-indexer layer "
                "before it; llama.cpp cannot run this model (check attention.indexer.types)"
            )
        later = next((il for il in range(src + 1, len(full)) if full[il]), None)
        reused = next((path[q] for q in range(k - 1, -1, -1) if full[path[q]]), None)
        instead = f"the top-k of layer {reused}" if reused is not None else "no top-k at all (llama.cpp aborts)"
        starts = " or ".join(str(il) for il in (group, later) if il is not None)
        raise ArchitectureError(
            f"{where}: source layer {src} has a shared sparse-attention indexer (it reuses the top-k keys "
            f"chosen by layer {group}, the full-indexer layer before it); output layer {k} would "
            f"{'come first' if k == 0 else f'follow layer {path[k - 1]}'} and reuse {instead}. Start each "
            f"block at a layer with a full indexer (i = {starts}; full: {_layer_list(full)})"
        )


def _layer_list(full: Sequence[bool]) -> str:
    layers = [str(il) for il, f in enumerate(full) if f]
    return ", ".join(layers) if len(layers) <= 8 else ", ".join(layers[:6]) + ", ..., " + layers[-1]


def support_table() -> str:
    """The README's architecture table, generated from RULES (a test keeps the README current)."""
    plain = sorted(a for a, r in RULES.items() if r == ArchRule())
    any_block = (
        "any block (per-layer arrays re-indexed; leading dense and MTP regions respected when the metadata has them)"
    )
    rows = [
        "| architecture | RYS rule |",
        "|---|---|",
        f"| {', '.join(plain)} | {any_block} |",
    ]
    for name in sorted(a for a, r in RULES.items() if r != ArchRule()):
        r = RULES[name]
        if r.refuse:
            rule = f"refused: {r.refuse}"
        else:
            parts = []
            if r.period > 1 or r.period_key:
                key = f" (or `{r.period_key}`)" if r.period_key else ""
                extra = f", lcm with `{'`, `'.join(r.extra_period_keys)}`" if r.extra_period_keys else ""
                parts.append(f"(j-i) multiple of {r.period if r.period > 1 else 'the period'}{key}{extra}: {r.why}")
            if r.swa:
                parts.append("`--write-swa-pattern` lifts the period (new llama.cpp only)")
            if r.magic_counts:
                parts.append("refuses " + ", ".join(f"{n} layers" for n in r.magic_counts))
            if r.layer0_special:
                parts.append("i >= 1 (layer 0 differs)")
            if r.shared_indexers:
                parts.append(
                    "blocks start at a full-indexer layer when some indexers are shared (GLM-5.2: 0, 1, 2, 6, "
                    "10, ... or as `attention.indexer.types` says; each output layer's type is written there)"
                )
            rule = "; ".join(parts)
        rows.append(f"| {name} | {rule} |")
    return "\n".join(rows)
