"""The scan job: sweep layer configs of a model and keep every result.

``grid`` picks the configs, ``layercache`` assembles each from per-layer shards, ``pool`` runs
one ``worker`` process per config and writes results, ``sweepdir`` is the folder format,
``shard`` splits a grid across machines, ``sweep`` ties them together in `run_scan`.
"""
