"""``rys-gguf validate`` (re-score the best configs of a sweep on the large probe sets) and
``rys-gguf eval`` (lm-evaluation-harness tasks on the source and its RYS models)."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import OptionError
from .options import RUNTIME_CTX, Memory, MinParseRate, NEq, NMath, Quiet, SweepArg, command, parse_memory
from .progress import Reporter, echo

if TYPE_CHECKING:
    from ..llama.options import RuntimeOptions

VALIDATE_EQ_HELP = (
    "EQ set: eqbench-v2 (171; offline: the held-out built-in validation set), validation (49 dialogues no search "
    "uses) or a JSON file; a set that shares items with the search probes is refused."
)

TOP_HELP = "How many configs of the sweep's shortlist to re-score (after a search: its picks by its own estimate)."


@command("validate", "Re-score the top K configs and the baseline on 120 math + the large EQ set, with intervals.")
def validate(
    directory: SweepArg,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help=TOP_HELP)] = 5,
    eq_set: Annotated[str, typer.Option("--eq-set", help=VALIDATE_EQ_HELP)] = "eqbench-v2",
    n_math: NMath = None,
    n_eq: NEq = None,
    min_parse_rate: MinParseRate = 0.5,
    memory: Memory = None,
    quiet: Quiet = False,
) -> None:
    """Re-score the top K configs and the baseline on 120 math + the large EQ set, with intervals."""
    from ..prove.validate import ValidateOptions, run_validation
    from ..report.tables import format_validation
    from ..untrusted import safe_line

    options = ValidateOptions(top, eq_set, n_math, n_eq, min_parse_rate, parse_memory(memory))
    with Reporter(quiet) as shown:
        summary = run_validation(directory, options, progress=shown.progress, on_event=shown.on_event)
    echo(format_validation(summary))
    echo(f"validation table: {safe_line(directory / 'report.md')}")


@command("eval", "Score SRC and RYS (or a sweep's best configs) on lm-evaluation-harness tasks, with paired intervals.")
def eval(
    tasks: Annotated[
        str,
        typer.Option(
            "--tasks", help="lm-eval task names or task YAML files, comma-separated (names need the network)."
        ),
    ],
    runtime: Annotated["RuntimeOptions", RUNTIME_CTX],
    src: Annotated[Path | None, typer.Argument(help="The source GGUF.", metavar="SRC")] = None,
    rys: Annotated[Path | None, typer.Argument(help="The RYS GGUF to compare with it.", metavar="RYS")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N items per task.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for eval.json, report.md and the source's kept results (default: beside RYS, or the sweep).",
        ),
    ] = None,
    sweep: Annotated[
        Path | None,
        typer.Option("--sweep", help="Evaluate this sweep's shortlist (what validate --top takes) against its model."),
    ] = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="With --sweep: how many of the shortlist.")] = 3,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="Generate one request at a time (a check of the batched runner).")
    ] = False,
    memory: Memory = None,
    quiet: Quiet = False,
) -> None:
    """Score SRC and RYS (or a sweep's best configs) on lm-evaluation-harness tasks, with paired intervals."""
    from ..files import new_folder
    from ..prove.eval import Candidate, EvalOptions, run_eval, sweep_models
    from ..report.tables import eval_markdown
    from ..untrusted import safe_block, safe_line

    names = tuple(t.strip() for t in tasks.split(",") if t.strip())
    if not names:
        raise OptionError("--tasks: give at least one lm-eval task name or task YAML file")
    if (sweep is None) == (rys is None) or (sweep is not None and src is not None):
        raise OptionError("give SRC and RYS, or --sweep DIR alone (its model and its best configs)")
    options = EvalOptions(names, limit, sequential, runtime, parse_memory(memory))
    with Reporter(quiet, numbered=True) as shown:
        if sweep is not None:
            folder = out or sweep
            with (
                sweep_models(sweep, top, shown.on_event) as (source, candidates),
                new_folder(folder, "pass another --out"),
            ):
                result = run_eval(source, candidates, folder, options, progress=shown.progress, on_event=shown.on_event)
        else:
            assert src is not None and rys is not None
            folder = out or rys.with_name(rys.stem + "-eval")
            with new_folder(folder, "pass another --out"):  # removed again if the run fails before writing to it
                result = run_eval(
                    src, [Candidate(rys.stem, rys)], folder, options, progress=shown.progress, on_event=shown.on_event
                )
    echo(safe_block(eval_markdown(result.data)))
    echo(f"\nwrote {safe_line(result.path)} and {safe_line(folder / 'report.md')}")


COMMANDS = [validate, eval]
