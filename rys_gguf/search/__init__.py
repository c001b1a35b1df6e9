"""Which configs a scan measures when it does not measure them all: ``strategies`` (grid, random,
coarse, adaptive, replayed in rounds from the results so far) and ``surrogate`` (the adaptive
search's Gaussian process). Pure: nothing here reads a file or imports the scan.
"""
