"""Every parameter more than one command takes, declared once with its help beside it, and the
option families a command receives as one value (`Family`, `command`).

A family (runtime, probes, grid, search, build, workers) is a group of options shown in a help
panel of its own, whose values build one library object: a command declares
``runtime: Annotated[RuntimeOptions, RUNTIME]`` and receives the RuntimeOptions, so a command
function takes about ten parameters however many options it shows. Short flags mean one thing
everywhere: -c config, -o out, -q quiet, -k top, -n name, -t type, -m metric, -p publisher,
-ngl GPU layers. Values are checked where they are parsed: a bad one is one line, exit code 2.
"""

import builtins
import copy
import inspect
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

import typer
from typer.models import ArgumentInfo

from ..errors import OptionError
from .helpformat import PanelCommand

if TYPE_CHECKING:
    from ..builder.layout import BuildOptions
    from ..llama.options import RuntimeOptions
    from ..probes import ProbeSpec
    from ..scan.grid import GridSpec
    from ..search.strategies import SearchSpec

# -- value parsers (errors are one line, exit code 2) ---------------------------------------


def parse_size(text: str, option: str = "--split-max-size") -> int:
    """'50G' -> 50e9 bytes (decimal units, like gguf-split); plain integers are bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise OptionError(f"{option} {text!r}: expected a size like 50G or 500M")
    scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}[m[2].upper()]
    n = int(float(m[1]) * scale)
    if n < 1:
        raise OptionError(f"{option} {text!r}: expected a size of at least 1 byte, like 50G or 500M")
    return n


def checked_number(
    value: float, option: str, low: float = -math.inf, high: float = math.inf, *, text: str = "", example: str = ""
) -> Any:
    """``value`` if it is a finite number in [low, high], else one line naming the option, the
    range and an example: the one place option values are range-checked."""
    if not (math.isfinite(value) and low <= value <= high):
        span = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        hint = f", e.g. {example}" if example else ""
        raise OptionError(f"{option} {text or value!r}: expected a number {span}{hint}")
    return value


def in_range(low: float, high: float = math.inf, example: str = "") -> Callable[..., Any]:
    """A typer callback for a float option: NaN, infinities and values outside [low, high] are
    refused (typer's own min/max let NaN through)."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
        if value is None or ctx.resilient_parsing:
            return value
        option = max(param.opts, key=len) if param.opts else str(param.name)
        return checked_number(value, option, low, high, text=f"{value:g}", example=example)  # type: ignore[no-any-return]

    return check


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """'1,1' -> (1.0, 1.0); None or '' -> None. Every number must be finite."""
    if not text:
        return None
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = (math.nan,)
    if not all(math.isfinite(v) for v in values):
        raise OptionError(f"{option} {text!r}: expected numbers separated by commas, e.g. 1,1")
    return values


def parse_ids(text: str | None, option: str) -> tuple[int, ...]:
    """'0,1' -> (0, 1): device numbers, each a whole number >= 0, none twice."""
    if not text:
        return ()
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts) or len(set(parts)) != len(parts):
        raise OptionError(f"{option} {text!r}: expected GPU numbers separated by commas, each once, e.g. 0,1")
    return tuple(int(p) for p in parts)


def parse_memory(text: str | None) -> tuple[int, ...] | None:
    """'24G,24G' -> bytes per device; 'none' -> () (no check); None or 'auto' -> None (detect)."""
    if text is None or text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return ()
    return tuple(parse_size(part, "--memory") for part in text.split(","))


def parse_range(text: str | None) -> tuple[int, int] | None:
    """'a:b' -> (a, b) with a < b."""
    if not text:
        return None
    a, sep, b = text.partition(":")
    if not sep or not a.isdigit() or not b.isdigit() or int(a) >= int(b):
        raise OptionError(f"--start {text!r}: expected a:b with a < b (block starts a <= i < b)")
    return int(a), int(b)


def parse_slice(text: str | None) -> tuple[int, int] | None:
    """'k/n' -> (k, n) with 1 <= k <= n: this machine's slice of the grid."""
    if not text:
        return None
    from ..scan.slices import parse_slice as parse

    return parse(text)


def single_thread_blas() -> None:
    """The search model's matrices are small (a few hundred rows): BLAS threads cost more than they
    give, up to 30x on a busy machine. Set before numpy loads; an explicit setting wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# -- families: options a command receives as one value ---------------------------------------


@dataclass(frozen=True, slots=True)
class Family:
    """Options shown in one help panel whose values ``build`` turns into one value."""

    panel: str
    params: tuple[inspect.Parameter, ...]
    build: Callable[..., Any]

    def plus(self, *extra: inspect.Parameter) -> "Family":
        """The family with more options (``build`` must accept them), in the same panel."""
        return replace(self, params=(*self.params, *(_in_panel(p, self.panel) for p in extra)))


def option(name: str, kind: Any, default: Any, *flags: str, help: str, **typer_args: Any) -> inspect.Parameter:
    """One option as a parameter: its keyword, type, default, flags and help (``typer.Option``)."""
    info = typer.Option(*flags, help=help, show_default=default not in (None, False), **typer_args)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info])


def _in_panel(p: inspect.Parameter, panel: str) -> inspect.Parameter:
    kind, info = get_args(p.annotation)
    info = copy.copy(info)  # an option may sit in several families
    info.rich_help_panel = panel
    return p.replace(annotation=Annotated[kind, info])


def family(panel: str, build: Callable[..., Any], *params: inspect.Parameter) -> Family:
    return Family(panel, tuple(_in_panel(p, panel) for p in params), build)


def _family_of(annotation: Any) -> Family | None:
    if get_origin(annotation) is Annotated:
        return next((m for m in get_args(annotation)[1:] if isinstance(m, Family)), None)
    return None


class _Names(dict[str, Any]):
    """Names for evaluating a command's annotations: the module's, else builtins, else Any. A
    family's value type (``RuntimeOptions``) is imported for type checking only, so that the
    command line does not load the library's modules before a command runs."""

    def __init__(self, module: dict[str, Any]) -> None:
        super().__init__()
        self.module = module

    def __missing__(self, key: str) -> Any:
        return self.module.get(key, getattr(builtins, key, Any))


def _annotation(fn: Callable[..., Any], annotation: Any) -> Any:
    return eval(annotation, fn.__globals__, _Names(fn.__globals__)) if isinstance(annotation, str) else annotation


class CommandFailed(Exception):
    """Raised by a command that ran to the end but must exit with ``code`` (verify's failed check)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Interrupted(Exception):
    """Ctrl-C during a command, carried past typer to the error boundary."""


@dataclass(frozen=True, slots=True)
class Command:
    """A command as a command module declares it: its name, summary and function."""

    name: str
    summary: str
    run: Callable[..., Any]


def command(name: str, summary: str) -> Callable[[Callable[..., Any]], Command]:
    """Declare ``fn`` as command ``name`` (``app`` adds it with `add_command`)."""

    def declare(fn: Callable[..., Any]) -> Command:
        return Command(name, summary, fn)

    return declare


def add_command(app: typer.Typer, cmd: Command) -> None:
    """Add ``cmd`` to ``app``: a parameter annotated with a `Family` shows the family's options and
    receives the value they build; every other parameter is taken as declared."""
    fn = cmd.run
    params: list[inspect.Parameter] = []
    families: dict[str, Family] = {}
    for p in inspect.signature(fn).parameters.values():
        p = p.replace(annotation=_annotation(fn, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
        found = _family_of(p.annotation)
        if found is None:
            params.append(p)
        else:
            families[p.name] = found
            params += found.params
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{cmd.name}: two options share a keyword: {sorted(n for n in names if names.count(n) > 1)}")

    def run(**values: Any) -> Any:
        try:
            for keyword, fam in families.items():
                values[keyword] = fam.build(**{q.name: values.pop(q.name) for q in fam.params})
            return fn(**values)
        except KeyboardInterrupt as e:  # typer would turn it into a silent exit code
            raise Interrupted() from e

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__name__ = fn.__name__
    helps = {
        p.name: info.help
        for p in params
        for info in get_args(p.annotation)[1:]
        if isinstance(info, ArgumentInfo) and info.help
    }
    app.command(cmd.name, help=cmd.summary, cls=PanelCommand.for_command(helps))(run)


# -- shared parameters ----------------------------------------------------------------------

PLAN_HELP = "Layer plan: 'i,j' (layers i..j-1 run twice), 'i,j;k,l' (several blocks) or 'layers:0,1,...'."
Metric = Literal["z", "sum", "math", "eq"]

ModelArg = Annotated[Path, typer.Argument(help="The GGUF (or the first shard of a split model).", metavar="MODEL")]
SweepArg = Annotated[Path, typer.Argument(help="A sweep folder made by rys-gguf scan.", metavar="DIR")]
Config = Annotated[str, typer.Option("--config", "-c", help=PLAN_HELP)]
Force = Annotated[bool, typer.Option("--force", help="Overwrite the output if it exists.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Top = Annotated[int, typer.Option("--top", "-k", min=1, help="Configs in the top table.")]
NoPng = Annotated[bool, typer.Option("--no-png", help="Skip the PNG heatmaps (no matplotlib).")]
Imatrix = Annotated[
    Path | None, typer.Option("--imatrix", help="Importance matrix (llama-imatrix output, GGUF or .dat).")
]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads (default: all cores).")]
MetricOption = Annotated[
    Metric,
    typer.Option(
        "--metric",
        "-m",
        help="Rank (and, where a search runs, search) by: z = z(Δmath) + z(Δeq) (the original's balanced score), "
        "sum = Δmath + Δeq, math or eq alone.",
    ),
]
Memory = Annotated[
    str | None,
    typer.Option(
        "--memory",
        help="Memory per device, e.g. 24G,24G: what cannot fit is skipped (a scan's configs) or refused, never "
        "loaded. Default auto: each GPU's free memory as llama.cpp reports it (no check without GPU offload); "
        "none: no check.",
    ),
]
NMath = Annotated[
    int | None, typer.Option("--n-math", min=1, help="Use only N math items, evenly spaced over the set's kinds.")
]
NEq = Annotated[int | None, typer.Option("--n-eq", min=1, help="Use only the first N EQ items.")]
MinParseRate = Annotated[
    float,
    typer.Option(
        "--min-parse-rate",
        min=0.0,
        max=1.0,
        callback=in_range(0, 1, "0.5"),
        help="Stop when the baseline parses fewer answers than this share.",
    ),
]

SWA_HELP = (
    "Sliding-window families: allow any block size by writing each layer's SWA flag as an array (honoured by "
    "new llama.cpp; older runtimes such as current Ollama ignore it)."
)
SWA_PATTERN = option("write_swa_pattern", bool, False, "--write-swa-pattern", help=SWA_HELP)
ALLOW_UNKNOWN = option(
    "allow_unknown_arch",
    bool,
    False,
    "--allow-unknown-arch",
    help="Treat an architecture missing from the rules table as plain.",
)
FORCE = option("force", bool, False, "--force", help="Overwrite the output if it exists.")


def _build_options(
    write_swa_pattern: bool = False,
    allow_unknown_arch: bool = False,
    force: bool = False,
    split_max_size: str | None = None,
) -> "BuildOptions":
    from ..builder.layout import BuildOptions

    return BuildOptions(
        write_swa_pattern=write_swa_pattern,
        allow_unknown_arch=allow_unknown_arch,
        force=force,
        split_max_bytes=parse_size(split_max_size) if split_max_size else 0,
    )


# The build rules: how an RYS file is written (build, convert) or assembled (scan, stack).
BUILD_RULES = family("Build", _build_options, SWA_PATTERN)
BUILD = BUILD_RULES.plus(ALLOW_UNKNOWN, FORCE)


def _runtime(
    n_gpu_layers: int,
    split_mode: str,
    tensor_split: str | None,
    main_gpu: int,
    threads: int | None,
    flash_attn: bool,
    cpu_repack: str | None,
    n_ctx: int = 0,
    no_think: bool = False,
) -> "RuntimeOptions":
    from ..llama.options import RuntimeOptions

    return RuntimeOptions(
        n_gpu_layers=n_gpu_layers, split_mode=split_mode, tensor_split=parse_floats(tensor_split, "--tensor-split"),
        main_gpu=main_gpu, n_ctx=n_ctx, n_threads=threads, flash_attn=flash_attn, no_think=no_think,
        cpu_repack=cpu_repack,
    )  # fmt: skip


N_CTX = option("n_ctx", int, 0, "--n-ctx", min=0, help="Context size; 0 sizes it for all probe prompts at once.")
NO_THINK = option(
    "no_think",
    bool,
    False,
    "--no-think",
    help="Thinking models: '/no_think' and a closed think block before each answer.",
)
RUNTIME = family(
    "Runtime (llama.cpp)",
    _runtime,
    option(
        "n_gpu_layers", int, -1, "--n-gpu-layers", "-ngl", min=-1, help="Layers to offload to the GPU(s); -1 = all."
    ),
    option(
        "split_mode",
        Literal["none", "layer", "row"],
        "layer",
        "--split-mode",
        help="How to spread one model over GPUs: none, layer or row.",
    ),
    option(
        "tensor_split",
        str | None,
        None,
        "--tensor-split",
        help="Share of the model per GPU, e.g. 1,1 for two equal GPUs.",
    ),
    option("main_gpu", int, 0, "--main-gpu", min=0, help="GPU for the model (split-mode none) or scratch results."),
    option("threads", int | None, None, "--threads", min=1, help="CPU threads (default: all cores)."),
    option("flash_attn", bool, False, "--flash-attn", help="Use flash attention."),
    option(
        "cpu_repack",
        Literal["auto", "on", "off"] | None,
        None,
        "--cpu-repack",
        help="Let llama.cpp repack CPU weights for the CPU's matrix units: auto (tried once per llama.cpp build and "
        "CPU; off where it crashes, as on CPUs with AMX), on or off. Default: $RYS_CPU_REPACK, else auto.",
    ),
)
RUNTIME_CTX = RUNTIME.plus(N_CTX)


def _probes(math: str, eq_set: str, n_math: int | None, n_eq: int | None, eq_scorer: str, seed: int) -> "ProbeSpec":
    from ..probes import ProbeSpec

    return ProbeSpec(math=math, eq=eq_set, eq_scorer=eq_scorer, seed=seed, n_eq=n_eq, n_math=n_math)


PROBES = family(
    "Probes",
    _probes,
    option(
        "math",
        Literal["search", "validation", "none"],
        "search",
        "--math",
        help="Math set: search (16), validation (120) or none.",
    ),
    option(
        "eq_set",
        str,
        "builtin",
        "--eq-set",
        help="EQ set: builtin (16), eqbench-v2 (171, downloaded once), validation (49, held out for validate), "
        "a JSON file, or none.",
    ),
    option(
        "n_math", int | None, None, "--n-math", min=1, help="Use only N math items, evenly spaced over the set's kinds."
    ),
    option("n_eq", int | None, None, "--n-eq", min=1, help="Use only the first N EQ items."),
    option(
        "eq_scorer",
        Literal["eqbench-v2", "ng"],
        "eqbench-v2",
        "--eq-scorer",
        help="eqbench-v2 (official v2 formula) or ng (the original scanner's).",
    ),
    option("seed", int, 0, "--seed", help="Seed of the generated math questions."),
)


def _grid(
    min_block: int, max_block: int | None, start: str | None, configs: Path | None, slice: str | None, shard: str | None
) -> "GridSpec":
    from ..scan.grid import GridSpec

    if shard is not None and slice is not None:
        raise OptionError("--shard is the old name of --slice; give one of them")
    return GridSpec(
        min_block=min_block, max_block=max_block, starts=parse_range(start), configs_file=configs,
        machine_slice=parse_slice(slice if slice is not None else shard),
    )  # fmt: skip


GRID = family(
    "Grid",
    _grid,
    option("min_block", int, 1, "--min-block", min=1, help="Smallest block size j-i."),
    option("max_block", int | None, None, "--max-block", min=1, help="Largest block size j-i."),
    option("start", str | None, None, "--start", help="Only blocks starting at a <= i < b, as a:b."),
    option("configs", Path | None, None, "--configs", help="File with one config per line (any spec)."),
    option(
        "slice", str | None, None, "--slice", help="Run slice k of n of the grid (k/n, 1-based), for many machines."
    ),
    option("shard", str | None, None, "--shard", hidden=True, help="The old name of --slice."),
)

SEARCH_HELP = (
    "grid (every config), coarse (strided, then refined) or adaptive (a surrogate model proposes each round) "
    "[default: adaptive from 300 allowed configs (a 24-layer triangle) or with --budget, else grid; "
    "grid with --configs or --slice]"
)


def _search(search: str | None, budget: str | None, search_seed: int, metric: str) -> "SearchSpec":
    from ..search.strategies import SearchSpec
    from ..search.timebudget import read_budget

    if budget is not None:
        read_budget(budget)  # a bad value fails before anything starts
    return SearchSpec(strategy=search, budget=budget, seed=search_seed, metric=metric)


SEARCH = family(
    "Search",
    _search,
    option("search", Literal["grid", "coarse", "adaptive"] | None, None, "--search", help=SEARCH_HELP),
    option(
        "budget",
        str | None,
        None,
        "--budget",
        help="What a search measures: N configs, a share of those allowed, or a time (8h, 90m: "
        "counted from the baseline's time, no config started that cannot end in time) [default: 10%].",
    ),
    option("search_seed", int, 0, "--search-seed", min=0, help="Seed of the search's random choices."),
    option(
        "metric",
        Metric,
        "z",
        "--metric",
        "-m",
        help="Rank (and, where a search runs, search) by: z = z(Δmath) + z(Δeq) (the original's balanced score), "
        "sum = Δmath + Δeq, math or eq alone.",
    ),
)


@dataclass(frozen=True, slots=True)
class Workers:
    """How a scan's worker processes run: GPUs, memory budget, cache folder, timeouts, guards."""

    gpus: tuple[int, ...]
    memory: tuple[int, ...] | None
    cache_dir: Path | None
    config_timeout: float | None
    min_parse_rate: float
    early_stop: bool


def _workers(
    gpus: str | None,
    memory: str | None,
    cache_dir: Path | None,
    config_timeout: float | None,
    min_parse_rate: float,
    no_early_stop: bool,
) -> Workers:
    if config_timeout is not None and not (math.isfinite(config_timeout) and config_timeout > 0):
        raise OptionError(f"--config-timeout {config_timeout:g}: expected seconds > 0 (e.g. 600)")
    return Workers(
        parse_ids(gpus, "--gpus"), parse_memory(memory), cache_dir, config_timeout, min_parse_rate, not no_early_stop
    )


WORKERS = family(
    "Workers",
    _workers,
    option("gpus", str | None, None, "--gpus", help="One worker per GPU, e.g. 0,1 (when the model fits on one)."),
    option("memory", str | None, None, "--memory", help=get_args(Memory)[1].help),
    option(
        "cache_dir",
        Path | None,
        None,
        "--cache-dir",
        help="Where per-layer shards go (tmpfs is a good choice); removed at the end.",
    ),
    option(
        "config_timeout",
        float | None,
        None,
        "--config-timeout",
        help="Seconds before a config's worker is killed and recorded as failed.",
    ),
    option(
        "min_parse_rate",
        float,
        0.5,
        "--min-parse-rate",
        min=0.0,
        max=1.0,
        callback=in_range(0, 1, "0.5"),
        help="Stop when the baseline parses fewer answers than this share.",
    ),
    option(
        "no_early_stop",
        bool,
        False,
        "--no-early-stop",
        help="Run every config to the end, even when its first answers are garbage (loops, empty, unparseable).",
    ),
)
