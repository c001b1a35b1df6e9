"""llama.cpp through llama-cpp-python: the only room that imports ``llama_cpp``.

``options`` (runtime options) and ``batching`` (which prompts decode together) are pure;
``runner`` opens a model and loads the native library only then (``engine``: the multi-sequence
decode loop); ``chat`` renders prompts with the GGUF's template; ``logs`` owns llama.cpp's
process-wide log; ``memory`` is the memory planner (pure) and ``budget`` checks a load against
the memory there is; ``survey`` asks a child process about GPUs and prompt lengths;
``cpu_repack`` decides whether CPU weights may be repacked (asking ``repack_check``, a child);
``model_quantize`` calls llama_model_quantize.
"""
