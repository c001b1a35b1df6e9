"""Start-up time of the CLI, measured side by side with a bare Python in one run.

For ``rys-gguf --help`` and ``rys-gguf COMMAND --help`` of every command (parsing the command
line is all a command does before its own work starts), and for a scan refused at once (its option
families built, its model not found), prints the best of --repeat wall times and the ratio to
``python -c 'import json, argparse'`` (goal <= 8). ``--check`` exits 1 when a ratio misses the goal.

    python -m benchmarks.bench_startup [--repeat 15] [--check]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import bytecode_note

GOAL = 8.0


def best_time(cmd: list[str], repeat: int, code: int = 0) -> float:
    """The fastest of ``repeat`` runs: start-up cost without the machine's noise on top."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t)
        if done.returncode != code:
            raise SystemExit(f"{' '.join(cmd)}: exit code {done.returncode}, expected {code}")
    return min(times)


def commands() -> list[str]:
    from rys_gguf.cli.entry import COMMANDS

    return list(COMMANDS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    entry = Path(sys.executable).with_name("rys-gguf")
    cli = [str(entry)] if entry.exists() else [shutil.which("rys-gguf") or "rys-gguf"]
    bare = best_time([sys.executable, "-c", "import json, argparse"], args.repeat)
    label = "python -c 'import json, argparse'"
    print(f"{label:<34} {bare * 1000:7.1f} ms")
    worst = 0.0
    runs = [([*([name] if name else []), "--help"], 0) for name in ["", *commands()]]
    runs.append((["scan", "no-such-model.gguf", "--out", "no-such-sweep"], 2))  # refused after parsing
    for words, code in runs:
        t = best_time([*cli, *words], args.repeat, code)
        worst = max(worst, t / bare)
        print(f"{'rys-gguf ' + ' '.join(words[:3]):<34} {t * 1000:7.1f} ms  {t / bare:5.2f}x")
    print(f"slowest start / bare Python        {worst:7.2f}x  (goal <= {GOAL:g}){bytecode_note()}")
    return 1 if args.check and worst > GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
