"""Plan + source model -> output layout (pure), and ``build()``: read, map, write.

Output layer k is a byte-exact copy of source layer ``path[k]``; only tensors named
``blk.<n>.*`` are renamed (vision/audio towers ``v.blk.*``/``a.blk.*`` are not). Metadata is
copied byte-exact except the layer count, per-layer arrays (re-indexed by the path, element
type kept), counts of leading regions, the ``split.*`` keys (regenerated) and the ``rys.*``
provenance keys this module adds. MTP/NextN layers stay at the end.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .arch import LLAMA_MAX_LAYERS, Constraints, check_path, implicit_keys, read_constraints, swa_flags
from .errors import GGUFFormatError, PlanError
from .gguffile import (
    INTEGER_TYPES,
    SPLIT_KEYS,
    GGUFLayout,
    GGUFModel,
    KVEntry,
    OutTensor,
    TensorInfo,
    ValueType,
    encode_kv,
    iter_layer_tensors,
)
from .output import plan_outputs, write_outputs
from .plan import LayerPlan, parse_plan

PATH_KEY = "rys.layer_path"
CONFIG_KEY = "rys.config"
SOURCE_COUNT_KEY = "rys.source_block_count"

# Per-layer metadata arrays ("{arch}." + suffix), from llama.cpp's loaders (notes §2a/2b).
PER_LAYER_KEYS = (
    "feed_forward_length", "attention.head_count", "attention.head_count_kv", "expert_used_count",
    "expert_feed_forward_length", "swiglu_clamp_exp", "swiglu_clamp_shexp",
    "attention.recurrent_layers", "attention.compress_ratios", "attention.sliding_window_pattern",
    "attention.rope_pattern", "attention.layer_types", "attention.indexer.types",
    "activation_sparsity_scale",
)  # fmt: skip
# Arrays under the arch prefix that are NOT per layer, even when their length happens to match.
GLOBAL_ARRAYS = ("rope.dimension_sections", "deepstack_mapping", "ple.layers", "target_layers")
UNPREFIXED_PER_LAYER = ("xielu.alpha_n", "xielu.alpha_p", "xielu.beta", "xielu.eps")


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """Choices a user makes beyond the config spec."""

    write_swa_pattern: bool = False
    allow_unknown_arch: bool = False
    split_max_bytes: int = 0  # 0 = one file
    force: bool = False


@dataclass(frozen=True, slots=True)
class BuildResult:
    paths: list[Path]
    n_layers_in: int
    n_layers_out: int
    n_bytes: int
    seconds: float


def block_count_key(arch: str) -> str:
    return f"{arch}.block_count"


def layer_count(model: GGUFModel) -> int:
    """``{arch}.block_count``, checked: an integer within llama.cpp's 1..512 layers."""
    key = block_count_key(model.architecture)
    if key not in model.kv:
        raise GGUFFormatError(f"{model.path}: no {key} key; not a layered model")
    n = model.first.int_value(key, 0)
    if not 1 <= n <= LLAMA_MAX_LAYERS:
        raise GGUFFormatError(
            f"{model.path}: {key} is {n}; llama.cpp loads 1 to {LLAMA_MAX_LAYERS} layers, so the file is corrupt"
        )
    return n


def model_constraints(model: GGUFModel) -> Constraints:
    """Constraints of an opened model, from its metadata (counts checked against the layers)."""
    n = layer_count(model)
    c = read_constraints(model.architecture, n, model.get)
    for what, count, limit in (
        ("nextn_predict_layers", c.n_tail, n - 1),
        ("attention.shared_kv_layers", c.shared_kv_tail, c.n_layers),
    ):
        if not 0 <= count <= limit:
            raise GGUFFormatError(
                f"{model.path}: {c.arch}.{what} is {count} but the model has {n} layers; the file is corrupt"
            )
    return c


def source_path(model: GGUFModel) -> list[int] | None:
    """The recorded layer path of an RYS model (relative to its original source)."""
    entry = model.kv.get(PATH_KEY)
    if entry is None:
        return None
    n_layers = layer_count(model)
    if entry.vtype != ValueType.ARRAY or entry.elem_type not in INTEGER_TYPES or entry.count != n_layers:
        raise GGUFFormatError(
            f"{model.path}: {PATH_KEY} is not a list of {n_layers} layer numbers; the provenance is corrupt"
        )
    path = [int(x) for x in model.value(PATH_KEY)]
    if min(path) < 0:
        raise GGUFFormatError(f"{model.path}: {PATH_KEY} holds a negative layer number; the provenance is corrupt")
    return path


def layout_for_plan(model: GGUFModel, plan: LayerPlan, options: BuildOptions = BuildOptions()) -> GGUFLayout:
    """The output file (metadata + tensor mapping) for ``plan``, after checking the rules."""
    c = model_constraints(model)
    check_path(c, plan.path, plan.spec, swa_array=options.write_swa_pattern, allow_unknown=options.allow_unknown_arch)
    full_path = list(plan.path) + list(range(c.n_layers, c.n_layers + c.n_tail))
    kv = rewrite_metadata(model, c, plan, full_path, options)
    tensors = map_tensors(model.tensors, full_path, c.n_layers + c.n_tail, model.path)
    first = model.first
    return GGUFLayout(first.version, first.byteorder, first.alignment, kv, tensors)


def rewrite_metadata(
    model: GGUFModel, c: Constraints, plan: LayerPlan, full_path: Sequence[int], options: BuildOptions
) -> list[bytes]:
    """Encoded KV entries for the output: byte-exact copies except the keys the plan changes."""
    arch, bo = c.arch, model.first.byteorder
    n_all = c.n_layers + c.n_tail
    per_layer = {f"{arch}.{s}" for s in PER_LAYER_KEYS} | set(UNPREFIXED_PER_LAYER)
    not_per_layer = {f"{arch}.{s}" for s in GLOBAL_ARRAYS}
    out: list[bytes] = []
    identity = list(full_path) == list(range(n_all))
    for key, entry in model.kv.items():
        if key in SPLIT_KEYS or (key in (PATH_KEY, CONFIG_KEY, SOURCE_COUNT_KEY) and not identity):
            continue
        if key == block_count_key(arch):
            out.append(encode_kv(key, entry.vtype, len(full_path), bo=bo))
        elif c.lead_key and key == f"{arch}.{c.lead_key}":
            out.append(encode_kv(key, entry.vtype, sum(src < c.lead for src in plan.path), bo=bo))
        elif key == f"{arch}.attention.sliding_window_pattern" and options.write_swa_pattern and c.swa:
            continue  # written below as an array
        elif _is_layer_array(entry, key, arch, n_all, c.n_layers, per_layer, not_per_layer):
            values = model.value(key)
            src = full_path if entry.count == n_all else plan.path
            out.append(encode_kv(key, entry.vtype, [values[s] for s in src], entry.elem_type, bo))
        else:
            out.append(model.raw(key))
    if not identity:
        for key, value in implicit_keys(arch, n_all, model.get).items():
            out.append(encode_kv(key, ValueType.FLOAT32, value, bo=bo))
    if options.write_swa_pattern and c.swa and c.period > 1:
        flags = _source_swa_flags(model, c)
        out.append(
            encode_kv(
                f"{arch}.attention.sliding_window_pattern",
                ValueType.ARRAY,
                [flags[s] for s in full_path],
                ValueType.BOOL,
                bo,
            )
        )
    if not identity:
        prior = source_path(model)
        origin = [prior[s] for s in full_path] if prior else list(full_path)
        n_source = model.first.int_value(SOURCE_COUNT_KEY, max(prior) + 1) if prior else n_all
        before = model.get(CONFIG_KEY)
        config = plan.spec if not prior else f"{before if isinstance(before, str) else '?'} then {plan.spec}"
        out.append(encode_kv(PATH_KEY, ValueType.ARRAY, origin, ValueType.UINT32, bo))
        out.append(encode_kv(CONFIG_KEY, ValueType.STRING, config, bo=bo))
        out.append(encode_kv(SOURCE_COUNT_KEY, ValueType.UINT32, n_source, bo=bo))
    return out


def _is_layer_array(
    entry: KVEntry, key: str, arch: str, n_all: int, n_trunk: int, per_layer: set[str], not_per_layer: set[str]
) -> bool:
    if entry.vtype != ValueType.ARRAY or entry.elem_type == ValueType.STRING:
        return False
    if entry.count not in (n_all, n_trunk) or key in not_per_layer:
        return False
    # Known per-layer keys, plus any other numeric array under the arch prefix of layer length.
    return key in per_layer or key.startswith(arch + ".")


def _source_swa_flags(model: GGUFModel, c: Constraints) -> list[bool]:
    key = f"{c.arch}.attention.sliding_window_pattern"
    entry = model.kv.get(key)
    n_all = c.n_layers + c.n_tail
    if entry is not None and entry.vtype == ValueType.ARRAY:
        if entry.count != n_all or entry.elem_type == ValueType.STRING:
            kind = "string" if entry.elem_type == ValueType.STRING else "value"
            raise GGUFFormatError(
                f"{model.path}: {key} holds {entry.count} {kind}s for {n_all} layers, expected one flag per "
                "layer; llama.cpp would not load it"
            )
        return [bool(v) for v in model.value(key)]
    return swa_flags(c, n_all)


def map_tensors(tensors: Sequence[TensorInfo], full_path: Sequence[int], n_all: int, where: Path) -> list[OutTensor]:
    """Output tensor list: globals before the first layer, then layer by layer, then the rest."""
    head: list[OutTensor] = []
    tail: list[OutTensor] = []
    layers: dict[int, list[tuple[str, TensorInfo]]] = {}
    for layer, suffix, t in iter_layer_tensors(tensors):
        if layer is None:
            (tail if layers else head).append(OutTensor(t.name, t))
        elif layer >= n_all:
            raise PlanError(f"{where}: tensor {t.name!r} belongs to layer {layer} but the model has {n_all} layers")
        else:
            layers.setdefault(layer, []).append((suffix, t))
    body = [OutTensor(f"blk.{k}.{suffix}", t) for k, src in enumerate(full_path) for suffix, t in layers.get(src, [])]
    return head + body + tail


class PreparedBuild:
    """A checked build (plan valid, destination writable, disk large enough), ready to write."""

    def __init__(
        self, src: str | os.PathLike[str], dst: str | os.PathLike[str], spec: str, options: BuildOptions
    ) -> None:
        self.model = GGUFModel(src)
        try:
            c = model_constraints(self.model)
            self.plan = parse_plan(spec, c.n_layers)
            layout = layout_for_plan(self.model, self.plan, options)
            sources = [f.path for f in self.model.files]
            self.outputs = plan_outputs(Path(dst), layout, sources, options.split_max_bytes, options.force)
        except BaseException:
            self.model.close()
            raise
        self.n_layers_in = c.n_layers + c.n_tail
        self.n_layers_out = len(self.plan.path) + c.n_tail

    @property
    def n_bytes(self) -> int:
        return self.outputs.n_bytes

    def write(self, progress: Callable[[int], None] | None = None) -> BuildResult:
        start = time.monotonic()
        paths = write_outputs(self.outputs, progress)
        return BuildResult(paths, self.n_layers_in, self.n_layers_out, self.n_bytes, time.monotonic() - start)

    def close(self) -> None:
        self.model.close()

    def __enter__(self) -> PreparedBuild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    spec: str,
    *,
    options: BuildOptions = BuildOptions(),
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Write the RYS model of ``src`` under ``spec`` to ``dst`` (atomically, streaming).

    Args:
        src: the source GGUF (or the first shard of a split model); never opened for writing.
        dst: the output path; with ``options.split_max_bytes`` the shards get llama.cpp's names.
        spec: a layer plan (``i,j``, ``i,j;k,l`` or ``layers:...``).
        options: overrides and output choices.
        progress: called with the number of bytes written as the copy advances.

    Raises:
        RysError: bad input, a plan the architecture refuses, or an unwritable destination.
    """
    with PreparedBuild(src, dst, spec, options) as job:
        return job.write(progress)


def describe_model(model: GGUFModel) -> dict[str, Any]:
    """Facts ``inspect`` shows: architecture, layers, tensors, RYS path and constraints."""
    c = model_constraints(model)
    arch = c.arch
    types = Counter(t.type_name for t in model.tensors)
    template = model.kv.get("tokenizer.chat_template")
    return {
        "path": str(model.path),
        "architecture": arch,
        "name": _of_type(model.get("general.name"), str),
        "block_count": c.n_layers + c.n_tail,
        "n_tensors": len(model.tensors),
        "tensor_types": dict(sorted(types.items(), key=lambda kv: -kv[1])),
        "n_bytes": model.n_bytes,
        "n_files": len(model.files),
        "gguf_version": model.first.version,
        "alignment": model.first.alignment,
        "context_length": _of_type(model.get(f"{arch}.context_length"), int),
        "chat_template": template is not None,
        "layer_path": source_path(model),
        "rys_config": _of_type(model.get(CONFIG_KEY), str),
        "source_block_count": _of_type(model.get(SOURCE_COUNT_KEY), int),
        "constraints": c.describe(),
    }


def _of_type(value: Any, kind: type) -> Any:
    """``value`` when it has the expected type, else None (a mistyped key must not reach JSON)."""
    return value if isinstance(value, kind) and not isinstance(value, bool) else None
