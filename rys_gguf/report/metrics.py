"""What a sweep is ranked by: the metric names and how the report labels them."""

from __future__ import annotations

METRICS = ("z", "sum", "math", "eq")
METRIC_LABELS = {
    "z": "balanced z (z Δmath + z Δeq)",
    "sum": "Δ sum (Δmath + Δeq) vs baseline",
    "math": "Δ math score vs baseline",
    "eq": "Δ EQ score vs baseline",
}
