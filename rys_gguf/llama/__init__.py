"""llama.cpp through llama-cpp-python: the only room that imports ``llama_cpp``.

``options`` and ``batching`` are pure and import nothing native; ``model`` opens a model and
loads the native library only then (``engine``); ``chat`` renders prompts; ``logs`` owns
llama.cpp's process-wide log; ``quantize`` calls llama_model_quantize.
"""
