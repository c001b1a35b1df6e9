"""The bad-input corpus by kind: every kind of input that once gave a traceback or a silently wrong
answer has cases, in the corpus file that runs them.

1. lm-eval task shapes (filters, rolling log-likelihood, groups, broken YAML): test_inputs_eval
2. a baseline that failed once (killed, timed out) and timeouts that cause it: test_inputs_sweeps2
3. a sweep's model file replaced or gone (validate, eval --sweep, stack): test_inputs_sweeps2
4. metadata that claims more than the weights hold (convert, build): test_inputs_jobs
5. hand-edited sweep folders (sweep.json fields, results.jsonl rows): test_inputs_sweeps
6. text that is not UTF-8, option values out of range: test_inputs_jobs
7. one config spelled several ways: test_inputs_sweeps2
8. ranking by a probe the sweep did not run, stack's penalty and gain: test_inputs_sweeps2
9. messages (temporaries named, OS errors without a fix, empty folders left): test_inputs_jobs
"""

from __future__ import annotations

import importlib
from typing import Any

CORPORA = {
    "test_inputs_eval": {1},
    "test_inputs_sweeps2": {2, 3, 7, 8},
    "test_inputs_jobs": {4, 6, 9},
    "test_inputs_sweeps": {5},
}


def _kinds(name: str) -> dict[int, Any]:
    return dict(importlib.import_module(name).KINDS)  # pytest puts this folder on the path


def test_every_kind_has_cases_in_its_corpus() -> None:
    seen: set[int] = set()
    for name, expected in CORPORA.items():
        kinds = _kinds(name)
        assert set(kinds) == expected, name
        assert all(kinds[k] for k in kinds), f"{name}: a kind without cases"
        seen |= expected
    assert seen == set(range(1, 10))
