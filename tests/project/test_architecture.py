"""The package's shape: no import cycles (type-only and function-level imports included), rooms
that depend on each other in one direction only, and llama_cpp, numpy and printing where they
belong. The imports are read from the source (ast), not by importing anything."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rys_gguf"
# Rooms, lowest first: a room imports only rooms before it (cli may import everything).
# The package itself (the public API, imported lazily) and its __main__ sit on top, beside cli.
ROOMS = (
    "base", "gguffile", "probes", "llama", "sweepfolder", "search", "builder", "convert", "scan", "report", "prove",
    "ship", "demo", "cli",
)  # fmt: skip
# Module names that mean the same thing in every room that has one; any other name is used once.
SHARED_NAMES = {"__init__", "__main__", "options"}
TOP = ("cli", "api")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every rys_gguf module ``path`` imports, anywhere in the file (TYPE_CHECKING included)."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(source: str, name: str, is_package: bool) -> set[str]:
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rys_gguf")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("rys_gguf"):
                # `from pkg import mod` imports the module when `mod` is one.
                subs = {f"{target}.{a.name}" for a in node.names}
                found |= {s for s in subs if s in MODULES} or {target}
    return {m for m in found if m != name}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {m: imports_of(p) for m, p in MODULES.items()}


def room(module: str) -> str:
    parts = module.split(".")
    if module in ("rys_gguf", "rys_gguf.__main__"):
        return "api"
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS) else "base"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for dep in sorted(GRAPH.get(m, ())):
            if dep not in MODULES:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*stack, dep])
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m, [m])


def test_rooms_depend_downwards_only() -> None:
    rank = {r: k for k, r in enumerate(ROOMS)}
    upward = sorted(
        f"{m} imports {dep}"
        for m, deps in GRAPH.items()
        for dep in deps
        if dep in MODULES and room(m) not in TOP and rank[room(dep)] > rank[room(m)]
    )
    assert upward == []


def test_report_and_search_do_not_import_the_scan() -> None:
    """The sweep folder and the metric live below the scan, so the report reads them directly;
    the search is pure and knows nothing of how configs get measured."""
    found = sorted(
        f"{m} imports {dep}"
        for m, deps in GRAPH.items()
        if room(m) in ("report", "search", "sweepfolder")
        for dep in deps
        if room(dep) == "scan"
    )
    assert found == []


def test_module_names_mean_one_thing() -> None:
    """A module name appears in one room only, except the shared ones and the command modules of
    the cli, each named after the room whose commands it declares."""
    by_name: dict[str, list[str]] = {}
    for m in MODULES:
        name = m.rsplit(".", 1)[-1] if m != "rys_gguf" else "__init__"
        if MODULES[m].name == "__init__.py":
            continue
        by_name.setdefault(name, []).append(m)
    clashes = {
        name: sorted(ms)
        for name, ms in by_name.items()
        if len(ms) > 1
        and name not in SHARED_NAMES
        and not all(room(m) == "cli" or m == f"rys_gguf.{name}" or room(m) == name for m in ms)
    }
    assert clashes == {}


def test_every_module_is_named_in_its_rooms_map() -> None:
    """A room's __init__ docstring is its map: it names every module of the room."""
    missing = []
    for m, path in MODULES.items():
        if path.name == "__init__.py" or room(m) in ("base", "api"):
            continue
        init = PACKAGE / room(m) / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        name = m.rsplit(".", 1)[-1]
        if f"``{name}``" not in doc:
            missing.append(m)
    assert missing == []


def test_the_walker_sees_type_only_and_local_imports() -> None:
    source = """
from typing import TYPE_CHECKING
from .options import ScanOptions
if TYPE_CHECKING:
    from ..report.ranking import ReportSummary
def f():
    from ..builder import job
    import rys_gguf.llama.engine
"""
    found = imports_in(source, "rys_gguf.scan.pool", is_package=False)
    assert found == {
        "rys_gguf.scan.options",
        "rys_gguf.report.ranking",
        "rys_gguf.builder.job",
        "rys_gguf.llama.engine",
    }


def test_llama_cpp_is_imported_only_in_the_llama_room() -> None:
    outside = []
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        if any(x == "llama_cpp" or x.startswith("llama_cpp.") for x in names) and room(m) != "llama":
            outside.append(m)
    assert outside == []


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        (
            "rys_gguf.cli",
            ("numpy", "llama_cpp", "tqdm", "matplotlib", "jinja2", "torch", "rys_gguf.gguffile.reader", "rich"),
        ),
        ("rys_gguf.builder.job", ("numpy", "llama_cpp", "tqdm", "matplotlib", "jinja2", "torch")),
        ("rys_gguf.scan.sweep", ("numpy", "llama_cpp", "tqdm", "matplotlib", "jinja2", "torch")),
        ("rys_gguf.report.write", ("numpy", "llama_cpp", "matplotlib", "torch")),
        ("rys_gguf", ("numpy", "typer", "rys_gguf.cli")),
    ],
)
@pytest.mark.procs
def test_heavy_modules_load_only_when_needed(module: str, absent: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(' '.join(m for m in {absent!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loads {out.stdout.strip()}"
