"""The types convert can produce: the converter's output types and llama.cpp's quantization
types, with the rough sizes the disk-space checks use. Pure data, cheap to import."""

from __future__ import annotations

from ..errors import ConvertError

# Bytes per weight of each converter output type ("auto" keeps the weights' 16-bit type).
OUTTYPE_BYTES = {"auto": 2.0, "f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32}
OUTTYPES = tuple(OUTTYPE_BYTES)
"""Converter output types: "auto" keeps the weights' 16-bit type (bf16 or f16)."""

# llama-quantize's names (tools/quantize/quantize.cpp QUANT_OPTIONS) → llama_ftype constant, with
# rough bits per weight (k-quant mixes keep some tensors wider) for the disk space check.
QUANT_TYPES: dict[str, tuple[str, float]] = {
    "Q4_0": ("MOSTLY_Q4_0", 4.6), "Q4_1": ("MOSTLY_Q4_1", 5.1), "Q5_0": ("MOSTLY_Q5_0", 5.6),
    "Q5_1": ("MOSTLY_Q5_1", 6.1), "Q8_0": ("MOSTLY_Q8_0", 8.6),
    "Q2_K": ("MOSTLY_Q2_K", 3.4), "Q2_K_S": ("MOSTLY_Q2_K_S", 3.2),
    "Q3_K_S": ("MOSTLY_Q3_K_S", 3.6), "Q3_K_M": ("MOSTLY_Q3_K_M", 4.0),
    "Q3_K_L": ("MOSTLY_Q3_K_L", 4.3), "Q4_K_S": ("MOSTLY_Q4_K_S", 4.7),
    "Q4_K_M": ("MOSTLY_Q4_K_M", 5.0), "Q5_K_S": ("MOSTLY_Q5_K_S", 5.6),
    "Q5_K_M": ("MOSTLY_Q5_K_M", 5.8), "Q6_K": ("MOSTLY_Q6_K", 6.7),
    "IQ1_S": ("MOSTLY_IQ1_S", 2.0), "IQ1_M": ("MOSTLY_IQ1_M", 2.2),
    "IQ2_XXS": ("MOSTLY_IQ2_XXS", 2.5), "IQ2_XS": ("MOSTLY_IQ2_XS", 2.7),
    "IQ2_S": ("MOSTLY_IQ2_S", 2.9), "IQ2_M": ("MOSTLY_IQ2_M", 3.1),
    "IQ3_XXS": ("MOSTLY_IQ3_XXS", 3.5), "IQ3_XS": ("MOSTLY_IQ3_XS", 3.7),
    "IQ3_S": ("MOSTLY_IQ3_S", 3.9), "IQ3_M": ("MOSTLY_IQ3_M", 4.1),
    "IQ4_NL": ("MOSTLY_IQ4_NL", 4.9), "IQ4_XS": ("MOSTLY_IQ4_XS", 4.7),
    "TQ1_0": ("MOSTLY_TQ1_0", 2.1), "TQ2_0": ("MOSTLY_TQ2_0", 2.5),
    "MXFP4_MOE": ("MOSTLY_MXFP4_MOE", 5.0),
    "F16": ("MOSTLY_F16", 16.0), "BF16": ("MOSTLY_BF16", 16.0), "F32": ("ALL_F32", 32.0),
}  # fmt: skip
ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}


def check_quant_type(name: str) -> str:
    """The canonical llama.cpp name of a quantization type (any case); raises if unknown."""
    key = name.strip().upper()
    key = ALIASES.get(key, key)
    if key not in QUANT_TYPES:
        raise ConvertError(f"unknown quantization type {name!r}; choose one of: {', '.join(QUANT_TYPES)}")
    return key


def estimate_quant_bytes(n_params: int, quant_type: str) -> int:
    """A generous size estimate of a model of ``n_params`` weights quantized to ``quant_type``."""
    return int(n_params * QUANT_TYPES[check_quant_type(quant_type)][1] / 8) + (16 << 20)
