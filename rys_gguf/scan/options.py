"""Everything a sweep can be told, grouped: runtime, probes, grid, search, build rules, workers, memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..builder.layout import BuildOptions
from ..llama.options import RuntimeOptions
from ..probes import ProbeSpec
from ..search.strategies import SearchSpec
from .grid import GridSpec


@dataclass(frozen=True, slots=True)
class ScanOptions:
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    probes: ProbeSpec = field(default_factory=ProbeSpec)
    grid: GridSpec = field(default_factory=GridSpec)
    build: BuildOptions = field(default_factory=BuildOptions)
    search: SearchSpec = field(default_factory=SearchSpec)
    gpus: tuple[int, ...] = ()  # one worker per GPU; () = one worker, devices as llama.cpp sees them
    cache_dir: Path | None = None
    config_timeout: float | None = None
    min_parse_rate: float = 0.5
    early_stop: bool = True  # stop a config whose first answers are garbage (never the baseline)
    worker_cmd: tuple[str, ...] = ()  # () = $RYS_WORKER_CMD, else this Python's rys_gguf.scan.worker
    memory: tuple[int, ...] | None = None  # bytes per device; None: what llama.cpp reports; (): no check
