"""Which configs a scan measures when it does not measure them all: ``strategies`` (grid, random,
coarse, adaptive, replayed in rounds from the results so far), ``surrogate`` (the adaptive
search's Gaussian process) and ``timebudget`` (a budget given in time, counted in configs). Pure:
nothing here reads a file or imports the scan.
"""
