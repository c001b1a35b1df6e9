"""``rys-gguf verify``, ``rys-gguf ollama`` and ``rys-gguf lmstudio``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..untrusted import MAX_MESSAGE, safe_line
from .command import Command, CommandFailed, argument, option, switch
from .options import FORCE, MEMORY, MODEL, QUIET, RUNTIME, parse_memory
from .progress import LazyBar, echo

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions
    from ..ship.verify import VerifyReport


def verify_command(
    src: Path,
    rys: Path,
    text: str | None,
    max_tokens: int | None,
    runtime: RuntimeOptions,
    memory: str | None,
    quiet: bool,
) -> None:
    from ..gguffile.reader import GGUFModel
    from ..ship.verify import FIXED_TEXT, N_SAMPLE_TOKENS, verify_model

    with GGUFModel(src) as a, GGUFModel(rys) as b:
        n_bytes = a.n_bytes + b.n_bytes  # an upper bound of the tensor bytes hashed
    with LazyBar(quiet, total=n_bytes, unit="B", unit_scale=True, desc="hash") as bar:

        def stage(what: str) -> None:
            bar.close()  # hashing is over
            if not quiet:
                echo(f"running {safe_line(what)}", err=True)

        report = verify_model(
            src, rys, text or FIXED_TEXT, runtime,
            n_sample_tokens=max_tokens or N_SAMPLE_TOKENS, progress=bar.update, stage=stage,
            memory=parse_memory(memory),
        )  # fmt: skip
    echo(format_report(report))
    if not report.passed:
        raise CommandFailed(1)


def format_report(report: VerifyReport) -> str:
    """Check lines (✓/✗), the distribution numbers and both samples.

    Details quote file names, recorded configs and llama.cpp's errors, and the samples are text
    the models wrote from their own vocabularies: all of it is escaped, one line each.
    """
    lines = [f"{'✓' if c.passed else '✗'} {c.name}: {safe_line(c.detail, MAX_MESSAGE)}" for c in report.checks]
    if report.top1_agreement is not None and report.mean_kl is not None:
        lines += [
            "",
            f"top-1 agreement  {report.top1_agreement:.3f}",
            f"mean KL          {report.mean_kl:.4f} nats ({report.n_tokens} tokens)",
        ]
    for who, label in (("source", "source sample"), ("rys", "RYS sample")):
        if who in report.samples:
            lines.append(f"{label:<16} {safe_line(repr(report.samples[who]), MAX_MESSAGE)}")
    lines += ["", "verify: passed" if report.passed else "verify: FAILED"]
    return "\n".join(lines)


def ollama_command(model: Path, name: str | None, create: bool, no_template: bool, force: bool) -> None:
    from ..ship.ollama import create_ollama_model, find_ollama, prepare_ollama, write_modelfile

    export = prepare_ollama(model, name, template=not no_template)
    path = write_modelfile(export, force=force)
    echo(f"wrote {safe_line(path)}")
    echo(f"  chat template: {export.template_note}")
    echo(f"  stop: {', '.join(safe_line(s) for s in export.stops) if export.stops else '(none)'}")
    for note in export.notes:  # notes and warnings name files and the model's architecture
        echo(f"note: {safe_line(note, None)}")
    for warning in export.warnings:
        echo(f"warning: {safe_line(warning, None)}", err=True)
    command_line = safe_line(shlex.join(export.command), None)
    if not create:
        echo(f"create the Ollama model with:\n  {command_line}")
        return
    binary = find_ollama(export)
    echo(f"running: {command_line}")
    create_ollama_model(export, binary)
    echo(f"created {export.name}; chat with: ollama run {export.name}")


def lmstudio_command(
    model: Path, publisher: str | None, name: str | None, root: Path | None, copy: bool, force: bool, quiet: bool
) -> None:
    from ..gguffile.reader import GGUFModel
    from ..ship.lmstudio import DEFAULT_PUBLISHER, export_lmstudio

    with GGUFModel(model) as m:
        n_bytes = m.n_bytes
    with LazyBar(quiet or not copy, total=n_bytes, unit="B", unit_scale=True, desc="copy") as bar:
        done = export_lmstudio(
            model, publisher=publisher or DEFAULT_PUBLISHER, name=name, root=root, copy=copy, force=force,
            progress=bar.update,
        )  # fmt: skip
    verb = "copied" if done.copied else "hard-linked"
    echo(f"{verb} {len(done.files)} file(s) into {safe_line(done.folder)}")
    echo(f"LM Studio lists it as {safe_line(done.folder.parent.name)}/{safe_line(done.folder.name)}")
    for warning in done.warnings:
        echo(f"warning: {safe_line(warning, None)}", err=True)


COMMANDS = [
    Command(
        "verify",
        verify_command,
        "Check RYS against SRC: layer path, tensor data, llama.cpp load, next-token agreement.",
        (
            argument("src", "The original GGUF the RYS model was built from.", type=Path),
            argument("rys", "The RYS GGUF to check.", type=Path),
            option("--text", help="Text to compare next-token distributions on (default: a fixed one)."),
            option("--max-tokens", help="Length of each greedy sample (default: 32 tokens).", type=int),
            RUNTIME,
            MEMORY,
            QUIET,
        ),
    ),
    Command(
        "ollama",
        ollama_command,
        "Write an Ollama Modelfile beside MODEL; print `ollama create` (or run it with --create).",
        (
            MODEL,
            option("--name", "-n", help="Ollama model name (default: from the file name)."),
            switch("--create", help="Run `ollama create` now (needs ollama on PATH)."),
            switch("--no-template", help="Write no Go TEMPLATE; leave the chat template to Ollama."),
            FORCE,
        ),
    ),
    Command(
        "lmstudio",
        lmstudio_command,
        "Place MODEL (and its shards) in LM Studio's models folder as ROOT/PUBLISHER/NAME/.",
        (
            MODEL,
            option("--publisher", "-p", help="Publisher folder LM Studio lists the model under (default: rys-gguf)."),
            option("--name", "-n", help="Model folder name (default: from the file name)."),
            option(
                "--root",
                help="LM Studio's models folder (default: $LMSTUDIO_MODELS_DIR or ~/.lmstudio/models).",
                type=Path,
            ),
            switch("--copy", help="Copy the file(s) instead of hard-linking."),
            FORCE,
            QUIET,
        ),
    ),
]
