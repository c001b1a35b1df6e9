"""The ship job: take an RYS model to where people chat with it, and check it first.

``verify`` compares an RYS model with its source (bytes and llama.cpp's view), ``ollama`` writes
a Modelfile (values quoted by ``modelfile``, Go chat templates from ``templates``), ``lmstudio``
places the files in LM Studio's models folder.
"""
