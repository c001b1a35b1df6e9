"""``rys-gguf verify``, ``rys-gguf ollama`` and ``rys-gguf lmstudio``."""

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..untrusted import MAX_MESSAGE, safe_line
from .options import RUNTIME, CommandFailed, Force, Memory, ModelArg, Quiet, command, parse_memory
from .progress import Reporter, echo

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions
    from ..ship.verify import VerifyReport


@command("verify", "Check RYS against SRC: layer path, tensor data, llama.cpp load, next-token agreement.")
def verify(
    src: Annotated[Path, typer.Argument(help="The original GGUF the RYS model was built from.", metavar="SRC")],
    rys: Annotated[Path, typer.Argument(help="The RYS GGUF to check.", metavar="RYS")],
    runtime: Annotated["RuntimeOptions", RUNTIME],
    text: Annotated[
        str | None, typer.Option("--text", help="Text to compare next-token distributions on (default: a fixed one).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Length of each greedy sample (default: 32 tokens).")
    ] = None,
    memory: Memory = None,
    quiet: Quiet = False,
) -> None:
    """Check RYS against SRC: layer path, tensor data, llama.cpp load, next-token agreement."""
    from ..ship.verify import FIXED_TEXT, N_SAMPLE_TOKENS, VerifyOptions, verify_model

    options = VerifyOptions(text or FIXED_TEXT, max_tokens or N_SAMPLE_TOKENS, runtime, parse_memory(memory))
    with Reporter(quiet, numbered=False) as shown:
        report = verify_model(src, rys, options, progress=shown.progress, on_event=shown.on_event)
    echo(format_report(report))
    if not report.passed:
        raise CommandFailed(1)


def format_report(report: "VerifyReport") -> str:
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


@command("ollama", "Write an Ollama Modelfile beside MODEL; print `ollama create` (or run it with --create).")
def ollama(
    model: ModelArg,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Ollama model name (default: from the file name).")
    ] = None,
    create: Annotated[bool, typer.Option("--create", help="Run `ollama create` now (needs ollama on PATH).")] = False,
    no_template: Annotated[
        bool, typer.Option("--no-template", help="Write no Go TEMPLATE; leave the chat template to Ollama.")
    ] = False,
    force: Force = False,
) -> None:
    """Write an Ollama Modelfile beside MODEL; print `ollama create` (or run it with --create)."""
    from ..ship.ollama import OllamaOptions, export_ollama

    with Reporter(True) as shown:
        export = export_ollama(
            model, OllamaOptions(name, template=not no_template, create=create, force=force), on_event=shown.on_event
        )
    echo(f"wrote {safe_line(export.modelfile)}")
    echo(f"  chat template: {export.template_note}")
    echo(f"  stop: {', '.join(safe_line(s) for s in export.stops) if export.stops else '(none)'}")
    command_line = safe_line(shlex.join(export.command), None)
    if create:
        echo(f"created {export.name}; chat with: ollama run {export.name}")
    else:
        echo(f"create the Ollama model with:\n  {command_line}")


@command("lmstudio", "Place MODEL (and its shards) in LM Studio's models folder as ROOT/PUBLISHER/NAME/.")
def lmstudio(
    model: ModelArg,
    publisher: Annotated[
        str | None,
        typer.Option("--publisher", "-p", help="Publisher folder LM Studio lists the model under (default: rys-gguf)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Model folder name (default: from the file name).")
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="LM Studio's models folder (default: $LMSTUDIO_MODELS_DIR or ~/.lmstudio/models)."),
    ] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy the file(s) instead of hard-linking.")] = False,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Place MODEL (and its shards) in LM Studio's models folder as ROOT/PUBLISHER/NAME/."""
    from ..ship.lmstudio import DEFAULT_PUBLISHER, LMStudioOptions, export_lmstudio

    options = LMStudioOptions(publisher or DEFAULT_PUBLISHER, name, root, copy, force)
    with Reporter(quiet) as shown:
        done = export_lmstudio(model, options, progress=shown.progress, on_event=shown.on_event)
    verb = "copied" if done.copied else "hard-linked"
    echo(f"{verb} {len(done.files)} file(s) into {safe_line(done.folder)}")
    echo(f"LM Studio lists it as {safe_line(done.folder.parent.name)}/{safe_line(done.folder.name)}")


COMMANDS = [verify, ollama, lmstudio]
