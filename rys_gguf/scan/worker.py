"""One config in its own process: load the model, run every probe batched, score, report.

Run as ``python -m rys_gguf.scan.worker JOB.json RESULT.json``. With ``early_stop`` in the job, a
config whose first answers are garbage stops generating there (``probes.earlystop``) and reports
what was seen instead of scores. A crash in llama.cpp (abort, segfault, out of memory) kills only
this process; the scan records the config as failed and goes on. The result is written
atomically, so a half-written result never looks finished.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import RysError, ScanError
from ..files import write_atomic
from ..llama.options import RuntimeOptions
from ..llama.runner import open_model
from ..probes import load_probe_set
from ..probes.earlystop import GarbageWatch


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Load ``job['model']``, generate every probe answer in one batch and score them."""
    options = RuntimeOptions(**job["runtime"])  # accepts the JSON list form of tensor_split
    probes = load_probe_set(**job["probes"])
    if probes.hash != job["probe_set_hash"]:
        raise ScanError("the probe set changed while the sweep ran (its hash differs); rerun the scan")
    items = probes.items
    start = time.monotonic()
    watch = GarbageWatch(probes) if job.get("early_stop") else None
    with open_model(job["model"], options, n_seq_max=len(items)) as model:
        loaded = time.monotonic()
        prompts = [model.render(item.system, item.user) for item in items]
        answers = model.generate(prompts, [item.max_tokens for item in items], watch=watch)
    done = time.monotonic()
    timings = {"load_s": round(loaded - start, 3), "probe_s": round(done - loaded, 3)}
    if watch is not None and watch.stopped:  # garbage from the first answers: not scored
        stopped = {"reason": watch.summary(), "seen": dict(watch.seen), "after_tokens": watch.n_tokens}
        return {"early_stopped": stopped, "answers": answers, "timings": timings}
    scores = probes.score(answers)
    return {
        "math": scores.math if probes.description["n_math"] else None,
        "eq": scores.eq if probes.description["n_eq"] else None,
        "math_parse_rate": scores.math_parse_rate,
        "eq_parse_rate": scores.eq_parse_rate,
        "items": scores.items,
        "answers": answers,
        "timings": timings,
    }


def main(argv: list[str] | None = None) -> int:
    job_path, result_path = (argv or sys.argv[1:])[:2]
    job = json.loads(Path(job_path).read_text())
    try:
        result: dict[str, Any] = {"ok": True, **run_job(job)}
    except RysError as e:
        result = {"ok": False, "reason": str(e)}
    write_atomic(Path(result_path), json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
