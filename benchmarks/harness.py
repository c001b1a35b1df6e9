"""What several benchmarks share: the conditions of a measurement, the workloads, a peer's way.

- ``bytecode_note``: start-up is measured as users get it, byte-compiled (bench_startup, bench_build);
- ``gguf_py_rewrite``: the peers' rewrite of a model with gguf-py, the baseline our build and our
  per-config cost are compared with (bench_build, bench_scan);
- ``make_prompts`` and ``count_tokens``: the generation workload and its token count
  (bench_generate, gpu_measure);
- the GPU check's tolerances and its summary table (gpu_check, gpu_measure).

Only the standard library at import time: ``gpu_check`` runs with a bare ``python3`` before any
llama.cpp build exists, so the rest is imported where it is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rys_gguf.llama.runner import LoadedModel

LOGIT_TOLERANCE = 0.05  # max |GPU - CPU| logit, relative to the CPU logits' standard deviation
TOP1_TOLERANCE = 0.95  # share of positions whose greedy token agrees


def bytecode_note() -> str:
    """Start-up as users get it needs the package byte-compiled, as pip does at install."""
    import importlib
    import importlib.util

    probe = importlib.import_module("rys_gguf.cli.entry")
    if Path(importlib.util.cache_from_source(str(probe.__file__))).exists():
        return ""
    return " (package not byte-compiled: start-up includes compiling; run python -m compileall rys_gguf)"


def gguf_py_rewrite(src: Path, dst: Path, spec: str) -> None:
    """The peers' rewrite: GGUFReader (memmap) -> GGUFWriter, every field decoded and re-added."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    from rys_gguf.plan import parse_plan

    reader = GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    n = int(reader.fields[f"{arch}.block_count"].contents())
    path = parse_plan(spec, n).path
    writer = GGUFWriter(dst, arch, endianess=reader.endianess)
    writer.data_alignment = reader.alignment
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = len(path) if name == f"{arch}.block_count" else field.contents()
        sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, field.types[0], sub_type=sub)
    by_name = {t.name: t for t in reader.tensors}
    order = [t.name for t in reader.tensors if not t.name.startswith("blk.")]
    plan = [(name, by_name[name]) for name in order]
    layer_names: dict[int, list[str]] = {}
    for t in reader.tensors:
        if t.name.startswith("blk."):
            layer_names.setdefault(int(t.name.split(".")[1]), []).append(t.name)
    for k, srcl in enumerate(path):
        for name in layer_names[srcl]:
            plan.append((f"blk.{k}." + name.split(".", 2)[2], by_name[name]))
    for name, t in plan:
        writer.add_tensor_info(name, t.data.shape, t.data.dtype, t.data.nbytes, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, t in plan:
        writer.write_tensor_data(t.data)
    writer.close()


SUBJECTS = [
    "the moon", "a lighthouse", "bread", "rivers", "a violin", "glaciers", "honeybees", "chess",
    "volcanoes", "a library", "coffee", "the ocean", "a bicycle", "thunderstorms", "owls", "maps",
    "clocks", "deserts", "a garden", "trains", "snow", "bridges", "the sun", "mushrooms",
    "a piano", "forests", "salt", "kites", "whales", "mountains", "candles", "islands",
]  # fmt: skip


def make_prompts(n: int) -> list[str]:
    """n distinct short prompts (cycling through the subjects with a counter when n > 32)."""
    return [
        f"Write two sentences about {SUBJECTS[k % len(SUBJECTS)]}"
        + (f" (variation {k // len(SUBJECTS)})" if k >= len(SUBJECTS) else "")
        + "."
        for k in range(n)
    ]


def count_tokens(model: LoadedModel, texts: list[str]) -> int:
    """Generated tokens, counted by re-tokenizing each output without the BOS it adds."""
    base = len(model.tokenize(""))
    return sum(len(model.tokenize(t)) - base for t in texts)


def write_summary(rows: list[tuple[str, str, str]], out: Path | None, extra: dict[str, Any]) -> str:
    """The GPU check's table (check, result, detail) as text; with ``out``, also as
    ``gpu_check.md`` and ``gpu_check.json`` there."""
    width = max(len(r[0]) for r in rows)
    lines = [f"{'check':<{width}}  {'result':<6}  detail", "-" * (width + 60)]
    lines += [f"{name:<{width}}  {result:<6}  {detail}" for name, result, detail in rows]
    text = "\n".join(lines)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        md = ["| check | result | detail |", "|---|---|---|", *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
        (out / "gpu_check.md").write_text("\n".join(md) + "\n")
        (out / "gpu_check.json").write_text(json.dumps({"rows": rows, **extra}, indent=2) + "\n")
    return text
