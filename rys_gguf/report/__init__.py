"""The report job: rank a sweep and show it.

``ranking`` scores configs against the baseline (pure), ``tables`` renders the terminal table,
CSV, JSON and Markdown, ``cells`` places configs on the heatmap that ``terminal`` and ``png``
draw, ``searchview`` shows a search's measured and predicted cells, ``pareto`` finds the
frontier of gain against added layers, ``sections`` writes report.md's other sections, ``write``
writes the report files into the sweep folder, ``replay`` benchmarks the search strategies on a
recorded sweep.
"""
