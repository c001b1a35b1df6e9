"""The sweep folder, the contract between scan, report, merge, validate and eval: ``records``
(sweep.json, results.jsonl, skipped.json, search.json: typed, read and appended), ``checks``
(sweep.json's fields and each results row checked as read: the one gate every reader passes,
pure), ``metric`` (each config's Δ per probe and the ranking metric, pure), ``fingerprint`` (the
model a sweep measured, and the check that the file at its path still is it) and ``merge`` (sweeps of one model
joined into one folder).
"""
