"""The facts ``rys-gguf inspect`` shows about a model: architecture, layers, tensors, RYS
provenance and the architecture's RYS rules, as one JSON-ready dict."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from ..gguffile.reader import GGUFModel
from .source import CONFIG_KEY, SOURCE_COUNT_KEY, model_constraints, source_path


def describe_model(model: GGUFModel | str | os.PathLike[str]) -> dict[str, Any]:
    """Facts ``inspect`` shows: architecture, layers, tensors, RYS path and constraints (of an
    opened model, or of the GGUF at a path)."""
    if not isinstance(model, GGUFModel):
        with GGUFModel(model) as opened:
            return describe_model(opened)
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
