"""Checks on a HuggingFace model folder (and the machine) before a long conversion starts.

``read_hf_dir`` reads config.json, finds the weight files the converter will read, lists the
shards a partial or gated download lacks (from ``*.index.json``), spots truncated safetensors
files and Git LFS pointers, and counts parameters from the safetensors headers (a few KB each)
so ``estimate_bytes``/``check_space`` know the sizes to expect. ``check_modules`` finds the
Python modules the converter will import before it starts.

Left out: reading tensor data, tokenizer checks and architecture support (the converter decides
those and says why).
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

from ..errors import ConvertError
from ..files import check_free_space, format_bytes
from .types import OUTTYPE_BYTES, estimate_quant_bytes

DOWNLOAD_HINT = "finish the download (e.g. hf download REPO --local-dir DIR)"
_DTYPE_BYTES = {"float32": 4, "float64": 8, "int8": 1, "uint8": 1, "float8_e4m3fn": 1}
_MAX_HEADER = 100 << 20  # safetensors caps its JSON header at 100 MB
HF_INSTALL = "pip install 'rys-gguf[hf]'"
PIP_NAMES = {"yaml": "pyyaml", "google.protobuf": "protobuf"}


@dataclass(frozen=True, slots=True)
class HFModel:
    """A HuggingFace model folder that looks complete."""

    path: Path
    architectures: tuple[str, ...]
    n_layers: int | None
    weight_files: tuple[Path, ...]
    n_params: int
    n_bytes: int


def read_hf_dir(path: Path) -> HFModel:
    """Check a model folder (config, weights, shards) and count its parameters."""
    if not path.is_dir():
        raise ConvertError(f"{path} is not a folder; pass a HuggingFace model folder")
    config = _read_config(path)
    files = _weight_files(path)
    n_params = 0
    shapes: dict[str, tuple[str, list[int]]] = {}
    for f in files:
        n, found = _count_params(f, config)
        n_params += n
        shapes.update(found)
    if shapes and all(f.suffix == ".safetensors" for f in files):
        check_shapes(path / "config.json", config, shapes)
    archs = config.get("architectures")
    return HFModel(
        path=path,
        architectures=tuple(a for a in archs if isinstance(a, str)) if isinstance(archs, list) else (),
        n_layers=_n_layers(config),
        weight_files=tuple(files),
        n_params=n_params,
        n_bytes=sum(f.stat().st_size for f in files),
    )


def _read_config(path: Path) -> dict[str, Any]:
    cfg = path / "config.json"
    if not cfg.is_file():
        raise ConvertError(
            f"{path} has no config.json; pass the folder of a HuggingFace model (with config.json and *.safetensors)"
        )
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConvertError(f"{cfg} is not valid JSON ({e}); re-download it") from None
    if not isinstance(config, dict):
        raise ConvertError(f"{cfg} is not a JSON object; re-download it")
    return config


def _n_layers(config: dict[str, Any]) -> int | None:
    for cfg in (config, config.get("text_config") or {}):
        for key in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
            if isinstance(cfg, dict) and isinstance(cfg.get(key), int) and cfg[key] > 0:
                return int(cfg[key])
    return None


def _weight_files(path: Path) -> list[Path]:
    """The weight files the converter reads, after checking an index lists nothing missing."""
    # The converter's order: safetensors (index, else model*.safetensors) before pickled .bin files,
    # so a folder holding both is read (and judged) by its safetensors.
    for index_name, pattern in (("model.safetensors.index.json", "model*.safetensors"),
                                ("pytorch_model.bin.index.json", "pytorch_model*.bin")):  # fmt: skip
        index = path / index_name
        if index.is_file():
            return _indexed_files(index)
        if files := sorted(path.glob(pattern)):
            return files
    raise ConvertError(f"{path} has no weights (model*.safetensors or pytorch_model*.bin); {DOWNLOAD_HINT}")


def _indexed_files(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        weight_map = None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ConvertError(f"{index} has no 'weight_map'; re-download it")
    names = sorted({str(v) for v in weight_map.values()})
    missing = [n for n in names if not (index.parent / n).is_file()]
    if missing:
        raise ConvertError(
            f"{index.parent} is incomplete: {len(missing)} of {len(names)} weight files listed in "
            f"{index.name} are missing ({', '.join(missing)}); {DOWNLOAD_HINT} "
            "(gated models need an accepted license and a token)"
        )
    return [index.parent / n for n in names]


def _count_params(f: Path, config: dict[str, Any]) -> tuple[int, dict[str, tuple[str, list[int]]]]:
    """Parameters in one weight file (exact for safetensors, estimated for .bin), and the shape
    of each tensor its header lists (none for .bin)."""
    size = f.stat().st_size
    with open(f, "rb") as fh:
        head = fh.read(8)
        if head.startswith(b"versio") and size < 1024:
            raise ConvertError(f"{f} is a Git LFS pointer, not the weights; run git lfs pull")
        if f.suffix != ".safetensors":
            dtype = config.get("torch_dtype") or config.get("dtype") or "bfloat16"
            return size // _DTYPE_BYTES.get(str(dtype), 2), {}
        if len(head) < 8:
            raise ConvertError(f"{f} is truncated ({size} bytes); {DOWNLOAD_HINT}")
        (n_header,) = struct.unpack("<Q", head)
        if n_header > min(_MAX_HEADER, size - 8):
            raise ConvertError(f"{f} is not a safetensors file or is truncated; {DOWNLOAD_HINT}")
        try:
            header = json.loads(fh.read(n_header))
        except (UnicodeDecodeError, ValueError):
            raise ConvertError(f"{f} has a corrupt safetensors header; {DOWNLOAD_HINT}") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{f} has a corrupt safetensors header; {DOWNLOAD_HINT}")
    tensors = [t for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    end = max((int(t.get("data_offsets", [0, 0])[1]) for t in tensors), default=0)
    if size < 8 + n_header + end:
        raise ConvertError(f"{f} is truncated ({size} of {8 + n_header + end} bytes); {DOWNLOAD_HINT}")
    shapes = {
        k: (str(t.get("dtype")), [int(d) for d in t["shape"]])
        for k, t in header.items()
        if isinstance(t, dict) and isinstance(t.get("shape"), list) and all(isinstance(d, int) for d in t["shape"])
    }
    return sum(prod(int(d) for d in t.get("shape", [])) for t in tensors), shapes


# Layer tensors: model.layers.N. (Llama, Qwen, Gemma, Mistral...), transformer.h.N. (GPT-2, Falcon),
# blocks.N. and layer.N.; the embedding: embed_tokens, wte, word_embeddings, tok_embeddings.
_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")
_FLOATS = {"F64", "F32", "F16", "BF16"}
_EMBED_RE = re.compile(r"(?:^|\.)(?:embed_tokens|wte|word_embeddings|tok_embeddings)\.weight$")


def check_shapes(config_file: Path, config: dict[str, Any], shapes: dict[str, tuple[str, list[int]]]) -> None:
    """Refuse a config.json that claims more layers, a wider hidden size or a bigger vocabulary than
    the safetensors hold: the converter would write metadata llama.cpp cannot load.

    Only claims larger than the weights are refused. A config may rightly claim fewer: the layer
    tensors of a vision tower or of MTP heads count in the weights but not in num_hidden_layers,
    and an embedding may be padded past the vocabulary.
    """
    text = config.get("text_config")
    claims = [c for c in (text, config) if isinstance(c, dict)]  # a multimodal model's text part first

    def claim(*keys: str) -> tuple[str, int] | None:
        for c in claims:
            for key in keys:
                v = c.get(key)
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    return key, v
        return None

    layers = {int(m[1]) for name in shapes if (m := _LAYER_RE.search(name))}
    n_layers = claim("num_hidden_layers", "n_layer", "num_layers", "n_layers")
    if n_layers and layers and n_layers[1] > len(layers):
        _refuse(config_file, n_layers, f"{len(layers)} layers")
    # The text model's embedding: the float one with the most rows (a packed quantized tensor's
    # shape is not the model's, and a vision tower's embedding has fewer rows).
    embeds = [s for name, (dtype, s) in shapes.items() if _EMBED_RE.search(name) and len(s) == 2 and dtype in _FLOATS]
    embed = max(embeds, default=None)
    if embed is None:
        return
    # A model that projects its embeddings (OPT's word_embed_proj_dim) has narrower ones by design.
    projected = claim("word_embed_proj_dim", "embedding_size", "embedding_dim") is not None
    for keys, have, what in (
        (() if projected else ("hidden_size", "n_embd", "d_model"), embed[1], "a hidden size of"),
        (("vocab_size",), embed[0], "a vocabulary of"),
    ):
        found = claim(*keys)
        if found and found[1] > have:
            _refuse(config_file, found, f"{what} {have}")


def _refuse(config_file: Path, claimed: tuple[str, int], held: str) -> None:
    key, value = claimed
    raise ConvertError(
        f"{config_file}: {key} is {value} but the safetensors hold {held}; the config does not match "
        f"the weights: fix {key} or {DOWNLOAD_HINT}"
    )


def check_modules(model: HFModel) -> None:
    """Raise with the install command when a Python module the converter imports is missing."""
    needed = ["torch", "transformers", "numpy", "yaml", "tqdm"]
    if (model.path / "tokenizer.model").is_file():
        needed.append("sentencepiece")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join(PIP_NAMES.get(m, m) for m in missing)
        raise ConvertError(
            f"converting needs {names} (not installed): {HF_INSTALL}"
            + (" (torch alone: pip install torch)" if "torch" in missing else "")
        )


def estimate_bytes(model: HFModel, outtype: str, quant_type: str | None, n_extra: int) -> int:
    """Peak disk use of the intermediate and output files, from the weights' size."""
    converted = int(model.n_params * OUTTYPE_BYTES[outtype]) + (16 << 20)
    quantized = estimate_quant_bytes(model.n_params, quant_type) if quant_type else converted
    grown = quantized + quantized * max(n_extra, 0) // max(model.n_layers or 1, 1)
    if quant_type is None:
        return converted + (grown if n_extra else 0)
    return max(converted + quantized, quantized + (grown if n_extra else 0))


def check_space(folder: Path, n_bytes: int) -> None:
    """Raise when ``folder``'s file system has less than ``n_bytes`` free."""
    check_free_space(
        folder,
        n_bytes,
        lambda free: (
            f"not enough disk space in {folder}: the intermediate and output files need about "
            f"{format_bytes(n_bytes)}, {format_bytes(free)} is free; free space or write OUT elsewhere"
        ),
    )
