"""Shared fixtures (the real Gemma 270M model, the stand-in worker) and the markers' guards.

Markers say what a test needs beyond this repository: ``llama`` (llama.cpp, in this process or
in the scan's workers), ``network`` (PyPI: a real model or llama-cpp-python's source), ``slow``
(a real model) and ``procs`` (child processes: scan workers, the CLI or Python run as a command,
the library's own children). Tests that use the ``gemma_path``, ``smollm2_path``,
``converter_cache`` or ``fake_worker`` fixtures are marked here. The guards keep the marks
honest: a test without ``llama`` cannot import llama.cpp (nor can its child processes), one
without ``network`` cannot open a socket or reach PyPI, and one without ``procs`` cannot start a
process. ``make test-fast`` runs the tests that need none of them.

Two children the library starts on its own are answered in place for a test without ``procs``,
as the library answers itself when a child cannot run: the CPU-repack check behind ``auto``
(``rys_gguf.llama.cpu_repack``: the verdict cached on disk, if any, else "could not tell", so
repacking off and no note; no verdict is remembered for later tests), and on a GPU build the
survey of free GPU memory behind the default memory budget (no budget, as on a CPU build).
"""

from __future__ import annotations

import _posixsubprocess
import os
import socket
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from helpers.sweeps import FAKE_WORKER, worker_command

from rys_gguf.convert.converter import fetch_converter
from rys_gguf.demo.fetch import fetch_gemma, fetch_smollm2
from rys_gguf.llama import budget, cpu_repack
from rys_gguf.llama.survey import Survey
from rys_gguf.scan.pool import WORKER_ENV

BLOCKED = Path(__file__).parent / "helpers" / "blocked"
LLAMA_MODULES = ("llama_cpp", "rys_gguf.llama.engine", "rys_gguf.llama.logs", "rys_gguf.llama.model_quantize")
NEEDS = {
    "gemma_path": ("slow", "network", "llama", "procs"),  # fetched with pip
    "smollm2_path": ("slow", "network", "llama", "procs"),
    "converter_cache": ("network", "llama", "procs"),
    "fake_worker": ("procs",),
}
# Every way this process can start another: subprocess (fork_exec or posix_spawn), multiprocessing
# (fork, or fork_exec for spawn and forkserver), os.system, pty.
SPAWNERS = (
    (subprocess.Popen, "_execute_child", "subprocess"),
    (_posixsubprocess, "fork_exec", "multiprocessing"),
    *(
        (os, name, f"os.{name}")
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")
        if hasattr(os, name)
    ),
)
PROCS_HINT = "this test starts a process: mark it @pytest.mark.procs (make test-fast runs in process only)"
FAILED = pytest.StashKey[bool]()  # the setup or the call failed (a refusal there is already reported)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


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
    started: list[str] = []
    if request.node.get_closest_marker("procs") is None:

        def no_check(*_: object) -> tuple[bool | None, str]:
            return None, "the repacking check was not run (a test without procs); repacking stays off"

        def no_survey(*_: object, **__: object) -> Survey:
            return Survey(error="llama.cpp was not asked (a test without procs)")

        monkeypatch.setattr(cpu_repack, "probe", no_check)
        monkeypatch.setattr(cpu_repack, "_resolved", {})
        monkeypatch.setattr(budget, "survey", no_survey)
        for owner, name, label in SPAWNERS:
            monkeypatch.setattr(owner, name, _refuse_process(started, label))
    yield
    if started and not request.node.stash.get(FAILED, False):  # the refusal was swallowed
        pytest.fail(f"{started[0]}: {PROCS_HINT}", pytrace=False)


def _refuse_process(started: list[str], what: str) -> object:
    def refuse(*_: object, **__: object) -> None:
        started.append(what)
        pytest.fail(f"{what}: {PROCS_HINT}")

    return refuse


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
