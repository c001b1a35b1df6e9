"""Hand a GGUF to Ollama (a Modelfile, optionally ``ollama create``) and LM Studio (its folder).

Chat template choice. Ollama >= 0.30 runs GGUFs on llama-server: a model without a Go TEMPLATE
is chatted through llama-server with the GGUF's own jinja ``tokenizer.chat_template``, while one
with a Go TEMPLATE (written here, or attached by ``ollama create``, which maps jinja templates
close to ones it knows onto its Go templates) is rendered in Go. Older Ollama renders Go
templates only and falls back to the raw prompt when it recognises nothing. So arbitrary jinja
is never translated to Go here (a wrong translation is worse than none); ``build`` keeps the
jinja byte-identical, and a Go TEMPLATE is written only for three families whose turn format is
fixed and rendered here faithfully: ChatML, Llama 3 and Gemma. Anything else is left to Ollama
(detection, or llama-server's jinja); a GGUF without a template is a base model and gets raw
prompts. Stop strings are the vocabulary texts of the EOS/EOT/EOM tokens plus the turn markers
the template uses; only those few vocabulary entries are read, by walking the string offsets.

Left out: pushing to a registry, ADAPTER/LICENSE/MESSAGE lines, ``lms import`` (LM Studio needs
only the folder layout), merging split models (llama-gguf-split does it).
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError, RysError
from .gguffile import SPLIT_RE, GGUFModel, ValueType
from .rewrite import CONFIG_KEY, SOURCE_COUNT_KEY, block_count_key, model_constraints, source_path

OLLAMA_MAX_CTX = 8192  # num_ctx written: the model's context, capped to keep the KV cache small
DEFAULT_TEMPERATURE = 0.7
OLLAMA_LLAMA_CPP = "b10488"  # llama.cpp build pinned by current Ollama (notes §5.2)
LMSTUDIO_ENV = "LMSTUDIO_MODELS_DIR"
DEFAULT_PUBLISHER = "rys-gguf"
COPY_CHUNK = 64 << 20

_NAME_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(:[A-Za-z0-9][\w.-]*)?$", re.ASCII)
_FOLDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")

# Go-rendered families: (markers identifying the jinja, extra stop strings, Go template).
# Ollama hands Go templates its collated messages, system messages included.
_CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end -}}\n"
    '<|im_start|>assistant{{ "\\n" }}'
)
_LLAMA3 = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>\n{{- end }}"
    '<|start_header_id|>assistant<|end_header_id|>{{ "\\n\\n" }}'
)
# Gemma has no system role: the system text opens the first user turn, as its jinja does.
_GEMMA = (
    "{{- $system := .System }}{{- $first := true }}\n"
    "{{- range .Messages }}\n"
    '{{- if eq .Role "user" }}<start_of_turn>user\n'
    "{{ if and $first $system }}{{ $system }}\n\n{{ end }}{{ .Content }}<end_of_turn>\n"
    "{{ $first = false }}\n"
    '{{- else if eq .Role "assistant" }}<start_of_turn>model\n{{ .Content }}<end_of_turn>\n'
    "{{ end }}\n"
    '{{- end }}<start_of_turn>model{{ "\\n" }}'
)
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "chatml": (("<|im_start|>", "<|im_end|>"), ("<|im_start|>", "<|im_end|>"), _CHATML),
    "llama3": (
        ("<|start_header_id|>", "<|eot_id|>"),
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        _LLAMA3,
    ),
    "gemma": (("<start_of_turn>", "<end_of_turn>"), ("<end_of_turn>", "<start_of_turn>"), _GEMMA),
}
# End-of-turn markers worth a stop string whenever the template writes them.
END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>", "<|return|>")
STOP_TOKEN_KEYS = (
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
)
SAMPLING_KEYS = ("top_k", "top_p", "min_p")  # general.sampling.* keys a GGUF may recommend


class ExportError(RysError):
    """Ollama or LM Studio export cannot proceed (no ollama binary, links across filesystems...)."""


@dataclass(frozen=True, slots=True)
class OllamaExport:
    """A Modelfile for one model: where it goes, its text, and how to create the Ollama model."""

    name: str
    modelfile: Path
    text: str
    command: tuple[str, ...]
    family: str | None  # chat family written as a Go TEMPLATE, None when left to Ollama
    template_note: str  # how the chat template reaches Ollama
    stops: tuple[str, ...]
    notes: tuple[str, ...]  # e.g. how Ollama versions import a split model
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LMStudioExport:
    """Files placed in LM Studio's models folder."""

    folder: Path
    files: tuple[Path, ...]
    copied: bool
    warnings: tuple[str, ...]


def format_layer_path(path: Sequence[int]) -> str:
    """Compact layer path: [0, 1, 2, 3, 2, 3, 4] -> '0-3, 2-4'."""
    runs: list[list[int]] = []
    for layer in path:
        if runs and layer == runs[-1][1] + 1:
            runs[-1][1] = layer
        else:
            runs.append([layer, layer])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def model_stem(path: Path) -> str:
    """A model's name from its file: the shard prefix for split models, else the stem."""
    m = SPLIT_RE.match(path.name)
    return m["prefix"] if m else path.stem


def default_ollama_name(path: Path) -> str:
    """An Ollama model name derived from the file name (lower case, safe characters)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", model_stem(path).lower()).strip("-._")
    return name or "rys-model"


def chat_family(template: str | None) -> str | None:
    """The turn-format family a jinja chat template uses, if it is one written as Go here."""
    if not template:
        return None
    for family, (markers, _, _) in FAMILIES.items():
        if all(m in template for m in markers):
            return family
    return None


def token_texts(model: GGUFModel, ids: Sequence[int]) -> dict[int, str]:
    """Vocabulary strings of a few token ids, walking the string array only up to the largest."""
    entry = model.kv.get("tokenizer.ggml.tokens")
    wanted = {i for i in ids if entry is not None and 0 <= i < entry.count}
    if entry is None or entry.elem_type != ValueType.STRING or not wanted:
        return {}
    fmt = model.first.byteorder + "Q"
    out: dict[int, str] = {}
    with open(model.first.path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # the map outlives the handle
    with mm:
        pos = entry.value_start
        for index in range(max(wanted) + 1):
            (n,) = struct.unpack_from(fmt, mm, pos)
            if index in wanted:
                out[index] = mm[pos + 8 : pos + 8 + n].decode("utf-8", "replace")
            pos += 8 + n
    return out


def stop_strings(model: GGUFModel, template: str | None, family: str | None) -> list[str]:
    """Stop strings: EOS/EOT/EOM token texts, end markers in the template, the family's markers."""
    ids = [int(model.get(k)) for k in STOP_TOKEN_KEYS if isinstance(model.get(k), int)]
    texts = token_texts(model, ids)
    stops = [texts[i] for i in ids if texts.get(i)]
    stops += [m for m in END_MARKERS if template and m in template]
    if family is not None:
        stops += FAMILIES[family][1]
    return list(dict.fromkeys(s for s in stops if s and '"' not in s and "\n" not in s))


def split_note(first: Path, n_shards: int) -> str:
    """How Ollama versions import a split model (FROM its folder since 0.30, else merge first)."""
    return (
        f"split model ({n_shards} shards): Ollama >= 0.30 imports the shards from their folder, so "
        "FROM names the folder; older Ollama cannot: merge first with `llama-gguf-split --merge "
        f"{first.name} {model_stem(first)}.gguf` and point FROM at the merged file"
    )


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


def prepare_ollama(path: str | os.PathLike[str], name: str | None = None, *, template: bool = True) -> OllamaExport:
    """Plan the Modelfile for a GGUF (or the first shard of a split one); writes nothing."""
    path = Path(path)
    name = name if name is not None else default_ollama_name(path)
    if not _NAME_RE.match(name):
        raise ExportError(
            f"--name {name!r}: Ollama names use lower-case letters, digits, '.', '_', '-', "
            "an optional 'namespace/' and ':tag' (e.g. gemma-rys:6-12)"
        )
    with GGUFModel(path) as model:
        model_constraints(model)  # a corrupt layer count is refused here, not by Ollama later
        shards = [f.path for f in model.files]
        arch = model.architecture
        jinja = model.get("tokenizer.chat_template")
        jinja = jinja if isinstance(jinja, str) else None
        family = chat_family(jinja) if template else None
        stops = tuple(stop_strings(model, jinja, family))
        header = _header(model, path, jinja, family)
        params = _parameters(model, arch)
        swa = swa_array_warning(model, f"Ollama's llama.cpp (build {OLLAMA_LLAMA_CPP})")
    warnings = [swa] if swa else []
    modelfile = path.parent / f"{model_stem(path)}.Modelfile"
    command = ("ollama", "create", name, "-f", str(modelfile.absolute()))
    notes: tuple[str, ...] = ()
    source = f"./{path.name}"
    if len(shards) > 1:
        source, notes = ".", (split_note(path, len(shards)),)
        others = sorted(p.name for p in path.parent.glob("*.gguf") if p not in shards)
        if others:
            warnings.append(
                f"{path.parent} also holds {', '.join(others[:3])}: Ollama imports every .gguf in "
                "a FROM folder; move the shards into a folder of their own"
            )
    if " " in source:  # the Modelfile parser ends an unquoted value at a space
        source = f'"{source}"'
    lines = [*header, "", f"FROM {source}", ""]
    if family is not None:
        lines += [f'TEMPLATE """{FAMILIES[family][2]}"""', ""]
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += [f"PARAMETER {k} {v}" for k, v in params]
    text = "\n".join(lines) + "\n"
    note = template_note(jinja, family)
    return OllamaExport(name, modelfile, text, command, family, note, stops, notes, tuple(warnings))


def _header(model: GGUFModel, path: Path, jinja: str | None, family: str | None) -> list[str]:
    arch = model.architecture
    n_layers = int(model.get(block_count_key(arch), 0))
    title = model.get("general.name")
    lines = [
        "# Ollama Modelfile written by rys-gguf.",
        f"# Model:    {path.name} ({arch}, {n_layers} layers{f', {title}' if title else ''})",
    ]
    layer_path = source_path(model)
    if layer_path is not None:
        lines.append(
            f"# RYS:      config {model.get(CONFIG_KEY)}: {model.get(SOURCE_COUNT_KEY)} -> "
            f"{len(layer_path)} layers, source layers {format_layer_path(layer_path)}"
        )
    else:
        lines.append("# RYS:      none recorded (rys.* keys absent: an unmodified model)")
    return [*lines, f"# Template: {template_note(jinja, family)}"]


def template_note(jinja: str | None, family: str | None) -> str:
    """How the chat template reaches Ollama, in one line."""
    if family is not None:
        return f"the Go TEMPLATE below renders the GGUF's {family} turn format"
    if jinja:
        return "left to Ollama (it maps known jinja to Go templates, else llama-server runs it)"
    return "none in the GGUF (a base model): prompts are passed through unchanged"


def _parameters(model: GGUFModel, arch: str) -> list[tuple[str, str]]:
    temp = model.get("general.sampling.temp")
    temp = float(temp) if isinstance(temp, (int, float)) else DEFAULT_TEMPERATURE
    params = [("temperature", f"{temp:g}")]
    for key in SAMPLING_KEYS:
        value = model.get(f"general.sampling.{key}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params.append((key, f"{value:g}"))
    context = model.get(f"{arch}.context_length")
    if isinstance(context, int) and context > 0:
        params.append(("num_ctx", str(min(context, OLLAMA_MAX_CTX))))
    return params


def write_modelfile(export: OllamaExport, *, force: bool = False) -> Path:
    """Write the Modelfile beside the model; an existing different one needs ``force``."""
    target = export.modelfile
    if target.exists() and not force and target.read_text(errors="replace") != export.text:
        raise OutputError(f"{target}: exists with other content; pass --force to overwrite it")
    try:
        target.write_text(export.text)
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror}); check the folder's permissions") from None
    return target


def find_ollama(export: OllamaExport) -> str:
    """The ``ollama`` binary on PATH; ExportError saying how to install it and what to run."""
    binary = shutil.which("ollama")
    if binary is None:
        raise ExportError(
            "ollama is not on PATH; install it from https://ollama.com/download, then run: " + " ".join(export.command)
        )
    return binary


def create_ollama_model(export: OllamaExport, binary: str | None = None) -> None:
    """Run ``ollama create`` (its output goes to the terminal); raise ExportError if it fails."""
    binary = binary or find_ollama(export)
    later = " ".join(export.command)
    try:
        done = subprocess.run([binary, *export.command[1:]], check=False)
    except OSError as e:
        raise ExportError(f"cannot run {binary} ({e.strerror}); run it yourself: {later}") from None
    if done.returncode != 0:
        raise ExportError(f"ollama create failed (exit code {done.returncode}, see above): {later}")


def lmstudio_root(root: str | os.PathLike[str] | None = None) -> Path:
    """LM Studio's models folder: ``root``, else $LMSTUDIO_MODELS_DIR, else ~/.lmstudio/models."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(LMSTUDIO_ENV)
    return Path(env).expanduser() if env else Path.home() / ".lmstudio" / "models"


def export_lmstudio(
    path: str | os.PathLike[str],
    *,
    publisher: str = DEFAULT_PUBLISHER,
    name: str | None = None,
    root: str | os.PathLike[str] | None = None,
    copy: bool = False,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LMStudioExport:
    """Hard-link (or ``copy``) a model and all its shards into ``ROOT/PUBLISHER/NAME/``.

    NAME defaults to the file name without extension and shard suffix, ROOT to `lmstudio_root`;
    ``force`` replaces same-named files that are not this model's; ``progress`` gets bytes copied.
    Raises ExportError for a bad folder name, a link that cannot be made, or a file in the way.
    """
    path = Path(path)
    name = name if name is not None else model_stem(path)
    for label, value in (("--publisher", publisher), ("--name", name)):
        if not _FOLDER_RE.match(value) or value in (".", ".."):
            raise ExportError(f"{label} {value!r}: one folder name of letters, digits, ' ._-'")
    with GGUFModel(path) as model:
        model_constraints(model)  # a corrupt layer count is refused here, not by LM Studio later
        shards = [f.path for f in model.files]
        warning = swa_array_warning(model, "an LM Studio engine older than llama.cpp PR #29042")
    folder = lmstudio_root(root) / publisher / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"{folder}: cannot create ({e.strerror}); choose --root") from None
    targets = [folder / p.name for p in shards]
    for src, dst in zip(shards, targets, strict=True):
        if dst.exists() and not dst.samefile(src) and not force:
            raise ExportError(f"{dst}: another file has this name; pass --force to replace it")
    for src, dst in zip(shards, targets, strict=True):
        if dst.exists() and dst.samefile(src):
            continue  # already linked
        _place(src, dst, copy, progress)
    return LMStudioExport(folder, tuple(targets), copy, (warning,) if warning else ())


def _place(src: Path, dst: Path, copy: bool, progress: Callable[[int], None] | None) -> None:
    tmp = dst.with_name(f".{dst.name}.rys-tmp")
    tmp.unlink(missing_ok=True)
    try:
        if copy:
            _copy_file(src, tmp, progress)
        else:
            os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if not copy and e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise ExportError(
                f"cannot hard-link {src} into {dst.parent} ({e.strerror}: another filesystem, or "
                "no link support); pass --copy to copy it, or --root on the model's filesystem"
            ) from None
        raise ExportError(f"{dst}: cannot write ({e.strerror})") from None


def _copy_file(src: Path, dst: Path, progress: Callable[[int], None] | None) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(COPY_CHUNK):
            fout.write(chunk)
            if progress is not None:
                progress(len(chunk))
