"""The convert job: HuggingFace folder -> GGUF -> quantized GGUF -> RYS GGUF.

``hf`` checks a model folder before anything long starts, ``converter`` fetches and runs
llama.cpp's own converter, ``quantize`` reads importance matrices and quantizes, ``pipeline``
chains the three with the RYS build.
"""
