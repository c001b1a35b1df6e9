"""What a model file says about its layers: the layer count, the RYS constraints of its
architecture, and the provenance an RYS build recorded (``rys.*`` keys).

Every count is checked against llama.cpp's limits here, once, so no later stage meets a
corrupt layer count.
"""

from __future__ import annotations

from ..arch import INDEXER_TYPES_KEY, LLAMA_MAX_LAYERS, Constraints, read_constraints
from ..errors import GGUFFormatError
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import INTEGER_TYPES, LAYER_RE, ValueType, block_count_key

PATH_KEY = "rys.layer_path"
CONFIG_KEY = "rys.config"
SOURCE_COUNT_KEY = "rys.source_block_count"
PROVENANCE_KEYS = (PATH_KEY, CONFIG_KEY, SOURCE_COUNT_KEY)


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


def check_layer_tensors(model: GGUFModel, n: int) -> None:
    """Refuse a block count that claims layers no tensor belongs to (llama.cpp cannot load them).

    Only a claim larger than the weights is refused here: tensors beyond the count are
    `map_tensors`'s to name, and a layer the count leaves out is an MTP tail or a vision tower.
    """
    held = {int(m[1]) for t in model.tensors if (m := LAYER_RE.match(t.name))}
    missing = next((k for k in range(n) if k not in held), None)
    if missing is not None:
        key = block_count_key(model.architecture)
        have = len(held & set(range(n)))
        raise GGUFFormatError(
            f"{model.path}: {key} is {n} but its tensors hold {have} of those layers (none for layer "
            f"{missing}); the metadata does not match the weights: re-convert or re-download the model"
        )


def model_constraints(model: GGUFModel) -> Constraints:
    """Constraints of an opened model, from its metadata (counts checked against the layers)."""
    n = layer_count(model)
    check_layer_tensors(model, n)
    c = read_constraints(model.architecture, n, model.get)
    for what, count, limit in (
        ("nextn_predict_layers", c.n_tail, n - 1),
        ("attention.shared_kv_layers", c.shared_kv_tail, c.n_layers),
    ):
        if not 0 <= count <= limit:
            raise GGUFFormatError(
                f"{model.path}: {c.arch}.{what} is {count} but the model has {n} layers; the file is corrupt"
            )
    if c.indexer_full and len(c.indexer_full) != c.n_layers:
        raise GGUFFormatError(
            f"{model.path}: {c.arch}.{INDEXER_TYPES_KEY} holds {len(c.indexer_full)} flags for {c.n_layers} "
            "layers (without MTP layers); llama.cpp would not load it"
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
    path = [int(x) for x in model.array(PATH_KEY)]
    if min(path) < 0:
        raise GGUFFormatError(f"{model.path}: {PATH_KEY} holds a negative layer number; the provenance is corrupt")
    return path


def swa_array_warning(model: GGUFModel, runtime: str) -> str | None:
    """A warning when the model's sliding-window layout lives in an array old llama.cpp ignores."""
    arch = model.architecture
    entry = model.kv.get(f"{arch}.attention.sliding_window_pattern")
    if entry is None or entry.vtype != ValueType.ARRAY:
        return None
    return (
        f"{arch}.attention.sliding_window_pattern is a per-layer array (--write-swa-pattern); "
        f"{runtime} ignores it and uses the hard-coded period, so some layers may run with the "
        "wrong attention type: prefer a block size that is a multiple of the period"
    )
