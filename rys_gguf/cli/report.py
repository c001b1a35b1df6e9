"""``rys-gguf report`` (rank a sweep, draw its heatmaps, write its report files) and ``rys-gguf
replay`` (benchmark the search strategies against a recorded sweep)."""

import json
from typing import Annotated

import typer

from ..errors import OptionError
from .options import MetricOption, NoPng, Quiet, SweepArg, Top, command, single_thread_blas
from .progress import Reporter, echo, show_report


@command("report", "Rank a sweep; write heatmaps, ranking.csv/json and report.md into DIR.")
def report(directory: SweepArg, metric: MetricOption = "z", top: Top = 10, no_png: NoPng = False) -> None:
    """Rank a sweep; write heatmaps, ranking.csv/json and report.md into DIR."""
    from ..report.write import ReportOptions, write_report

    show_report(write_report(directory, ReportOptions(metric=metric, top=top, png=not no_png)), top)


def parse_shares(text: str) -> tuple[float, ...]:
    """'5%,10%,20%' (or fractions 0.05,0.1) -> (0.05, 0.1, 0.2)."""
    shares = []
    for part in text.split(","):
        t = part.strip()
        try:
            share = float(t[:-1]) / 100 if t.endswith("%") else float(t)
        except ValueError:
            share = -1.0
        if not 0 < share <= 1:
            raise OptionError(f"--budgets {text!r}: expected shares like 5%,10%,20% (each in (0, 100%])")
        shares.append(share)
    return tuple(shares)


@command(
    "replay",
    "Benchmark the search strategies on a recorded sweep, holes allowed: each sees only the configs it asks for.",
)
def replay(
    directory: SweepArg,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeded runs per strategy and budget.")] = 20,
    budgets: Annotated[
        str, typer.Option("--budgets", help="The budgets replayed, as shares of the sweep's configs.")
    ] = "5%,10%,20%",
    metric: MetricOption = "z",
    top_fraction: Annotated[
        float,
        typer.Option(
            "--top-fraction",
            help=(
                "A pick is a hit when it lies in this top share of the folder's ranking; "
                "recall is the share of it the search's shortlist holds."
            ),
        ),
    ] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    quiet: Quiet = False,
) -> None:
    """Benchmark the search strategies on a recorded sweep, holes allowed: each sees only the configs it asks for."""
    single_thread_blas()
    from ..report.replay import ReplayOptions, format_replay, replay

    shares = parse_shares(budgets)
    if not 0 < top_fraction < 1:
        raise OptionError(f"--top-fraction {top_fraction}: expected a share in (0, 1), e.g. 0.02")
    options = ReplayOptions(budgets=shares, seeds=seeds, metric=metric, top_fraction=top_fraction)
    with Reporter(quiet or as_json) as shown:
        table = replay(directory, options, progress=shown.progress, on_event=shown.on_event)
    echo(json.dumps(table.as_json()) if as_json else format_replay(table))


COMMANDS = [report, replay]
