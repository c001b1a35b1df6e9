"""``make demo`` (``python -m rys_gguf.demo``) and the real models it runs on (``models``)."""
