"""The convert job: HuggingFace folder -> GGUF -> quantized GGUF -> RYS GGUF.

``hf`` checks a model folder before anything long starts, ``consent`` refuses a folder's Python
code and pickled weights unless allowed, ``converter`` fetches and runs llama.cpp's own converter,
``types`` lists output and quantization types, ``quantize`` reads importance matrices and
quantizes, ``pipeline`` chains the steps with the RYS build.
"""
