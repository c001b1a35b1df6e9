"""The build job: GGUF -> RYS GGUF.

``model`` reads what a file says about its layers, ``layout`` maps a plan onto the output
(pure), ``job`` checks and writes it, ``inspect`` describes a model.
"""
