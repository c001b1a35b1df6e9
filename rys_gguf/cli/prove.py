"""``rys-gguf validate``: re-score the best configs of a sweep on the large probe sets."""

from __future__ import annotations

from pathlib import Path

from .command import Command, argument, option, switch
from .options import N_CTX, QUIET, RUNTIME, SWEEP, TOP, positive_int
from .progress import LazyBar, echo
from .scan import runtime_options


def validate_command(directory: Path, top: int, eq_set: str, quiet: bool) -> None:
    from ..prove.validate import run_validation
    from ..report.tables import format_table

    with LazyBar(quiet, unit="config", desc="validate") as bar:
        summary, note = run_validation(directory, top, eq_set, on_event=lambda e: bar.update(1, total=e.total))
    if note:
        echo(f"note: {note}", err=True)
    echo(format_table(summary, top))
    echo(f"validation table: {directory / 'report.md'}")


def eval_command(
    src: Path | None,
    rys: Path | None,
    tasks: str,
    limit: int | None,
    out: Path | None,
    sweep: Path | None,
    top: int,
    sequential: bool,
    n_gpu_layers: int,
    split_mode: str,
    tensor_split: str | None,
    main_gpu: int,
    threads: int | None,
    flash_attn: bool,
    n_ctx: int,
    quiet: bool,
) -> None:
    from ..errors import OptionError
    from ..prove.eval import Candidate, run_eval, sweep_models

    options = runtime_options(n_gpu_layers, split_mode, tensor_split, main_gpu, threads, flash_attn, n_ctx)
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise OptionError("--tasks: give at least one lm-eval task name or task YAML file")
    if (sweep is None) == (rys is None) or (sweep is not None and src is not None):
        raise OptionError("give SRC and RYS, or --sweep DIR alone (its model and its best configs)")
    with LazyBar(quiet, unit="request", desc="eval") as bar:

        def stage(what: str) -> None:
            if not quiet:
                bar.write(what)

        def evaluate(source: Path, candidates: list[Candidate], folder: Path) -> dict[str, object]:
            return run_eval(
                source, candidates, names, folder, options, limit=limit, sequential=sequential, stage=stage,
                progress=bar.update,
            )  # fmt: skip

        if sweep is not None:
            with sweep_models(sweep, top) as (source, candidates):
                data = evaluate(source, candidates, out or sweep)
            folder = out or sweep
        else:
            assert src is not None and rys is not None
            folder = out or rys.with_name(rys.stem + "-eval")
            data = evaluate(src, [Candidate(rys.stem, rys)], folder)
    from ..report.tables import eval_markdown

    echo(eval_markdown(data))
    echo(f"\nwrote {folder / 'eval.json'} and {folder / 'report.md'}")


COMMANDS = [
    Command(
        "validate",
        validate_command,
        "Re-score the top K configs and the baseline on 120 math + the large EQ set, with intervals.",
        (
            SWEEP,
            TOP(help="How many of the best configs to re-score.", default=5),
            option(
                "--eq-set",
                help="EQ set: eqbench-v2 (171; offline: the held-out built-in validation set), validation (49 "
                "dialogues no search uses) or a JSON file; a set that shares items with the search probes is refused.",
                default="eqbench-v2",
            ),
            QUIET,
        ),
    ),
    Command(
        "eval",
        eval_command,
        "Score SRC and RYS (or a sweep's best configs) on lm-evaluation-harness tasks, with paired intervals.",
        (
            argument("src", "The source GGUF.", type=Path, optional=True),
            argument("rys", "The RYS GGUF to compare with it.", type=Path, optional=True),
            option(
                "--tasks",
                help="lm-eval task names or task YAML files, comma-separated (names need the network).",
                required=True,
            ),
            option("--limit", help="At most N items per task.", type=positive_int),
            option(
                "--out", "-o", help="Folder for eval.json and report.md (default: beside RYS, or the sweep).", type=Path
            ),
            option("--sweep", help="Evaluate the best configs of this sweep folder against its model.", type=Path),
            TOP(help="With --sweep: how many of the best configs.", default=3),
            switch("--sequential", help="Generate one request at a time (a check of the batched runner)."),
            *RUNTIME,
            N_CTX,
            QUIET,
        ),
    ),
]
