"""``rys-gguf verify``, ``rys-gguf ollama`` and ``rys-gguf lmstudio``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .options import FlashAttn, Force, MainGpu, ModelArg, NGpu, Quiet, SplitMode, TensorSplit, Threads
from .progress import LazyBar
from .scan import runtime_options

if TYPE_CHECKING:
    from ..ship.verify import VerifyReport


def verify_command(
    src: Annotated[Path, typer.Argument(help="The original GGUF the RYS model was built from.")],
    rys: Annotated[Path, typer.Argument(help="The RYS GGUF to check.")],
    text: Annotated[
        str | None,
        typer.Option("--text", help="Text to compare next-token distributions on (default: a fixed one)."),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Length of each greedy sample (default: 32 tokens).")
    ] = None,
    n_gpu_layers: NGpu = -1,
    split_mode: SplitMode = "layer",
    tensor_split: TensorSplit = None,
    main_gpu: MainGpu = 0,
    threads: Threads = None,
    flash_attn: FlashAttn = False,
    quiet: Quiet = False,
) -> None:
    """Check RYS against SRC: layer path, tensor data, llama.cpp load, next-token agreement."""
    from ..gguffile.reader import GGUFModel
    from ..ship.verify import FIXED_TEXT, N_SAMPLE_TOKENS, verify_model

    options = runtime_options(n_gpu_layers, split_mode, tensor_split, main_gpu, threads, flash_attn)
    with GGUFModel(src) as a, GGUFModel(rys) as b:
        n_bytes = a.n_bytes + b.n_bytes  # an upper bound of the tensor bytes hashed
    with LazyBar(quiet, total=n_bytes, unit="B", unit_scale=True, desc="hash") as bar:

        def stage(what: str) -> None:
            bar.close()  # hashing is over
            if not quiet:
                typer.echo(f"running {what}", err=True)

        report = verify_model(
            src, rys, text or FIXED_TEXT, options,
            n_sample_tokens=max_tokens or N_SAMPLE_TOKENS, progress=bar.update, stage=stage,
        )  # fmt: skip
    typer.echo(format_report(report))
    if not report.passed:
        raise typer.Exit(1)


def format_report(report: VerifyReport) -> str:
    """Check lines (✓/✗), the distribution numbers and both samples."""
    lines = [f"{'✓' if c.passed else '✗'} {c.name}: {c.detail}" for c in report.checks]
    if report.top1_agreement is not None and report.mean_kl is not None:
        lines += [
            "",
            f"top-1 agreement  {report.top1_agreement:.3f}",
            f"mean KL          {report.mean_kl:.4f} nats ({report.n_tokens} tokens)",
        ]
    for who, label in (("source", "source sample"), ("rys", "RYS sample")):
        if who in report.samples:
            lines.append(f"{label:<16} {report.samples[who]!r}")
    lines += ["", "verify: passed" if report.passed else "verify: FAILED"]
    return "\n".join(lines)


def ollama_command(
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
    from ..ship.ollama import create_ollama_model, find_ollama, prepare_ollama, write_modelfile

    export = prepare_ollama(model, name, template=not no_template)
    path = write_modelfile(export, force=force)
    typer.echo(f"wrote {path}")
    typer.echo(f"  chat template: {export.template_note}")
    typer.echo(f"  stop: {', '.join(export.stops) if export.stops else '(none)'}")
    for note in export.notes:
        typer.echo(f"note: {note}")
    for warning in export.warnings:
        typer.echo(f"warning: {warning}", err=True)
    command_line = shlex.join(export.command)
    if not create:
        typer.echo(f"create the Ollama model with:\n  {command_line}")
        return
    binary = find_ollama(export)
    typer.echo(f"running: {command_line}")
    create_ollama_model(export, binary)
    typer.echo(f"created {export.name}; chat with: ollama run {export.name}")


def lmstudio_command(
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
    from ..gguffile.reader import GGUFModel
    from ..ship.lmstudio import DEFAULT_PUBLISHER, export_lmstudio

    with GGUFModel(model) as m:
        n_bytes = m.n_bytes
    with LazyBar(quiet or not copy, total=n_bytes, unit="B", unit_scale=True, desc="copy") as bar:
        done = export_lmstudio(
            model,
            publisher=publisher or DEFAULT_PUBLISHER,
            name=name,
            root=root,
            copy=copy,
            force=force,
            progress=bar.update,
        )
    verb = "copied" if done.copied else "hard-linked"
    typer.echo(f"{verb} {len(done.files)} file(s) into {done.folder}")
    typer.echo(f"LM Studio lists it as {done.folder.parent.name}/{done.folder.name}")
    for warning in done.warnings:
        typer.echo(f"warning: {warning}", err=True)
