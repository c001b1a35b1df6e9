"""Early stop on the real Gemma 3 270M: time saved, measured side by side in one run.

1. Real configs: a few configs that answer garbage and a few that answer, each scanned twice
   (math probe, as the recorded sweep) with early stop off and on. Prints each config's probe
   time both ways, what the watch saw, and fits probe time = prefill + per-round cost x rounds.
2. A whole recorded sweep (``--answers DIR``: a sweep folder that kept its answers): the watch is
   shown each config's recorded answers as the decode loop would (every 8 tokens, token counts from
   the model's tokenizer), which configs it stops and after how many tokens; the time saved is the
   fitted per-round cost times the rounds not decoded, against the sweep's recorded probe time.

    python -m benchmarks.bench_earlystop [--answers /path/to/recorded/sweep]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rys_gguf.builder.layout import BuildOptions
from rys_gguf.demo.fetch import fetch_gemma
from rys_gguf.llama.engine import WATCH_EVERY
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.llama.runner import open_model
from rys_gguf.probes import ProbeSpec, load_probe_set
from rys_gguf.probes.earlystop import GarbageWatch
from rys_gguf.scan.grid import GridSpec
from rys_gguf.scan.options import ScanOptions
from rys_gguf.scan.sweep import run_scan
from rys_gguf.sweepfolder.records import RESULTS_FILE, read_rows

GARBAGE = ("0,2", "1,3", "7,9", "16,18")  # parse rate 0 in the recorded sweep
ANSWERING = ("8,9", "12,13")
PROBES = ProbeSpec(math="search", eq="none")


def real_runs(model: Path, tmp: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Each config scanned with early stop off, then on, config by config (so load changes on a
    shared machine hit both alike): {config: {"off"/"on": row}}."""
    base = ScanOptions(
        runtime=RuntimeOptions(n_threads=2), probes=PROBES, build=BuildOptions(write_swa_pattern=True),
    )  # fmt: skip
    out: dict[str, dict[str, dict[str, object]]] = {}
    for config in GARBAGE + ANSWERING:
        for label, early in (("off", False), ("on", True)):
            run_scan(model, tmp / label, replace(base, early_stop=early, grid=GridSpec(configs=(config,))))
            row = next(r for r in read_rows(tmp / label / RESULTS_FILE) if r["config"] == config)
            out.setdefault(config, {})[label] = dict(row)
    return out


def rounds_of(row: dict[str, Any], tokenize: Callable[[str], Sequence[int]]) -> int:
    """Decode rounds a config ran: the stop point, or its longest answer in tokens."""
    stopped = row.get("early_stop")
    if isinstance(stopped, dict):
        return int(stopped["after_tokens"])
    return max(len(tokenize(a)) for a in row["answers"] or [""])


def fit_cost(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares: probe_s = a + b x rounds."""
    n = len(points)
    mx = sum(r for r, _ in points) / n
    my = sum(t for _, t in points) / n
    b = sum((r - mx) * (t - my) for r, t in points) / max(1e-9, sum((r - mx) ** 2 for r, _ in points))
    return my - b * mx, b


def simulate(answers: list[str], tokens: list[int], limit: int) -> int | None:
    """The token count at which the watch would stop a config with these answers, or None."""
    watch = GarbageWatch(load_probe_set(**asdict(PROBES)))
    longest = max(min(n, limit) for n in tokens)
    for t in range(WATCH_EVERY, longest + WATCH_EVERY, WATCH_EVERY):
        partials = [
            (a[: round(len(a) * min(1.0, t / max(n, 1)))], t >= n or t >= limit)
            for a, n in zip(answers, tokens, strict=True)
        ]
        if watch(partials, t):
            return t
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=Path, help="a recorded sweep folder that kept its answers")
    args = parser.parse_args()
    model = fetch_gemma()
    with tempfile.TemporaryDirectory() as tmp, open_model(model, RuntimeOptions(n_threads=2), 1) as lm:

        def tokenize(text: str) -> list[int]:
            return lm.tokenize(text)[1:]  # without the BOS

        runs = real_runs(model, Path(tmp))
        print(f"{'config':<8} {'off: probe s':>12} {'on: probe s':>12} {'saved':>7}  early stop")
        points, saved_total, full_total = [], 0.0, 0.0
        for config, both in runs.items():
            off, on = both["off"], both["on"]
            t_off, t_on = float(off["timings"]["probe_s"]), float(on["timings"]["probe_s"])  # type: ignore[index]
            points += [(rounds_of(off, tokenize), t_off), (rounds_of(on, tokenize), t_on)]
            saved_total += t_off - t_on
            full_total += t_off
            what = on.get("reason") if on["status"] == "early-stopped" else f"not stopped ({on['status']})"
            print(f"{config:<8} {t_off:>12.2f} {t_on:>12.2f} {t_off - t_on:>+7.2f}  {what}")
        a, b = fit_cost(points)
        share = saved_total / full_total
        print(f"these {len(runs)} configs: {saved_total:.1f} s of {full_total:.1f} s saved ({share:.0%})")
        print(f"fit: probe time = {a:.2f} s + {b:.3f} s per decode round")
        if args.answers is None:
            return 0
        rows = [r for r in read_rows(args.answers / RESULTS_FILE) if r.get("answers") and r["config"] != "0,0"]
        meta = json.loads((args.answers / "sweep.json").read_text())
        if meta.get("probe_set", {}).get("hash") != load_probe_set(**asdict(PROBES)).hash:
            sys.exit(f"{args.answers}: not a math-only search16 sweep; the simulation replays that probe set")
        limit = load_probe_set(**asdict(PROBES)).items[0].max_tokens
        stopped, saved, total = 0, 0.0, 0.0
        for row in rows:
            answers = list(row["answers"] or [])
            tokens = [len(tokenize(x)) for x in answers]
            total += float(row["timings"]["probe_s"])
            at = simulate(answers, tokens, limit)
            if at is not None:
                stopped += 1
                saved += b * max(0, max(min(n, limit) for n in tokens) - at)
        print(
            f"recorded sweep {args.answers.name}: {stopped} of {len(rows)} configs early-stopped; "
            f"{saved:.0f} s of {total:.0f} s probe time saved ({saved / total:.0%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
