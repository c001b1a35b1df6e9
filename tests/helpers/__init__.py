"""Helpers shared by the tests: tiny oracle models, HF folders, hand-made and broken GGUF bytes,
sweep helpers (fast options, a stand-in worker, readers of results.jsonl), marks for tests that
need an optional extra."""
