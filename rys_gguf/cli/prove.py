"""``rys-gguf validate``: re-score the best configs of a sweep on the large probe sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .command import Command, argument, option, switch
from .options import MEMORY, MIN_PARSE_RATE, N_CTX, N_EQ, N_MATH, QUIET, RUNTIME, SWEEP, TOP, parse_memory, positive_int
from .progress import LazyBar, echo

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions


def validate_command(
    directory: Path,
    top: int,
    eq_set: str,
    n_math: int | None,
    n_eq: int | None,
    min_parse_rate: float,
    memory: str | None,
    quiet: bool,
) -> None:
    from ..prove.validate import run_validation
    from ..report.tables import format_validation
    from ..untrusted import safe_line

    with LazyBar(quiet, unit="config", desc="validate") as bar:
        summary, note = run_validation(
            directory, top, eq_set, on_event=lambda e: bar.update(1, total=e.total), n_math=n_math, n_eq=n_eq,
            min_parse_rate=min_parse_rate, memory=parse_memory(memory),
        )  # fmt: skip
    if note:
        echo(f"note: {safe_line(note, None)}", err=True)
    echo(format_validation(summary))
    echo(f"validation table: {safe_line(directory / 'report.md')}")


def eval_command(
    src: Path | None,
    rys: Path | None,
    tasks: str,
    limit: int | None,
    out: Path | None,
    sweep: Path | None,
    top: int,
    sequential: bool,
    runtime: RuntimeOptions,
    memory: str | None,
    quiet: bool,
) -> None:
    from ..errors import OptionError
    from ..prove.eval import Candidate, run_eval, sweep_models
    from ..untrusted import safe_line

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise OptionError("--tasks: give at least one lm-eval task name or task YAML file")
    if (sweep is None) == (rys is None) or (sweep is not None and src is not None):
        raise OptionError("give SRC and RYS, or --sweep DIR alone (its model and its best configs)")
    with LazyBar(quiet, unit="request", desc="eval") as bar:

        def stage(what: str) -> None:
            if not quiet:
                bar.write(safe_line(what))

        def evaluate(source: Path, candidates: list[Candidate], folder: Path) -> dict[str, object]:
            return run_eval(
                source, candidates, names, folder, runtime, limit=limit, sequential=sequential, stage=stage,
                progress=bar.update, memory=parse_memory(memory),
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
    from ..untrusted import safe_block

    echo(safe_block(eval_markdown(data)))
    echo(f"\nwrote {safe_line(folder / 'eval.json')} and {safe_line(folder / 'report.md')}")


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
            N_MATH,
            N_EQ,
            MIN_PARSE_RATE,
            MEMORY,
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
            RUNTIME.with_params(N_CTX),
            MEMORY,
            QUIET,
        ),
    ),
]
