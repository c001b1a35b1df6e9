from rys_gguf.cli import run

run()
