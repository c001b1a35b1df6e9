# Put first on PYTHONPATH for the child processes of tests not marked `llama`.
raise ImportError("llama.cpp is blocked in this test: mark it @pytest.mark.llama if it needs llama.cpp")
