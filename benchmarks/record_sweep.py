"""Copy a recorded sweep folder into benchmarks/data/sweeps/ as compact benchmark data.

Keeps sweep.json, skipped.json and one results row per config with its scores, parse rates, per-item
scores and timings; drops the answers (most of a row's bytes) and what sweep.json already says. With
``--max-block S`` only the configs of block size <= S are kept, so a sweep still being recorded
(ordered by block size) gives a complete sub-grid. The model path is reduced to its file name.

    python -m benchmarks.record_sweep /path/to/sweep NAME [--max-block S]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rys_gguf.report.replay import load_recorded
from rys_gguf.sweepfolder.records import RESULTS_FILE, SKIPPED_FILE, SWEEP_FILE, read_rows

DATA = Path(__file__).parent / "data" / "sweeps"
KEEP = (
    "config", "block", "status", "reason", "n_layers", "n_extra", "math", "eq", "math_parse_rate",
    "eq_parse_rate", "items", "timings", "model_fingerprint", "probe_set_hash", "tool_version", "finished",
)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("name")
    parser.add_argument("--max-block", type=int)
    args = parser.parse_args()
    rows = read_rows(args.source / RESULTS_FILE)
    if args.max_block is not None:
        rows = [r for r in rows if r["config"] == "0,0" or (r.get("n_extra") or 0) <= args.max_block]
    out = DATA / args.name
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((args.source / SWEEP_FILE).read_text())
    meta["model"]["path"] = Path(meta["model"]["path"]).name
    (out / SWEEP_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (out / SKIPPED_FILE).write_text((args.source / SKIPPED_FILE).read_text())
    text = "".join(json.dumps({k: r[k] for k in KEEP if k in r}) + "\n" for r in rows)  # type: ignore[literal-required]
    (out / RESULTS_FILE).write_text(text)
    sweep = load_recorded(out)  # refuses an incomplete grid
    print(f"{out}: {len(sweep.universe)} configs, {len(text) / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
