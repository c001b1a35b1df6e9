"""The benchmarks, run from the repository root as ``python -m benchmarks.NAME`` (``make bench``
runs the bench_* ones; ``make gpu-bundle`` / ``gpu-check`` the GPU pair). Each measures ours side
by side with a baseline in one run, and prints its goals. ``bench_startup``: CLI start-up against
a bare Python; ``bench_build``: build speed and memory on Gemma 270M against ``cp`` and gguf-py;
``bench_generate``: batched against sequential generation; ``bench_scan``: the per-config cost
of a scan against the peers' rewrite-and-complete; ``bench_scale``: how build and config costs
grow with the model, and ``scale_costs``, the arithmetic of the README's scan-duration table;
``bench_search``: the search strategies replayed on recorded sweeps (``data/sweeps/``, written by
``record_sweep``) and on synthetic ones (``landscapes``, which the tests use too);
``bench_earlystop``: the time early stop saves; ``bench_repack``: prompt tokens/s with and without
llama.cpp's CPU weight repacking; ``gpu_bundle`` packs what ``gpu_check`` needs to
build llama.cpp with CUDA on a machine without network, and ``gpu_check`` builds it there and runs
``gpu_measure``'s checks in a child. ``harness`` holds what several of them share.
"""
