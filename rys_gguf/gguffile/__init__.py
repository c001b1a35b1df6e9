"""The GGUF format: its spec as data (``spec``), a lazy bounds-checked reader (``reader``), a
streaming writer (``writer``) and gguf-split shards (``split``).
"""
