"""Read a sweep's results: rank by math gain, and show where the gains are.

python examples/read_sweep.py SWEEP_DIR
"""

import sys

from rys_gguf import ReportOptions, write_report

summary = write_report(sys.argv[1], ReportOptions(metric="math", png=False))
base = summary.baseline
print(f"{summary.model_name}: baseline math {base.math:.3f}, {len(summary.ranked)} configs scored")
for s in summary.ranked[:3]:
    print(f"  {s.config:>8}  Δmath {s.d_math:+.3f}  ({s.n_extra:+d} layers)")
print(f"failed: {len(summary.failed)}, early-stopped: {len(summary.early_stopped)}, skipped: {len(summary.skipped)}")
