"""Check an RYS model against its source: its recorded layer path, its bytes, llama.cpp's view.

Two kinds of evidence:

- bytes: the layer count matches the recorded path, every output layer's tensors (names, shapes,
  types, data) equal those of the source layer the path names, and every other tensor equals the
  source's. Data is compared by SHA-256 read in chunks, so a 40 GB model is never held in memory.
- llama.cpp: the RYS model loads with that many layers; on a fixed short text its next-token
  distributions are compared with the source's (top-1 agreement, mean KL(source || RYS) in nats,
  float64), and a greedy sample of each is kept for the reader. One model is loaded at a time.

The distribution check is a sanity signal, not a quality score. Measured on Gemma 3 270M Q4_K_M
(18 layers) with FIXED_TEXT (67 tokens), top-1 / mean KL: valid RYS configs 6,12 0.52 / 0.78;
3,9 0.43 / 1.39; 0,12 0.39 / 1.36; 6,12;6,12 0.39 / 1.93; 12,18 0.22 / 2.30; 6,18 0.19 / 1.96;
0,6 0.10 / 6.11 (the worst: the first block twice). Broken files whose layers were shuffled
across blocks: 0.000 / 20.6 and 0.015 / 18.4. Hence the bounds: a file is garbage when top-1
agreement < MIN_TOP1 (0.05) or mean KL > MAX_MEAN_KL (10 nats); and nothing was duplicated when
the logits equal the source's bit for bit although the path differs from the source's.

Left out: judging quality (the probes do that) and comparing two unrelated models.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..builder.source import CONFIG_KEY, SOURCE_COUNT_KEY, layer_count, model_constraints, source_path
from ..errors import GGUFFormatError, RysError, VerifyError
from ..events import OnEvent, Progress, Stage, emit
from ..gguffile.reader import GGUFModel, TensorInfo
from ..gguffile.spec import group_by_layer
from ..llama import cpu_repack
from ..llama.budget import require_fit
from ..llama.memory import logits_contexts
from ..llama.options import RuntimeOptions
from ..llama.runner import open_model
from ..plan import format_layer_path

if TYPE_CHECKING:
    import numpy as np

FIXED_TEXT = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg "
    "combined movable metal type, oil-based ink and a screw press. Within fifty years, printers in "
    "more than two hundred European cities had produced millions of books, and the price of "
    "knowledge fell sharply. Scholars could now compare identical copies of a text, which"
)
MIN_TOP1 = 0.05
MAX_MEAN_KL = 10.0
N_SAMPLE_TOKENS = 32
HASH_CHUNK = 16 << 20
MAX_LISTED = 5  # mismatching layers named in a detail line
DEFAULT_OPTIONS = RuntimeOptions(n_gpu_layers=-1)


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: what was checked, whether it passed, and the evidence in one line."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """All checks, the distribution numbers (None when llama.cpp could not run both) and samples."""

    checks: tuple[Check, ...]
    top1_agreement: float | None = None
    mean_kl: float | None = None
    n_tokens: int = 0
    samples: dict[str, str] = field(default_factory=dict)  # "source" / "rys" -> greedy text

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """The ``text`` whose next-token distributions are compared (also the samples' prompt), the
    samples' length, how llama.cpp runs both models, and the ``memory`` budget per device (None:
    what llama.cpp reports; (): no check)."""

    text: str = FIXED_TEXT
    n_sample_tokens: int = N_SAMPLE_TOKENS
    runtime: RuntimeOptions = DEFAULT_OPTIONS
    memory: tuple[int, ...] | None = None


def verify_model(
    src: str | os.PathLike[str],
    rys: str | os.PathLike[str],
    options: VerifyOptions = VerifyOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> VerifyReport:
    """Check that ``rys`` is what its ``rys.*`` keys say it is, built from ``src``.

    Args:
        src: the original model the RYS model was built from (first shard if split).
        rys: the RYS model (first shard if split).
        options: the compared text, the samples' length, runtime and memory budget.
        progress: called with the number of tensor bytes hashed as hashing advances.
        on_event: a `Stage` for the hashing (its total: an upper bound of the bytes), then one
            as each model starts loading in llama.cpp.

    Raises:
        RysError: a file is missing or not a GGUF, RYS has no ``rys.layer_path``, SRC is itself
            an RYS model, either model cannot fit the memory budget (before anything loads), or
            llama.cpp cannot load SRC. Failed checks do not raise.
    """
    text, n_sample_tokens, runtime = options.text, options.n_sample_tokens, options.runtime
    with GGUFModel(src) as source, GGUFModel(rys) as model:
        model_constraints(source)  # corrupt layer counts are refused before anything uses them
        model_constraints(model)
        path = source_path(model)
        if path is None:
            raise VerifyError(f"{model.path}: no rys.layer_path key; not a model written by rys-gguf build")
        if source_path(source) is not None:
            raise VerifyError(
                f"{source.path}: is itself an RYS model; give the original model, as the RYS layer path counts from it"
            )
        count = check_layer_count(source, model, path)
        emit(on_event, Stage("hashing tensor data", source.n_bytes + model.n_bytes, "B"))
        data = (
            check_tensor_data(source, model, path, progress)
            if count.passed
            else Check("tensor data", False, "not compared: the layer counts do not match")
        )
        identity = list(path) == list(range(layer_count(source)))
    # A token covers at least one byte, so the text's bytes (plus BOS) bound its tokens.
    contexts = logits_contexts(len(text.encode()) + 1, n_sample_tokens, runtime.n_ctx)
    for what, file in (("SRC", src), ("RYS", rys)):
        require_fit(file, runtime, contexts, options.memory, what)
    cpu_repack.announce(runtime.cpu_repack, on_event)
    emit(on_event, Stage(f"running {src} in llama.cpp"))
    with open_model(Path(src), runtime) as llm:
        src_logits = llm.token_logits(text)
        src_sample = llm.generate([text], [n_sample_tokens])[0]
    samples = {"source": src_sample}
    emit(on_event, Stage(f"running {rys} in llama.cpp"))
    try:
        with open_model(Path(rys), runtime) as llm:
            n_built = llm.n_layers
            rys_logits = llm.token_logits(text)
            samples["rys"] = llm.generate([text], [n_sample_tokens])[0]
    except RysError as e:
        load = Check("loads in llama.cpp", False, str(e))
        skipped = Check("next-token distributions", False, "not measured: the RYS model did not load")
        return VerifyReport((load, count, data, skipped), samples=samples)
    load = Check(
        "loads in llama.cpp",
        n_built == len(path),
        f"llama.cpp built {n_built} layers; rys.layer_path has {len(path)}",
    )
    import numpy as np

    top1, mean_kl = compare_distributions(src_logits, rys_logits)
    dist = judge_distributions(top1, mean_kl, np.array_equal(src_logits, rys_logits), identity, len(src_logits))
    return VerifyReport((load, count, data, dist), top1, mean_kl, len(src_logits), samples)


def check_layer_count(source: GGUFModel, model: GGUFModel, path: Sequence[int]) -> Check:
    """The RYS file's layer count, its recorded source count and its path agree with SRC."""
    arch, src_arch = model.architecture, source.architecture
    if arch != src_arch:
        return Check("layer count", False, f"architectures differ: RYS is {arch}, SRC is {src_arch}")
    n_src, n_rys = layer_count(source), layer_count(model)
    recorded = model.get(SOURCE_COUNT_KEY)
    problems = []
    if n_rys != len(path):
        problems.append(f"the file has {n_rys} layers but rys.layer_path lists {len(path)}")
    if recorded != n_src:
        problems.append(f"{SOURCE_COUNT_KEY} is {recorded} but SRC has {n_src} layers")
    if any(not 0 <= p < n_src for p in path):
        problems.append(f"rys.layer_path names layers outside SRC's 0..{n_src - 1}")
    if problems:
        return Check("layer count", False, "; ".join(problems))
    return Check(
        "layer count",
        True,
        f"{n_src} -> {n_rys} layers, source layers {format_layer_path(path)} (config {model.get(CONFIG_KEY)})",
    )


class _Digests:
    """SHA-256 of tensor data, read in chunks, cached per tensor; files opened once."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self._fds: dict[Path, int] = {}
        self._cache: dict[tuple[Path, int], bytes] = {}
        self._progress = progress

    def __call__(self, t: TensorInfo) -> bytes:
        key = (t.path, t.data_offset)
        if key not in self._cache:
            self._cache[key] = self._hash(t)
        return self._cache[key]

    def _hash(self, t: TensorInfo) -> bytes:
        fd = self._fds.get(t.path)
        if fd is None:
            fd = self._fds[t.path] = os.open(t.path, os.O_RDONLY)
        h = hashlib.sha256()
        done = 0
        while done < t.n_bytes:
            chunk = os.pread(fd, min(HASH_CHUNK, t.n_bytes - done), t.data_offset + done)
            if not chunk:
                raise GGUFFormatError(f"{t.path}: ends inside tensor {t.name!r}; the file is truncated")
            h.update(chunk)
            done += len(chunk)
            if self._progress is not None:
                self._progress(len(chunk))
        return h.digest()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)


def _split_tensors(
    model: GGUFModel,
) -> tuple[dict[int, dict[str, TensorInfo]], dict[str, TensorInfo]]:
    grouped = group_by_layer(model.tensors)
    layers = {k: dict(pairs) for k, pairs in grouped.layers.items()}
    return layers, {t.name: t for t in grouped.others}


def _same(a: TensorInfo, b: TensorInfo, digest: _Digests) -> bool:
    if (a.shape, a.ggml_type, a.n_bytes) != (b.shape, b.ggml_type, b.n_bytes):
        return False
    return digest(a) == digest(b)


def check_tensor_data(
    source: GGUFModel,
    model: GGUFModel,
    path: Sequence[int],
    progress: Callable[[int], None] | None = None,
) -> Check:
    """Output layer k's tensors equal source layer path[k]'s, and all other tensors equal SRC's."""
    src_layers, src_other = _split_tensors(source)
    rys_layers, rys_other = _split_tensors(model)
    digest = _Digests(progress)
    bad: list[str] = []
    try:
        for k, layer in enumerate(path):
            want, got = src_layers.get(layer, {}), rys_layers.get(k, {})
            if set(want) != set(got):
                odd = sorted(set(want) ^ set(got))
                bad.append(f"layer {k} vs source layer {layer}: tensor sets differ ({', '.join(odd[:2])})")
            elif not all(_same(want[s], got[s], digest) for s in sorted(got)):
                wrong = next(s for s in sorted(got) if not _same(want[s], got[s], digest))
                bad.append(f"blk.{k}.{wrong} differs from source blk.{layer}.{wrong}")
        extra = sorted(set(rys_layers) - set(range(len(path))))
        if extra:
            bad.append(f"tensors of layers {extra[:MAX_LISTED]} lie beyond the recorded path")
        if set(src_other) != set(rys_other):
            odd = sorted(set(src_other) ^ set(rys_other))
            bad.append(f"non-layer tensors differ in name: {', '.join(odd[:MAX_LISTED])}")
        else:
            bad += [
                f"{n} differs from SRC's" for n in sorted(rys_other) if not _same(src_other[n], rys_other[n], digest)
            ]
    finally:
        digest.close()
    if bad:
        more = f" (+{len(bad) - MAX_LISTED} more)" if len(bad) > MAX_LISTED else ""
        return Check("tensor data", False, "; ".join(bad[:MAX_LISTED]) + more)
    n_tensors = sum(len(v) for v in rys_layers.values()) + len(rys_other)
    return Check(
        "tensor data",
        True,
        f"all {n_tensors} tensors equal their source (SHA-256): {len(path)} layers, {len(rys_other)} others",
    )


def _log_softmax(row: np.ndarray) -> np.ndarray:
    import numpy as np

    x: np.ndarray = row.astype(np.float64)
    x -= x.max()
    out: np.ndarray = x - np.log(np.exp(x).sum())
    return out


def compare_distributions(src_logits: np.ndarray, rys_logits: np.ndarray) -> tuple[float, float]:
    """Top-1 agreement and mean KL(source || RYS) in nats over all positions (float64)."""
    if src_logits.shape != rys_logits.shape:
        raise VerifyError(
            f"logits of shape {rys_logits.shape} vs {src_logits.shape}: the models do not share "
            "a tokenizer; give the model the RYS file was built from"
        )
    import numpy as np

    agree = 0
    kl = 0.0
    for p_row, q_row in zip(src_logits, rys_logits, strict=True):  # row by row: 262k-token vocabularies
        p, q = _log_softmax(p_row), _log_softmax(q_row)
        kl += float(np.exp(p) @ (p - q))
        agree += int(np.argmax(p_row) == np.argmax(q_row))
    n = len(src_logits)
    return agree / n, kl / n


def judge_distributions(top1: float, mean_kl: float, identical: bool, identity_path: bool, n_tokens: int) -> Check:
    """The sanity verdict on the distribution numbers (bounds in the module docstring)."""
    numbers = f"top-1 agreement {top1:.1%}, mean KL {mean_kl:.3f} nats over {n_tokens} tokens"
    if identical and not identity_path:
        return Check(
            "next-token distributions",
            False,
            f"{numbers}: logits equal SRC's bit for bit although the layer path differs (nothing was duplicated)",
        )
    if top1 < MIN_TOP1 or mean_kl > MAX_MEAN_KL:
        return Check(
            "next-token distributions",
            False,
            f"{numbers}: garbage (sane RYS models keep top-1 >= {MIN_TOP1:.0%} and KL <= {MAX_MEAN_KL:g})",
        )
    return Check(
        "next-token distributions",
        True,
        f"{numbers} (sane: top-1 >= {MIN_TOP1:.0%}, KL <= {MAX_MEAN_KL:g}, not identical)",
    )
