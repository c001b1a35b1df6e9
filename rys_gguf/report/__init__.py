"""The report job: rank a sweep and show it.

``ranking`` scores configs against the baseline (pure), ``tables`` renders the terminal table,
CSV, JSON and Markdown, ``cells`` places configs on the heatmap that ``terminal`` and ``png``
draw, ``write`` writes the report files into the sweep folder.
"""
