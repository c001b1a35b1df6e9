"""Hand a GGUF to Ollama: a Modelfile beside the model, optionally ``ollama create``.

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

Every value taken from the GGUF (its name in the comments, token texts as stop strings, sampling
numbers) or from the file system (the FROM path) is written through ``modelfile``, which quotes
it so Ollama reads back exactly that value, or refuses the export with one line saying why: a
model file must not be able to add a SYSTEM, ADAPTER or PARAMETER line of its own.

Left out: pushing to a registry, ADAPTER/LICENSE/MESSAGE lines, merging split models
(llama-gguf-split does it).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..builder.source import CONFIG_KEY, SOURCE_COUNT_KEY, model_constraints, source_path, swa_array_warning
from ..errors import ExportError, OutputError
from ..events import Note, OnEvent, Progress, Stage, emit
from ..files import write_atomic
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import CHAT_TEMPLATE_KEY, NAME_KEY, TOKENS_KEY, block_count_key, model_stem
from ..plan import format_layer_path
from .modelfile import ModelfileError, bare_or_quoted, comment, multiline, quoted
from .templates import FAMILIES, TemplateMatch, match_template

OLLAMA_MAX_CTX = 8192  # num_ctx written: the model's context, capped to keep the KV cache small
DEFAULT_TEMPERATURE = 0.7
OLLAMA_LLAMA_CPP = "b10488"  # the llama.cpp build that current Ollama bundles

_NAME_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(:[A-Za-z0-9][\w.-]*)?$", re.ASCII)

# End-of-turn markers worth a stop string whenever the template writes them.
END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>", "<|return|>")
STOP_TOKEN_KEYS = (
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
)
SAMPLING_KEYS = ("top_k", "top_p", "min_p")  # general.sampling.* keys a GGUF may recommend


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


def default_ollama_name(path: Path) -> str:
    """An Ollama model name derived from the file name (lower case, safe characters)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", model_stem(path).lower()).strip("-._")
    return name or "rys-model"


def _eos_text(model: GGUFModel) -> str:
    eos = model.get("tokenizer.ggml.eos_token_id")
    return model.first.strings_at(TOKENS_KEY, [eos]).get(eos, "") if isinstance(eos, int) else ""


def stop_strings(model: GGUFModel, template: str | None, family: str | None) -> list[str]:
    """Stop strings: EOS/EOT/EOM token texts, end markers in the template, the family's markers."""
    ids = [int(model.get(k)) for k in STOP_TOKEN_KEYS if isinstance(model.get(k), int)]
    texts = model.first.strings_at(TOKENS_KEY, ids)
    stops = [texts[i] for i in ids if texts.get(i)]
    stops += [m for m in END_MARKERS if template and m in template]
    if family is not None:
        stops += FAMILIES[family].stops
    return list(dict.fromkeys(s for s in stops if s))  # the Modelfile writer refuses what it cannot quote


def split_note(first: Path, n_shards: int) -> str:
    """How Ollama versions import a split model (FROM its folder since 0.30, else merge first)."""
    return (
        f"split model ({n_shards} shards): Ollama >= 0.30 imports the shards from their folder, so "
        "FROM names the folder; older Ollama cannot: merge first with `llama-gguf-split --merge "
        f"{first.name} {model_stem(first)}.gguf` and point FROM at the merged file"
    )


@dataclass(frozen=True, slots=True)
class OllamaOptions:
    """The Ollama model's ``name`` (None: from the file name), whether to write a Go TEMPLATE
    (``template``), to run ``ollama create`` (``create``), and to overwrite a different Modelfile."""

    name: str | None = None
    template: bool = True
    create: bool = False
    force: bool = False


def export_ollama(
    path: str | os.PathLike[str],
    options: OllamaOptions = OllamaOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> OllamaExport:
    """Write the Modelfile beside a GGUF and, with ``options.create``, run ``ollama create``.

    ``on_event`` gets its notes and warnings as `Note` events and a `Stage` before ``ollama
    create`` runs (its own output goes to the terminal). Nothing here counts ``progress``.

    Raises:
        ExportError: a name Ollama refuses, a value a Modelfile cannot hold, no ``ollama`` on
            PATH for ``create``, or ``ollama create`` failing.
        OutputError: a different Modelfile exists and ``force`` is off.
    """
    export = prepare_ollama(path, options.name, template=options.template)
    write_modelfile(export, force=options.force)
    for note in export.notes:
        emit(on_event, Note(note))
    for warning in export.warnings:
        emit(on_event, Note(warning, warning=True))
    if options.create:
        binary = find_ollama(export)
        emit(on_event, Stage("running: " + shlex.join(export.command)))
        create_ollama_model(export, binary)
    return export


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
        jinja = model.get(CHAT_TEMPLATE_KEY)
        jinja = jinja if isinstance(jinja, str) else None
        eos = _eos_text(model)
        found = match_template(jinja, eos) if template else TemplateMatch(None, None)
        family = found.family
        stops = tuple(stop_strings(model, jinja, family))
        header = _header(model, path, jinja, family)
        params = _parameters(model, arch)
        swa = swa_array_warning(model, f"Ollama's llama.cpp (build {OLLAMA_LLAMA_CPP})")
    warnings = [swa] if swa else []
    if template and jinja and family is None:
        why = found.mismatch or "it is none of the turn formats written as Go templates"
        warnings.append(
            f"no Go TEMPLATE written: {why} (mapped: {', '.join(FAMILIES)}); Ollama >= 0.30 runs the "
            "GGUF's own jinja template through llama-server, older Ollama may send raw prompts: check the "
            "model's answers with `ollama run` before relying on it"
        )
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
    try:
        lines = [*header, "", f"FROM {bare_or_quoted(source, 'the file name')}", ""]
    except ModelfileError as e:
        raise ModelfileError(f"{path}: {e}; rename the file, then rerun") from None
    if family is not None:
        lines += [f"TEMPLATE {multiline(FAMILIES[family].go, 'the Go template')}", ""]  # ours: always valid
        if found.system:  # the template's own default, for chats that bring no system turn
            try:
                lines += [f"SYSTEM {multiline(found.system, 'the default system prompt')}", ""]
            except ModelfileError as e:
                raise ModelfileError(f"{path}: {e}; pass --no-template to leave the template to Ollama") from None
    try:
        lines += [f"PARAMETER stop {quoted(s, 'the stop string')}" for s in stops]
    except ModelfileError as e:
        raise ModelfileError(
            f"{path}: {e}; the Modelfile is not written (fix the token text, e.g. with gguf-py's "
            "gguf_new_metadata.py, or write the Modelfile yourself)"
        ) from None
    lines += [f"PARAMETER {k} {v}" for k, v in params]  # names are ours, values formatted numbers
    text = "\n".join(lines) + "\n"
    note = template_note(jinja, family)
    return OllamaExport(name, modelfile, text, command, family, note, stops, notes, tuple(warnings))


def _header(model: GGUFModel, path: Path, jinja: str | None, family: str | None) -> list[str]:
    arch = model.architecture
    n_layers = int(model.get(block_count_key(arch), 0))
    title = model.get(NAME_KEY)
    # Comments hold the file's own strings: escaped onto one line each, so none can end early.
    lines = [
        comment("Ollama Modelfile written by rys-gguf."),
        comment(f"Model:    {path.name} ({arch}, {n_layers} layers{f', {title}' if title else ''})"),
    ]
    layer_path = source_path(model)
    if layer_path is not None:
        lines.append(
            comment(
                f"RYS:      config {model.get(CONFIG_KEY)}: {model.get(SOURCE_COUNT_KEY)} -> "
                f"{len(layer_path)} layers, source layers {format_layer_path(layer_path)}"
            )
        )
    else:
        lines.append(comment("RYS:      none recorded (rys.* keys absent: an unmodified model)"))
    return [*lines, comment(f"Template: {template_note(jinja, family)}")]


def template_note(jinja: str | None, family: str | None) -> str:
    """How the chat template reaches Ollama, in one line."""
    if family is not None:
        return f"the Go TEMPLATE below renders the GGUF's {family} turn format as its jinja does"
    if jinja:
        return (
            "left to Ollama (rys-gguf writes Go templates for "
            f"{', '.join(FAMILIES)}; Ollama maps known jinja to Go, else llama-server runs it)"
        )
    return "none in the GGUF (a base model): prompts are passed through unchanged"


def _number(value: object) -> float | None:
    """A finite number from the metadata, else None (a NaN or a string is not a parameter)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _parameters(model: GGUFModel, arch: str) -> list[tuple[str, str]]:
    temp = _number(model.get("general.sampling.temp"))
    params = [("temperature", f"{DEFAULT_TEMPERATURE if temp is None else temp:g}")]
    for key in SAMPLING_KEYS:
        value = _number(model.get(f"general.sampling.{key}"))
        if value is not None:
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
    write_atomic(target, export.text, "check the folder's permissions")
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
