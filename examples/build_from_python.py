"""Build an RYS model from Python and read back what was done.

python examples/build_from_python.py MODEL.gguf OUT.gguf [CONFIG]
"""

import sys

from rys_gguf import BuildOptions, build, describe_model

src, dst = sys.argv[1], sys.argv[2]
config = sys.argv[3] if len(sys.argv) > 3 else "2,4"
result = build(src, dst, config, BuildOptions(force=True))
print(f"{result.paths[0]}: {result.n_layers_in} -> {result.n_layers_out} layers in {result.seconds:.2f} s")
info = describe_model(dst)
print("layer path:", info["layer_path"])
print("rules:", info["constraints"])
