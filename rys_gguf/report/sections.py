"""report.md sections beyond the ranking: early-stopped configs, the search's picks, the Pareto
frontier of gain against added layers, and layer lists for runtimes that take one (exllamav3's
``layer_map``: a list of source layers, each repeat with its own cache). Pure text."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import PlanError
from ..plan import parse_plan
from ..sweepfolder.metric import METRIC_LABELS
from ..untrusted import safe_code, safe_markdown
from .pareto import FrontierPoint
from .ranking import ReportSummary


def layer_list(config: str, n_layers: int) -> list[int] | None:
    """The source layer of every position (exllamav3's ``layer_map``), or None for a bad spec."""
    try:
        return list(parse_plan(config, n_layers).path)
    except PlanError:
        return None


def layer_map_comment(config: str, n_layers: int) -> str:
    """``# layer_map (exllamav3): [...]`` for a build block."""
    path = layer_list(config, n_layers)
    return "" if path is None else f"# layer_map (exllamav3): {path}"


def early_stopped_markdown(summary: ReportSummary) -> str:
    """The "Early-stopped" section: configs cut short because their first answers were garbage."""
    rows = summary.early_stopped
    out = [
        f"## Early-stopped ({len(rows)})\n\nTheir first answers were all garbage (empty, repetition loops or "
        "unparseable), so generation stopped there; they have no score (not a zero) and are drawn apart on "
        "the heatmaps. Rerun the scan with `--no-early-stop` to score them anyway.\n",
        "| config | what was seen |",
        "|---|---|",
    ]
    out += [f"| {safe_code(s.config)} | {safe_markdown(s.reason)} |" for s in rows]
    return "\n".join(out)


def search_markdown(summary: ReportSummary, top: int) -> str:
    """The "Search" section: what the search measured and its picks by its own estimate."""
    view = summary.search
    if view is None:
        return ""
    n_predicted = view.n_universe - len(view.measured)
    out = [
        f"## Search\n\nSearch: {safe_markdown(view.label)}. The heatmaps draw the {len(view.measured)} "
        f"measured cells in full colour and the {n_predicted} others as the search's model predicts them "
        "(faded, with a dot). "
        "The picks below are ranked by the search's estimate (for `adaptive`: each measurement moved half way "
        "to the model's denoised value, so a lone lucky cell among poor neighbours drops); `rys-gguf validate` "
        "re-scores them in this order.\n",
        f"| pick | config | estimate ({summary.metric}) | measured rank |",
        "|---|---|---|---|",
    ]
    rank = {s.config: s.rank for s in summary.ranked}
    out += [
        f"| {k} | {safe_code(c)} | {v:+.3f} | {rank.get(c, '—')} |"
        for k, (c, v) in enumerate(view.picks[:top], start=1)
    ]
    return "\n".join(out)


def pareto_markdown(front: Sequence[FrontierPoint], summary: ReportSummary, image: str | None) -> str:
    """The "Pareto frontier" section: the configs no other beats with as few added layers."""
    label = METRIC_LABELS[summary.metric]
    out = [
        "## Pareto frontier: gain against added layers\n\n"
        f"Gain = {label} minus the baseline's. Each row gains more than every config with fewer or as many "
        "added layers; everything else costs more VRAM for less.\n"
    ]
    if image:
        out.append(f"![pareto]({image})\n")
    out += [
        "| added layers | overhead | config | gain | Δ math | Δ EQ |",
        "|---|---|---|---|---|---|",
    ]
    for p in front:
        s = p.score
        overhead = f"{100 * p.n_extra / summary.n_layers:+.1f} %"
        d_math = "n/a" if s.d_math is None else f"{s.d_math:+.3f}"
        d_eq = "n/a" if s.d_eq is None else f"{s.d_eq:+.3f}"
        name = "baseline" if s.baseline else safe_code(p.config)
        out.append(f"| {p.n_extra} | {overhead} | {name} | {p.gain:+.3f} | {d_math} | {d_eq} |")
    if len(front) == 1:
        out.append("\nNo config beats the baseline: the frontier is the unchanged model alone.")
    return "\n".join(out)
