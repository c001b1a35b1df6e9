"""The GGUF format: its spec as data (``spec``), a lazy bounds-checked reader (``reader``), a
streaming writer (``writer``), gguf-split shards (``split``) and synthetic llama models written
with them (``synthetic``: the CPU repacking check, benchmarks, the GPU check).
"""
