from rys_gguf.cli import main

main()
