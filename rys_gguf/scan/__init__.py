"""The scan job: measure layer configs of a model and keep every result.

``grid`` picks the configs (``slices`` cuts a grid across machines), ``memoryplan`` skips those
that cannot fit, ``layercache`` assembles each from per-layer shards, ``pool`` runs one
``worker`` process per config and writes results, ``search_rounds`` runs a search's rounds
through the pool, ``sweep`` ties them together in `run_scan` (options in ``options``), and
``stack`` measures multi-block configs seeded by a sweep's best blocks.
"""
