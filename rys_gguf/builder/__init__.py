"""The build job: GGUF -> RYS GGUF.

``source`` reads what a file says about its layers (count, RYS constraints, recorded provenance),
``layout`` maps a plan onto the output (pure), ``job`` checks everything and writes it, ``inspect``
describes a model.
"""
