"""The sweep folder, the contract between scan, report, merge, validate and eval: ``records``
(sweep.json, results.jsonl, skipped.json, search.json: typed, read and appended), ``metric``
(each config's Δ per probe and the ranking metric, pure) and ``merge`` (sweeps of one model
joined into one folder).
"""
